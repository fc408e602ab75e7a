"""The job types a fresh Jobtower offers: importing this module registers them."""

from jobtower.job_types import noop  # noqa: F401
