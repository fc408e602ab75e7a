"""The fair order of ``domain.scheduling.pick``: tenant, then root job, low priority last."""

from __future__ import annotations

from collections import Counter
from itertools import count

from domain.scheduling import InFlight, ReadyChunk, pick

_ids = count(1)


def chunks(n: int, *, tenant: int, root: int, job: int | None = None, low: bool = False) -> list[ReadyChunk]:
    """``n`` ready chunks of one job (the root itself unless ``job`` names a child)."""
    return [
        ReadyChunk(
            chunk_id=next(_ids),
            job_id=job if job is not None else root,
            tenant_id=tenant,
            root_id=root,
            low_priority=low,
        )
        for _ in range(n)
    ]


def idle() -> InFlight:
    return InFlight(by_tenant=Counter(), by_root=Counter())


def busy(**roots_by_tenant: dict[int, int]) -> InFlight:
    """In-flight work: ``busy(t1={10: 3})`` means tenant 1 has 3 chunks of root 10 in flight."""
    by_tenant: Counter[int] = Counter()
    by_root: Counter[int] = Counter()
    for tenant_name, roots in roots_by_tenant.items():
        tenant = int(tenant_name.removeprefix("t"))
        for root, n in roots.items():
            by_tenant[tenant] += n
            by_root[root] += n
    return InFlight(by_tenant=by_tenant, by_root=by_root)


def tenants_of(chosen: list[ReadyChunk]) -> list[int]:
    return [chunk.tenant_id for chunk in chosen]


def roots_of(chosen: list[ReadyChunk]) -> list[int]:
    return [chunk.root_id for chunk in chosen]


def test_a_tenant_with_a_huge_queue_does_not_keep_another_tenant_waiting():
    # Tenant 1: one root with a thousand children, queued first. Tenant 2: one small job.
    flood = [c for child in range(1000) for c in chunks(1, tenant=1, root=10, job=1000 + child)]
    small = chunks(3, tenant=2, root=20)

    chosen = pick(flood + small, idle(), slots=4)

    assert tenants_of(chosen) == [1, 2, 1, 2]


def test_slots_alternate_between_tenants_until_one_runs_out():
    ready = chunks(10, tenant=1, root=10) + chunks(2, tenant=2, root=20) + chunks(10, tenant=3, root=30)

    chosen = pick(ready, idle(), slots=9)

    assert tenants_of(chosen) == [1, 2, 3, 1, 2, 3, 1, 3, 1]


def test_the_tenant_with_less_work_in_flight_is_served_first():
    ready = chunks(5, tenant=1, root=10) + chunks(5, tenant=2, root=20)

    chosen = pick(ready, busy(t1={10: 3}), slots=5)

    # Tenant 2 catches up with tenant 1's three running chunks, then they alternate.
    assert tenants_of(chosen) == [2, 2, 2, 1, 2]


def test_roots_of_one_tenant_share_its_slots():
    # One big root (a parent with many children) and a small root in the same tenant.
    big = [c for child in range(200) for c in chunks(1, tenant=1, root=10, job=500 + child)]
    small = chunks(3, tenant=1, root=11)

    chosen = pick(big + small, idle(), slots=6)

    assert roots_of(chosen) == [10, 11, 10, 11, 10, 11]


def test_the_root_with_less_in_flight_is_served_first_within_a_tenant():
    ready = chunks(5, tenant=1, root=10) + chunks(5, tenant=1, root=11)

    chosen = pick(ready, busy(t1={10: 2}), slots=4)

    assert roots_of(chosen) == [11, 11, 10, 11]


def test_children_count_towards_their_root_not_as_roots_of_their_own():
    # Root 10's children 101 and 102 have chunks; root 11 is a single job.
    ready = chunks(4, tenant=1, root=10, job=101) + chunks(4, tenant=1, root=10, job=102) + chunks(4, tenant=1, root=11)

    chosen = pick(ready, idle(), slots=4)

    assert roots_of(chosen) == [10, 11, 10, 11]


def test_low_priority_waits_while_any_normal_chunk_is_ready():
    low = chunks(5, tenant=2, root=20, low=True)
    normal = chunks(3, tenant=1, root=10)

    assert pick(low + normal, idle(), slots=3) == normal
    assert not any(chunk.low_priority for chunk in pick(low + normal, idle(), slots=2))


def test_low_priority_takes_the_slots_normal_work_leaves_free():
    low = chunks(5, tenant=2, root=20, low=True)
    normal = chunks(2, tenant=1, root=10)

    chosen = pick(low + normal, idle(), slots=4)

    assert chosen[:2] == normal
    assert chosen[2:] == low[:2]


def test_low_priority_alone_gets_every_slot():
    low = chunks(5, tenant=2, root=20, low=True)

    assert pick(low, idle(), slots=3) == low[:3]


def test_low_priority_work_is_shared_fairly_too():
    low = chunks(4, tenant=1, root=10, low=True) + chunks(4, tenant=2, root=20, low=True)

    assert tenants_of(pick(low, idle(), slots=4)) == [1, 2, 1, 2]


def test_never_more_chunks_than_slots():
    ready = chunks(10, tenant=1, root=10) + chunks(10, tenant=2, root=20, low=True)

    assert pick(ready, idle(), slots=0) == []
    assert len(pick(ready, idle(), slots=7)) == 7
    assert len(pick(ready, idle(), slots=100)) == 20


def test_every_chunk_is_picked_at_most_once():
    ready = chunks(6, tenant=1, root=10) + chunks(6, tenant=1, root=11) + chunks(6, tenant=2, root=20)

    chosen = pick(ready, idle(), slots=18)

    assert len({chunk.chunk_id for chunk in chosen}) == 18


def test_within_a_root_chunks_keep_their_queue_order():
    first_job = chunks(3, tenant=1, root=10, job=101)
    second_job = chunks(3, tenant=1, root=10, job=102)

    assert pick(first_job + second_job, idle(), slots=6) == first_job + second_job


def test_the_order_is_stable():
    ready = chunks(3, tenant=2, root=20) + chunks(3, tenant=1, root=10) + chunks(3, tenant=1, root=11)

    first = pick(ready, idle(), slots=7)

    assert pick(list(ready), idle(), slots=7) == first
    # Ties go to the lower tenant id, then the lower root id, whatever order the rows came in.
    assert tenants_of(first)[:2] == [1, 2]
    assert roots_of(first)[:3] == [10, 20, 11]
