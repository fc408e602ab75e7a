"""A job's trace, from ``startJob`` in a real ``jobtower api`` to its chunks' runs in a real worker.

The spans go by OTLP over HTTP to a collector of the test's own (the outside system a
deployment would run), which decodes them as any collector does.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from domain.access import Role
from domain.models import Job
from domain.statuses import JobStatus
from domain.tenants import create_token
from tests.cluster import REPO, Cluster, wait_until
from tests.conftest import TenantFixture
from tests.services import free_port
from tests.workers.support import wait_for_status

# The caller's own trace, which the API continues (W3C trace context).
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
START = """
mutation {
  startJob(input: {
    type: "contact_sync", chunkSize: 10,
    params: {contacts: 20, unchangedRate: 0, failRate: 1, latencyScale: 0}
  }) { __typename }
}
"""


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]


@dataclass
class Collector:
    """Receives OTLP/HTTP trace exports, as an OpenTelemetry collector does."""

    url: str
    spans: list[ReceivedSpan] = field(default_factory=list)


@pytest.fixture
def collector() -> Iterator[Collector]:
    received = Collector(url="")

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["content-length"]))
            if self.path != "/v1/traces":
                self.send_error(404)
                return
            received.spans.extend(_decoded(ExportTraceServiceRequest.FromString(body)))
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    received.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received
    finally:
        server.shutdown()
        thread.join()


def _decoded(request: ExportTraceServiceRequest) -> Iterator[ReceivedSpan]:
    for resource_spans in request.resource_spans:
        service = _attributes(resource_spans.resource.attributes)["service.name"]
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield ReceivedSpan(
                    service=service,
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_id=span.parent_span_id.hex(),
                    name=span.name,
                    attributes=_attributes(span.attributes),
                    events=[(event.name, _attributes(event.attributes)) for event in span.events],
                )


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _value(value: AnyValue) -> Any:
    return getattr(value, value.WhichOneof("value"))


async def test_a_job_is_one_trace_from_start_job_to_the_runs_of_its_chunks(
    cluster: Cluster, acme: TenantFixture, collector: Collector, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")  # milliseconds between exports
    cluster.settings["tracing"] = 1
    cluster.start_dispatcher()
    cluster.start_worker()
    port = free_port()
    cluster.start_api(port)
    token = (await create_token(acme.tenant.slug, Role.OPERATOR, "bot")).token

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        response = await client.post(
            "/graphql",
            json={"query": START},
            headers={"authorization": f"Bearer {token}", "traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
        )
    assert response.json() == {"data": {"startJob": {"__typename": "JobStarted"}}}
    job = await wait_for_status(await Job.get(tenant_id=acme.tenant.id), JobStatus.FINISHED)

    async def the_job_traced() -> list[ReceivedSpan]:
        mine = [span for span in collector.spans if span.trace_id == CALLER_TRACE]
        names = sorted(span.name for span in mine)
        return mine if names == ["enumerate", "mutation startJob", "run chunk", "run chunk"] else []

    spans = await wait_until(the_job_traced, timeout=30, what="the job's spans")

    (started,) = [span for span in spans if span.name == "mutation startJob"]
    assert (started.service, started.parent_id) == ("jobtower-api", CALLER_SPAN)
    (enumerated,) = [span for span in spans if span.name == "enumerate"]
    assert enumerated.service == "jobtower-worker"
    assert enumerated.parent_id == started.span_id
    assert enumerated.attributes == {
        "jobtower.job.id": job.id,
        "jobtower.job.type": "contact_sync",
        "jobtower.outcome": "enumerated",
        "jobtower.records": 20,
    }
    runs = sorted((span for span in spans if span.name == "run chunk"), key=lambda s: s.attributes["jobtower.chunk.index"])
    for index, run in enumerate(runs):
        assert run.service == "jobtower-worker"
        assert run.parent_id == started.span_id
        assert run.attributes == {
            "jobtower.job.id": job.id,
            "jobtower.job.type": "contact_sync",
            "jobtower.chunk.index": index,
            "jobtower.outcome": "COMPLETE",
            "jobtower.records.succeeded": 0,
            "jobtower.records.failed": 10,
            "jobtower.records.skipped": 0,
            "jobtower.records.interrupted": 0,
            "jobtower.records.canceled": 0,
        }
        # One event per failed record, naming it.
        assert [name for name, _ in run.events] == ["record failed"] * 10
        keys = {attributes["jobtower.record.key"] for _, attributes in run.events}
        assert keys == {f"newsletter/contact-{number:07d}" for number in range(index * 10, index * 10 + 10)}


def test_without_opentelemetry_spans_do_nothing_and_asking_for_tracing_says_what_is_missing():
    """As on an installation without the ``tracing`` extra: OpenTelemetry cannot be imported."""
    script = """
import asyncio, sys
sys.modules["opentelemetry"] = None  # what a missing package looks like to an import
from jobtower import tracing
from jobtower.settings import Settings

with tracing.span("anything", {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}) as span:
    span.set_attribute("jobtower.records", 1)
    span.add_event("record failed", {"jobtower.record.key": "k"})

async def untraced():
    async with tracing.tracing(Settings(tracing=False), "worker"):
        pass

async def traced():
    async with tracing.tracing(Settings(tracing=True), "worker"):
        pass

asyncio.run(untraced())
try:
    asyncio.run(traced())
except RuntimeError as error:
    print(error)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "JOBTOWER_TRACING is on, but OpenTelemetry is not installed: pip install 'jobtower[tracing]'"
    )
