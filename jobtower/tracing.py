"""Optional OpenTelemetry tracing: one trace per job, from ``startJob`` to the runs of its chunks.

Off by default. ``JOBTOWER_TRACING=1`` turns it on in a process (API, worker, dispatcher) that
has the ``tracing`` extra installed (``pip install 'jobtower[tracing]'``); a process asked to
trace without it refuses to start. Spans go by OTLP over HTTP where the standard settings say:
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``…_TRACES_ENDPOINT``), ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_SCHEDULE_DELAY``…; ``OTEL_SERVICE_NAME`` replaces
``jobtower-api`` / ``jobtower-worker``. This is the one module that imports OpenTelemetry:
with tracing off, or without the extra, every span here does nothing.

The API times each query and mutation in a span named by its type and root fields
(``mutation startJob``; ``gql.timing``), continuing the caller's ``traceparent`` if it sent
one. A job admitted under a span keeps its W3C trace context (``domain.trace_context``, stored
with the job), so the worker spans of its enumeration and of each run of one of its chunks,
in whatever process, are its children, in the same trace. A chunk's span says how many records
it wrote with each outcome and how the run ended, with one event per failed record for as many
as the job log gets a line each; records get no span of their own, which would cost more than
many of them take to run. A child job spawned by a record's step joins its parent's trace.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Protocol

from domain import trace_context
from jobtower.settings import Settings

try:
    from opentelemetry import propagate
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import Tracer, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
except ImportError:  # the tracing extra is not installed: tracing stays off
    propagate = None

log = logging.getLogger(__name__)

Attributes = Mapping[str, str | int | float | bool]

# The attributes of the workers' spans.
JOB_ID = "jobtower.job.id"
JOB_TYPE = "jobtower.job.type"
CHUNK_INDEX = "jobtower.chunk.index"
# How the enumeration or the chunk's run ended, and how many records it enumerated or ran.
OUTCOME = "jobtower.outcome"
RECORDS = "jobtower.records"
# A chunk run's records written with each outcome: jobtower.records.succeeded, ….failed, …
RECORDS_WITH = "jobtower.records.{}"


class Span(Protocol):
    """What Jobtower does with a span (OpenTelemetry's, or one that does nothing)."""

    def set_attribute(self, key: str, value: Any) -> None: ...

    def add_event(self, name: str, attributes: Attributes | None = None) -> None: ...


class _Unrecorded:
    def set_attribute(self, key: str, value: Any) -> None:
        pass

    def add_event(self, name: str, attributes: Attributes | None = None) -> None:
        pass


UNRECORDED = _Unrecorded()

_tracer: Tracer | None = None


@asynccontextmanager
async def tracing(settings: Settings, process: str) -> AsyncIterator[None]:
    """Traces this process's work while the block runs, if ``settings.tracing`` says so; at its
    end, sends the spans not sent yet."""
    global _tracer
    if not settings.tracing:
        yield
        return
    if propagate is None:
        raise RuntimeError("JOBTOWER_TRACING is on, but OpenTelemetry is not installed: pip install 'jobtower[tracing]'")
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or f"jobtower-{process}"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _tracer = provider.get_tracer("jobtower")
    previous = trace_context.capture_with(_current_context)
    log.info("tracing: spans go by OTLP over HTTP as the OTEL_* settings say")
    try:
        yield
    finally:
        trace_context.capture_with(previous)
        _tracer = None
        provider.shutdown()


@contextmanager
def span(name: str, parent: Mapping[str, str] | None = None, attributes: Attributes | None = None) -> Iterator[Span]:
    """A span for the block, current while it runs: a child of the trace context ``parent``
    (a job's, or a request's headers) when it names one, else of the current span."""
    if _tracer is None:
        yield UNRECORDED
        return
    context = propagate.extract(parent) if parent is not None else None
    with _tracer.start_as_current_span(name, context=context, attributes=attributes) as current:
        yield current


def _current_context() -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier
