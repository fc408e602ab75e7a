"""``childrenProgress`` over HTTP, on both databases: the whole subtree below a job, not its children alone."""

from __future__ import annotations

from domain.access import Role
from domain.statuses import JobOutcome, JobStatus
from tests.domain.scenarios import put_in, start
from tests.gql.support import TenantApi

TREE_PAGE = """
query($system: Boolean) { jobs(first: 20, filter: {includeSystem: $system}) { edges { node {
  name childrenProgress { total done succeeded failed skipped percent estimated }
} } } }
"""


def progress(total: int, done: int, succeeded: int = 0, failed: int = 0, skipped: int = 0, *, estimated: bool):
    percent = round(100 * done / total, 2) if total else (None if estimated else 100.0)
    return {
        "total": total, "done": done, "succeeded": succeeded, "failed": failed, "skipped": skipped,
        "percent": percent, "estimated": estimated,
    }


async def build_tree(admin) -> None:
    """campaign → sequence → follow-up → reminder, and campaign → report → a system clean-up."""
    campaign = await start(admin, name="campaign")
    sequence = await start(admin, name="sequence", parent_id=campaign.id)
    follow_up = await start(admin, name="follow-up", parent_id=sequence.id)
    reminder = await start(admin, name="reminder", parent_id=follow_up.id)
    report = await start(admin, name="report", parent_id=campaign.id)
    clean_up = await start(admin, type="test.system", name="clean-up", parent_id=report.id)
    # Children end before their parents.
    finished = {"status": JobStatus.FINISHED, "outcome": JobOutcome.SUCCEEDED}
    await put_in(clean_up, **finished, total=5, done=5, succeeded=5)
    await put_in(report, **finished, total=1, done=1, succeeded=1)
    await put_in(reminder, **finished, total=2, done=2, skipped=2)
    await put_in(follow_up, **finished | {"outcome": JobOutcome.WITH_ERRORS}, total=3, done=3, succeeded=2, failed=1)
    await put_in(sequence, JobStatus.RUNNING, total=4, done=2, succeeded=2)
    await put_in(campaign, JobStatus.RUNNING)


async def rolled_up(api, include_system: bool = False) -> dict[str, dict]:
    data = await api.data(TREE_PAGE, {"system": include_system})
    return {edge["node"]["name"]: edge["node"]["childrenProgress"] for edge in data["jobs"]["edges"]}


async def test_children_progress_sums_every_descendant_down_to_the_grandchildren(acme_api: TenantApi):
    admin = await acme_api.as_(Role.ADMIN)
    await build_tree(admin.actor)
    operator = await acme_api.as_(Role.OPERATOR)

    # One page holds jobs of every depth; each one's roll-up covers its own subtree.
    assert await rolled_up(operator) == {
        # sequence + follow-up + reminder + report; the system clean-up is not the operator's to see.
        "campaign": progress(10, 8, 5, 1, 2, estimated=True),
        "sequence": progress(5, 5, 2, 1, 2, estimated=True),
        "follow-up": progress(2, 2, 0, 0, 2, estimated=False),
        "reminder": progress(0, 0, estimated=False),
        "report": progress(0, 0, estimated=False),
    }
    seen_by_admin = await rolled_up(admin, include_system=True)
    assert seen_by_admin["campaign"] == progress(15, 13, 10, 1, 2, estimated=True)
    assert seen_by_admin["report"] == progress(5, 5, 5, estimated=False)
    assert seen_by_admin["clean-up"] == progress(0, 0, estimated=False)
