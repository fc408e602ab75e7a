"""Garbage-collector settings for long-lived service processes (the API and the workers)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Objects allocated between two young-generation collections (CPython's default is 700).
YOUNG_THRESHOLD = 10_000


def tune_garbage_collector() -> None:
    """Call once a process has started: what exists then lives as long as the process.

    It is frozen out of collections, and young collections run less often. With
    CPython's defaults the collector re-walks that state dozens of times a second:
    an API process keeps every subscriber's state alive and each event it fans out
    allocates per subscriber (``bench.subscribers`` at 500 subscribers: about 230 us
    of CPU per message delivered with the defaults, 130 with this); a worker
    allocates per record (``bench.throughput``: its workers' CPU per record about
    10% less).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 10, 10)


# While held, the older generations wait for this many young passes: as good as never.
_HELD = 1_000_000
# A full pass runs at the latest when held waits have put off this many middle ones.
MOST_PUT_OFF_MIDDLE_PASSES = 100


class OlderGenerations:
    """Holds the collector's older generations while heavy answers are being made.

    A heavy answer is hundreds of thousands of live objects for a second or more, and a pass
    over the older generations walks every one of them: 50 to 150 ms in which the event loop,
    and every other client of the process, waits (``bench.probe_under_attack``). Held, only
    young passes run (what they walk is bounded by the young threshold); when the last holder
    lets go, what the answer left is gone and the middle pass that was due runs over what
    remains. Full passes keep CPython's own rule, but wait for a pause in heavy answers, at
    most ``MOST_PUT_OFF_MIDDLE_PASSES`` of them.
    """

    def __init__(self) -> None:
        self._holders = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        if self._holders == 0:
            _, middle, full = gc.get_threshold()
            self._thresholds = (middle, full)
            gc.set_threshold(gc.get_threshold()[0], _HELD, _HELD)
        self._holders += 1
        try:
            yield
        finally:
            self._holders -= 1
            if self._holders == 0:
                self._let_go()

    def _let_go(self) -> None:
        middle, full = self._thresholds
        gc.set_threshold(gc.get_threshold()[0], middle, full)
        _, middle_count, full_count = gc.get_count()
        if full_count > MOST_PUT_OFF_MIDDLE_PASSES:
            gc.collect()
        elif middle_count > middle:
            gc.collect(1)


older_generations = OlderGenerations()
