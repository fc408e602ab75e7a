"""Copies job events from the database (the outbox) to the tenants' Redis streams.

Domain verbs record events in the same transaction as the change, so none is
lost; the relay publishes them. Each event is marked as awaiting the relay
until it has been published, so one whose transaction committed after later
events were published is still found: an id order could not tell. Only the
leading dispatcher relays. An event may be published twice (the relay stopped
between publishing and marking, two dispatchers overlapped a moment):
subscribers deliver each ``seq`` once. Events a Redis restart lost reach
subscribers from the database, which they read after any outage.
"""

from __future__ import annotations

from redis.asyncio import Redis

from domain.history import awaiting_relay, relayed
from domain.models import Job
from workers import keys
from workers.events import JobEventMessage
from workers.progress import STREAM_MAXLEN

BATCH = 1000


async def relay_events(redis: Redis) -> int:
    """Publish the events awaiting the relay, oldest first; how many were published."""
    events = await awaiting_relay(BATCH)
    if not events:
        return 0
    tenants = dict(await Job.filter(id__in={event.job_id for event in events}).values_list("id", "tenant_id"))
    pipe = redis.pipeline(transaction=True)
    for event in events:
        if event.job_id not in tenants:
            continue  # pruned meanwhile, its events with it
        message = JobEventMessage.of_event(event, tenants[event.job_id])
        pipe.xadd(
            keys.tenant_events(message.tenant_id), message.encode(), maxlen=STREAM_MAXLEN, approximate=True
        )
    await pipe.execute()
    await relayed([event.id for event in events])
    return len(events)
