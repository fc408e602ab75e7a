"""The job types Jobtower ships: the demo catalogue and ``noop`` for benchmarks and tests."""
