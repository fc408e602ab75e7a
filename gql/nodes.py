"""``node(id)``: any object by its global id, as the asker may see it (else null)."""

from __future__ import annotations

import strawberry

from domain.jobs import visible_parts
from domain.schedules import visible_schedules
from gql.bulk.types import BulkOperationNode
from gql.context import Info
from gql.ids import parse_global_id
from gql.jobs.types import ChunkNode, JobNode, RecordNode, log_entries
from gql.logs.selection import selects
from gql.node import Node
from gql.schedules.types import ScheduleNode
from gql.tenants.types import PrincipalNode, TenantNode


@strawberry.type
class NodeQueries:
    @strawberry.field
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        actor = info.context.viewer
        parsed = parse_global_id(id)
        if parsed is None:
            return None
        kind, pk = parsed
        loaders = info.context.loaders
        if kind == "Job":
            job = await loaders.job.load(pk)
            return JobNode.of(job) if job else None
        if kind == "Tenant":
            tenant = await loaders.tenant.load(pk) if actor.sees_tenant(pk) else None
            return TenantNode.of(tenant) if tenant else None
        if kind == "Principal":
            principal = await loaders.principal.load(pk)
            return PrincipalNode.of(principal) if principal and actor.sees_tenant(principal.tenant_id) else None
        if kind == "Schedule":
            schedule = await visible_schedules(actor).get_or_none(id=pk)
            return ScheduleNode.of(schedule) if schedule else None
        if kind == "BulkOperation":
            operation = await loaders.bulk_operation.load(pk)
            return BulkOperationNode.of(operation) if operation else None
        if kind in ("Chunk", "Record", "LogEntry"):
            return await _part(info, kind, pk)
        return None


async def _part(info: Info, kind: str, pk: int) -> Node | None:
    """A chunk, record or log line exists for the asker only if its job does."""
    from domain.models import Chunk, JobLog, Record

    model = {"Chunk": Chunk, "Record": Record, "LogEntry": JobLog}[kind]
    parts = visible_parts(info.context.viewer, model)
    row = await (parts.select_related("job") if kind == "Record" else parts).get_or_none(id=pk)
    if row is None:
        return None
    if kind == "Record":
        return RecordNode.of(row, info.context.now, row.job.step_names)
    if kind == "Chunk":
        return ChunkNode.of(row)
    return (await log_entries(info, [row], with_records=selects(info, "record")))[0]
