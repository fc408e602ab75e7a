"""What a worker process shares with the tasks it runs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
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
    # Chunks were just enumerated: tell idle slots (``workers.broker.wake_idle_slots``).
    chunks_ready: Callable[[], Awaitable[None]]
    # Set on shutdown: running chunks hand their records back at the next batch.
    draining: asyncio.Event = field(default_factory=asyncio.Event)
    active_chunks: int = 0
