"""The trace a job belongs to, kept with it so that its work, in whichever process, joins that trace.

A job is admitted inside some traced operation (the API's ``startJob``, a record's step that
spawns a child): the job keeps that operation's trace context, as the installed capture gives
it (W3C ``traceparent`` and ``tracestate``), and the workers that enumerate it and run its
chunks continue from it. The domain stores it and hands it back; it reads nothing in it. A
process that installs no capture (tracing is off) stores nothing, and the job's work, when
traced, starts traces of its own.
"""

from __future__ import annotations

from collections.abc import Callable

# The current trace context as text fields, or an empty mapping when no trace is being recorded.
Capture = Callable[[], dict[str, str]]

_capture: Capture | None = None


def capture_with(capture: Capture | None) -> Capture | None:
    """Install ``capture`` (None: keep nothing); the one it replaces."""
    global _capture
    previous, _capture = _capture, capture
    return previous


def current() -> dict[str, str] | None:
    """What a job admitted now keeps: the current trace context, or None."""
    if _capture is None:
        return None
    return _capture() or None
