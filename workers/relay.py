"""Copies job events from the database (the outbox) to the tenants' Redis streams, in order.

Domain verbs record events in the same transaction as the change, so none is
lost; the relay publishes them. Only the leading dispatcher relays. After a
Redis restart the relay resumes from the newest event, and subscribers fill
any gap from the database by ``seq``.
"""

from __future__ import annotations

from redis.asyncio import Redis

from domain.models import JobEvent
from domain.statuses import EventKind
from workers import keys
from workers.events import JobEventMessage
from workers.progress import STREAM_MAXLEN

BATCH = 1000


async def relay_events(redis: Redis) -> int:
    """Publish the events recorded since the last call; how many were published."""
    raw = await redis.get(keys.RELAY_CURSOR)
    if raw is None:
        newest = await JobEvent.all().order_by("-id").first().values_list("id", flat=True)
        await redis.set(keys.RELAY_CURSOR, newest or 0)
        return 0
    events = (
        await JobEvent.filter(id__gt=int(raw))
        .order_by("id")
        .limit(BATCH)
        .values("id", "job_id", "seq", "kind", "from_status", "to_status", "at", "job__tenant_id")
    )
    if not events:
        return 0
    pipe = redis.pipeline(transaction=True)
    for event in events:
        message = JobEventMessage(
            job_id=event["job_id"],
            tenant_id=event["job__tenant_id"],
            seq=event["seq"],
            kind=EventKind(event["kind"]),
            status=str(event["to_status"]),
            at=event["at"].isoformat(),
            from_status=None if event["from_status"] is None else str(event["from_status"]),
        )
        pipe.xadd(
            keys.tenant_events(message.tenant_id), message.encode(), maxlen=STREAM_MAXLEN, approximate=True
        )
    pipe.set(keys.RELAY_CURSOR, events[-1]["id"])
    await pipe.execute()
    return len(events)
