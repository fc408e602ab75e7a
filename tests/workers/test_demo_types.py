"""The demo catalogue on real worker processes: each type ends the way its seeded data says.

Which records of a demo type are skipped or fail is decided by their keys
(``jobtower.job_types.simulated``), so each test knows every record's outcome
in advance and checks it, record by record, after a real run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

import jobtower.demo  # noqa: F401  (registers noop and the catalogue in this process too)
from domain.access import Role
from domain.clock import utcnow
from domain.jobs import complete_wait, stop_job
from domain.models import Chunk, Job, JobEvent, JobLog, Record, Schedule
from domain.progress import children_progress
from domain.registry import registry
from domain.schedules import create_schedule, last_runs
from domain.statuses import TERMINAL, JobOutcome, JobStatus, RecordStatus
from jobtower.job_types import (
    ai_embedding_batch,
    bulk_message_send,
    campaign_run,
    campaign_sequence,
    contact_sync,
    data_import,
    ledger_close,
    renewal_reminders,
    scheduled_report,
)
from jobtower.job_types.simulated import seeded
from tests.cluster import Cluster, wait_until
from tests.workers.support import reload, start, wait_for_records, wait_for_status

pytestmark = pytest.mark.parametrize("database", ["postgres"], indirect=True)

S = RecordStatus
Expect = Callable[[str, Mapping[str, Any]], RecordStatus]


@dataclass(frozen=True)
class Case:
    type: str
    params: dict[str, Any]
    chunk_size: int
    # The outcome the seeded data gives the record with this key.
    expect: Expect
    # How a failed record's error starts: the exceptions the steps raise.
    errors: tuple[str, ...]


def first_match(*rules: tuple[Callable[[str, Mapping[str, Any]], bool], RecordStatus]) -> Expect:
    def expect(key: str, params: Mapping[str, Any]) -> RecordStatus:
        return next((status for rule, status in rules if rule(key, params)), S.SUCCEEDED)

    return expect


CASES = [
    Case(
        "contact_sync",
        {"list": "vip", "contacts": 60, "unchangedRate": 0.3, "failRate": 0.1, "latencyScale": 0},
        20,
        first_match((contact_sync.unchanged, S.SKIPPED), (contact_sync.rejected, S.FAILED)),
        ("ContactRejected: ",),
    ),
    Case(
        "bulk_message_send",
        {
            "messages": 60,
            "channel": "email",
            "transientErrorRate": 0.4,
            "failRate": 0.05,
            "ratePerSecond": 100_000,
            "latencyScale": 0,
        },
        25,
        first_match((lambda key, params: not bulk_message_send.delivered(key, params), S.FAILED)),
        ("RecipientRefused: ", "ProviderUnavailable: "),
    ),
    Case(
        "scheduled_report",
        {"report": "monthly-usage", "asOf": "2026-11-02", "failRate": 0.3, "latencyScale": 0},
        10,
        first_match((scheduled_report.times_out, S.FAILED)),
        ("DataSourceTimeout: ",),
    ),
    Case(
        "renewal_reminders",
        {"subscriptions": 50, "autoRenewRate": 0.5, "failRate": 0.1, "latencyScale": 0},
        20,
        first_match((renewal_reminders.renews_by_itself, S.SKIPPED), (renewal_reminders.bounces, S.FAILED)),
        ("ReminderBounced: ",),
    ),
    Case(
        "ai_embedding_batch",
        {"documents": 30, "model": "text-embedding-large", "failRate": 0.15, "latencyScale": 0},
        10,
        first_match((ai_embedding_batch.unreadable, S.FAILED)),
        ("NoExtractableText: ",),
    ),
    Case(
        "data_import",
        {"file": "leads.csv", "rows": 60, "badRowRate": 0.1, "maxBadRows": 60, "latencyScale": 0},
        20,
        first_match((data_import.bad, S.FAILED)),
        ("InvalidRow: row ",),
    ),
    Case(
        "ledger_close",
        {"period": "2026-10", "accounts": 40, "failRate": 0.1, "latencyScale": 0},
        20,
        first_match((ledger_close.unreconciled, S.FAILED)),
        ("UnreconciledDifference: account ",),
    ),
    Case(
        "noop",
        {"records": 50, "steps": 2, "failRate": 0.1},
        20,
        first_match((lambda key, params: seeded(key, params["failRate"]), S.FAILED)),
        ("RuntimeError: seeded failure",),
    ),
    Case(
        "noop_batched",
        {"records": 250, "steps": 2, "failRate": 0.1},
        200,
        first_match((lambda key, params: seeded(key, params["failRate"]), S.FAILED)),
        ("RuntimeError: seeded failure",),
    ),
]

CLEAN_REPORT = {
    "report": "daily-kpis",
    "recipients": ["ceo@acme.test", "ops@acme.test"],
    "failRate": 0,
    "latencyScale": 0,
}


async def keys_of(type: str, params: Mapping[str, Any]) -> list[str]:
    return [key async for key in registry.get(type).enumerate(params)]


async def record_outcomes(job: Job) -> dict[str, Record]:
    return {record.key: record for record in await Record.filter(job_id=job.id)}


@pytest.fixture
def running(cluster: Cluster) -> Cluster:
    cluster.start_worker()
    cluster.start_dispatcher()
    return cluster


async def test_each_demo_type_ends_as_its_seeded_data_says(running: Cluster, acme, subtests):
    expectations = {}
    for case in CASES:
        keys = await keys_of(case.type, case.params)
        expectations[case.type] = {key: case.expect(key, case.params) for key in keys}
        assert {S.FAILED, S.SUCCEEDED} <= set(expectations[case.type].values()), case.type
    # All at once, as on a real tower: the types share the worker.
    started = {
        case.type: await start(acme, case.type, chunk_size=case.chunk_size, **case.params) for case in CASES
    }
    report_day = utcnow().date()
    clean_report = await start(acme, "scheduled_report", **CLEAN_REPORT)

    for case in CASES:
        with subtests.test(type=case.type):
            expected = expectations[case.type]
            job = await wait_for_status(started[case.type], JobStatus.FINISHED, JobStatus.FAILED, timeout=60)
            assert (job.status, job.outcome) == (JobStatus.FINISHED, JobOutcome.WITH_ERRORS)
            records = await record_outcomes(job)
            assert {key: record.status for key, record in records.items()} == expected
            outcomes = Counter(expected.values())
            assert (job.total, job.done, job.succeeded, job.failed, job.skipped) == (
                len(expected), len(expected), outcomes[S.SUCCEEDED], outcomes[S.FAILED], outcomes[S.SKIPPED]
            )
            assert all(
                record.error and record.error.startswith(case.errors)
                for record in records.values()
                if record.status is S.FAILED
            )
            for record in records.values():
                if record.status is S.SUCCEEDED:
                    assert [(job.step_names[entry[0]], entry[1]) for entry in record.journey] == [
                        (name, "SUCCEEDED") for name in job.step_names
                    ]

    with subtests.test("the message provider's transient errors are retried"):
        params = next(case.params for case in CASES if case.type == "bulk_message_send")
        records = await record_outcomes(started["bulk_message_send"])
        retried = [
            key for key in records
            if bulk_message_send.transient_failure(key, 1, params) and bulk_message_send.delivered(key, params)
        ]
        assert retried, "params must make some first attempts fail"
        for key in retried:
            first_success = next(n for n in (2, 3) if not bulk_message_send.transient_failure(key, n, params))
            deliver = records[key].journey[-1]
            assert (records[key].status, deliver[1]) == (S.SUCCEEDED, "SUCCEEDED")
            assert deliver[4]["attempts"] == first_success

    with subtests.test("a scheduled report without failures delivers every section"):
        job = await wait_for_status(clean_report, JobStatus.FINISHED, JobStatus.FAILED, timeout=60)
        assert (job.status, job.outcome) == (JobStatus.FINISHED, JobOutcome.SUCCEEDED)
        records = await Record.filter(job_id=job.id).order_by("position")
        # The report is for today, unless the run crossed midnight.
        assert [record.key for record in records] in [
            [f"daily-kpis/{day.isoformat()}/{section}" for section in scheduled_report.SECTIONS["daily-kpis"]]
            for day in (report_day, utcnow().date())
        ]
        assert all(record.journey[-1][4] == {"recipients": 2} for record in records)


async def test_a_campaign_waits_for_approvals_and_finishes_once_they_are_given(
    running: Cluster, acme
):
    params = {"contacts": 40, "approvalRate": 0.25, "segmentMissRate": 0.2, "failRate": 0, "latencyScale": 0}
    keys = await keys_of("campaign_run", params)
    outside = {key for key in keys if campaign_run.outside_segment(key, params)}
    to_approve = sorted(
        key for key in keys if campaign_run.needs_approval(key, params) and key not in outside
    )
    assert len(to_approve) >= 2 and outside, "params must need approvals and skip some contacts"

    job = await start(acme, "campaign_run", chunk_size=20, **params)
    job = await wait_for_status(job, JobStatus.WAITING, JobStatus.FINISHED, JobStatus.FAILED, timeout=60)

    assert job.status is JobStatus.WAITING
    records = await record_outcomes(job)
    assert sorted(key for key, record in records.items() if record.status is S.WAITING) == to_approve
    assert {key for key, record in records.items() if record.status is S.SKIPPED} == outside
    assert len(records) == len(keys)

    operator = acme.actor(Role.OPERATOR)
    rejected, *approved = to_approve
    await complete_wait(operator, records[rejected].id, {"approved": False, "by": "maria"})
    for key in approved:
        await complete_wait(operator, records[key].id, {"approved": True, "by": "maria"})
    job = await wait_for_status(job, JobStatus.FINISHED, JobStatus.FAILED, timeout=60)

    assert (job.status, job.outcome) == (JobStatus.FINISHED, JobOutcome.SUCCEEDED)
    records = await record_outcomes(job)
    assert (records[rejected].status, records[rejected].error) == (S.SKIPPED, "rejected by maria")
    for key in approved:
        record = records[key]
        assert record.status is S.SUCCEEDED
        steps = {job.step_names[entry[0]]: entry for entry in record.journey}
        assert steps["approve"][1] == "SUCCEEDED" and steps["approve"][4] == {"approvedBy": "maria"}
        assert steps["send"][1] == "SUCCEEDED"
    skipped = len(outside) + 1  # and the rejected one
    assert (job.done, job.succeeded, job.skipped, job.failed) == (len(keys), len(keys) - skipped, skipped, 0)


async def test_the_dispatcher_starts_a_schedule_whose_time_has_come(running: Cluster, acme):
    params = {"contacts": 12, "latencyScale": 0}
    schedule = await create_schedule(acme.actor(Role.ADMIN), "hourly sync", "contact_sync", "0 * * * *", params)
    await Schedule.filter(id=schedule.id).update(next_run_at=utcnow() - timedelta(seconds=1))
    try:
        async def started() -> list[Job]:
            return await last_runs(schedule.id)

        [run] = await wait_until(started, timeout=30, what="the schedule's run")
        run = await wait_for_status(run, JobStatus.FINISHED, JobStatus.FAILED, timeout=60)

        assert (run.status, run.type, run.name, run.params, run.total) == (
            JobStatus.FINISHED, "contact_sync", "hourly sync", params, 12
        )
        assert [job.id for job in await last_runs(schedule.id)] == [run.id]
        await schedule.refresh_from_db()
        assert schedule.next_run_at > utcnow() and schedule.last_run_at is not None
    finally:
        # Later tests' dispatchers must not start it again at the next full hour.
        await Schedule.filter(id=schedule.id).update(enabled=False, next_run_at=None)


async def test_system_prune_on_the_workers_deletes_only_its_tenants_old_jobs(
    running: Cluster, acme, make_tenant
):
    other = await make_tenant()
    old, recent, others_old = [await start(tenant, "noop", records=5) for tenant in (acme, acme, other)]
    for job in (old, recent, others_old):
        await wait_for_status(job, JobStatus.FINISHED, timeout=60)
    long_ago = utcnow() - timedelta(days=40)
    await Job.filter(id__in=[old.id, others_old.id]).update(ended_at=long_ago)

    prune = await start(acme, "system.prune", olderThanDays=30)
    prune = await wait_for_status(prune, JobStatus.FINISHED, JobStatus.FAILED, timeout=60)

    assert (prune.status, prune.outcome, prune.system) == (
        JobStatus.FINISHED, JobOutcome.SUCCEEDED, True
    )
    assert not await Job.exists(id=old.id)
    assert not await Record.exists(job_id=old.id) and not await Chunk.exists(job_id=old.id)
    assert await Record.filter(job_id=recent.id).count() == 5
    assert await Record.filter(job_id=others_old.id).count() == 5
    [record] = await Record.filter(job_id=prune.id)
    assert record.journey[0][4] == {"deletedJobs": 1, "olderThanDays": 30}
    assert await JobLog.exists(job_id=prune.id, message__contains="pruned 1 jobs")


async def test_a_data_import_fails_its_run_at_a_malformed_row_or_at_the_first_bad_row_over_the_limit(
    running: Cluster, acme, subtests
):
    malformed = {"file": "leads.csv", "rows": 60, "malformedAtRow": 37, "badRowRate": 0, "latencyScale": 0}
    file = "wrong-export.csv"
    too_bad = {"file": file, "rows": 200, "badRowRate": 0.1, "maxBadRows": 3, "latencyScale": 0}
    first_over = data_import.too_many_bad_rows_from(too_bad)
    bad_before = [row for row in range(first_over) if data_import.bad(data_import.row_key(file, row), too_bad)]
    assert first_over is not None and first_over < 150 and len(bad_before) == 3

    broken = await start(acme, "data_import", chunk_size=20, **malformed)
    # One chunk: its rows run in file order.
    wrong = await start(acme, "data_import", chunk_size=200, **too_bad)

    with subtests.test("a malformed file"):
        job = await wait_for_status(broken, JobStatus.FINISHED, JobStatus.FAILED, timeout=60)
        message = "leads.csv is malformed at row 37: unterminated quoted field"
        assert (job.status, job.outcome, job.error) == (JobStatus.FAILED, None, message)
        records = await record_outcomes(job)
        failed = {key: record.error for key, record in records.items() if record.status is S.FAILED}
        assert failed == {data_import.row_key("leads.csv", 37): message}

    with subtests.test("too many bad rows"):
        job = await wait_for_status(wrong, JobStatus.FINISHED, JobStatus.FAILED, timeout=60)
        message = f"{file} has more than 3 bad rows (row {first_over} is one too many); the import stops"
        assert (job.status, job.error) == (JobStatus.FAILED, message)
        records = await record_outcomes(job)
        assert records[data_import.row_key(file, first_over)].error == message
        for row in bad_before:
            record = records[data_import.row_key(file, row)]
            assert record.status is S.FAILED and record.error.startswith(f"InvalidRow: row {row}: ")
        # The import stopped there: the rest of the file was never loaded.
        assert len(records) < 200


async def test_a_ledger_close_asked_to_stop_stays_stopping_and_closes_every_account(running: Cluster, acme):
    accounts = 48
    job = await start(
        acme, "ledger_close", chunk_size=4, period="2026-10", accounts=accounts, failRate=0, latencyScale=20
    )
    await wait_for_records(job, 3)

    stopping = await stop_job(acme.actor(Role.OPERATOR), job.id)

    assert stopping.status is JobStatus.STOPPING
    at_request = await Record.filter(job_id=job.id).count()
    worked_while_stopping = False

    async def ended() -> Job | None:
        nonlocal worked_while_stopping
        current = await reload(job)
        if current.status is JobStatus.STOPPING:
            worked_while_stopping |= await Record.filter(job_id=job.id).count() > at_request
        else:
            assert current.status is JobStatus.FINISHED, current.status
        return current if current.status in TERMINAL else None

    job = await wait_until(ended, timeout=60, what="the ledger close to end")
    assert worked_while_stopping, "it should have kept closing accounts while STOPPING"
    assert (job.outcome, job.done, job.total, job.succeeded) == (JobOutcome.SUCCEEDED, accounts, accounts, accounts)
    history = [event.to_status for event in await JobEvent.filter(job_id=job.id).order_by("seq")]
    assert history[-3:] == [JobStatus.RUNNING, JobStatus.STOPPING, JobStatus.FINISHED]


async def test_a_campaign_sequence_sends_each_touch_through_a_child_and_finishes_after_them(
    running: Cluster, acme
):
    params = {"sequence": "onboarding", "cohort": "week-48", "contacts": 10, "dropOffRate": 0.7, "latencyScale": 0}
    touches = campaign_sequence.SEQUENCES["onboarding"]
    audiences = [campaign_sequence.audience_of(params, index) for index in range(len(touches))]
    assert audiences == [10, 3, 1, 0]

    root = await start(acme, "campaign_sequence", **params)
    root = await wait_for_status(root, JobStatus.FINISHED, JobStatus.FAILED, timeout=60)

    assert (root.status, root.outcome) == (JobStatus.FINISHED, JobOutcome.SUCCEEDED)
    children = await Job.filter(parent_id=root.id).order_by("id")
    sends = sorted((child.name, child.type, child.params["channel"], child.params["messages"]) for child in children)
    assert sends == sorted(
        (f"week-48: {touch} ({channel})", "bulk_message_send", channel, audience)
        for (touch, channel), audience in zip(touches, audiences)
        if audience
    )
    for child in children:
        assert (child.status, child.root_id, child.done, child.total) == (
            JobStatus.FINISHED, root.id, child.params["messages"], child.params["messages"]
        )
    assert root.ended_at >= max(child.ended_at for child in children)
    records = await Record.filter(job_id=root.id).order_by("position")
    assert [record.status for record in records] == [S.SUCCEEDED, S.SUCCEEDED, S.SUCCEEDED, S.SKIPPED]
    spawned = {record.journey[-1][4]["childJobId"] for record in records if record.status is S.SUCCEEDED}
    assert spawned == {child.id for child in children}
    rolled_up = (await children_progress([root], include_system=False))[root.id]
    assert (rolled_up.total, rolled_up.done, rolled_up.estimated) == (14, 14, False)
