"""What a worker process shares with the tasks it runs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from redis.asyncio import Redis

from jobtower.settings import Settings
from workers.progress import ProgressPublisher


@dataclass
class WorkerRuntime:
    worker_id: str
    settings: Settings
    redis: Redis
    publisher: ProgressPublisher
    # Set on shutdown: running chunks hand their records back at the next batch.
    draining: asyncio.Event = field(default_factory=asyncio.Event)
    active_chunks: int = 0
