"""Work that became ready is announced, so whoever hands it out acts now rather than at its next round.

The dispatcher finds all ready work by polling anyway: an announcement only saves
the wait. A process that installs no announcer, or whose announcer fails, loses
nothing but that time. The processes that start jobs and run them install one
(``workers.wakeups.announcing``); the domain only says when.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

Announcer = Callable[[], Awaitable[None]]

_announcer: Announcer | None = None


def announce_with(announcer: Announcer | None) -> Announcer | None:
    """Install ``announcer`` (None: announce nothing); the one it replaces."""
    global _announcer
    previous, _announcer = _announcer, announcer
    return previous


async def work_ready() -> None:
    """Called once a change that made work ready (a job to enumerate, stopped chunks to run again)
    is committed."""
    if _announcer is not None:
        await _announcer()
