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
    # This many chunks were just enumerated: start them (``workers.worker.run_worker``).
    chunks_ready: Callable[[int], Awaitable[None]]
    # Set on shutdown: running chunks hand their records back at the next batch.
    draining: asyncio.Event = field(default_factory=asyncio.Event)
    active_chunks: int = 0
    # One per chunk slot: a slot's run holds one, whether a notice started it or the worker did.
    slots: asyncio.Semaphore = field(init=False)
    # The slots this worker started itself (``workers.tasks.take_free_slot``), while they run.
    own_slots: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.settings.worker_concurrency)
