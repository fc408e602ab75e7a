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
    # Set on shutdown: running chunks hand their records back at the next batch, an
    # enumeration is handed out again at its next key.
    draining: asyncio.Event = field(default_factory=asyncio.Event)
    # Enumerations under way: a draining worker waits for them to let go, as for its slots.
    enumerations: int = 0
    # A slot's run holds one, whether a notice started it or the worker did.
    slots: Slots = field(init=False)
    # The slots this worker started itself (``workers.tasks.take_free_slot``), while they run.
    own_slots: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.slots = Slots(self.settings.worker_concurrency)

    def busy(self) -> bool:
        """Whether a slot or an enumeration still holds work of the database's."""
        return bool(self.slots.in_use or self.enumerations)


class Slots:
    """A worker's chunk slots. A slot is taken before its claim and given back once its chunk is
    let go, so whatever a slot claimed is counted in ``in_use`` until then."""

    def __init__(self, count: int) -> None:
        self._free = asyncio.Semaphore(count)
        self.in_use = 0

    def locked(self) -> bool:
        return self._free.locked()

    async def acquire(self) -> None:
        await self._free.acquire()
        self.in_use += 1

    def release(self) -> None:
        self.in_use -= 1
        self._free.release()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *_: object) -> None:
        self.release()
