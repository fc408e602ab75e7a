"""A job's record keys, as its type's enumerator gives them: checked, and for a small job read
at its admission.

A job whose records fit one chunk, as its type estimates from the params, has its keys read
by ``startJob`` itself (within ``ADMISSION_SECONDS``), so its chunk is ready the moment the
job exists and no worker has to enumerate it first. Any other job, and a small one whose
enumerator gives more keys than one chunk holds, takes longer, or raises, is enumerated by a
worker (``workers.enumerator``), which also says why an enumeration failed.
"""

from __future__ import annotations

import asyncio

from domain.registry import JobType, Params

MAX_KEY_LENGTH = 255
# The most keys, and the longest, that startJob reads itself.
ADMISSION_KEYS = 1000
ADMISSION_SECONDS = 0.05


class EnumerationError(Exception):
    pass


def record_key(key: object) -> str:
    text = str(key)
    if len(text) > MAX_KEY_LENGTH:
        raise EnumerationError(f"record key {text[:40]!r}… is longer than {MAX_KEY_LENGTH}")
    return text


async def keys_at_admission(
    job_type: JobType, params: Params, chunk_size: int, estimate: int | None
) -> list[str] | None:
    """The keys of a job estimated to fit one chunk, if its enumerator gives them at once and
    they do fit; else None, and a worker enumerates the job."""
    most = min(chunk_size, ADMISSION_KEYS)
    if estimate is None or not 0 < estimate <= most:
        return None
    keys: list[str] = []
    try:
        async with asyncio.timeout(ADMISSION_SECONDS):
            async for key in job_type.enumerate(params):
                keys.append(record_key(key))
                if len(keys) > most:
                    return None
    except Exception:  # the worker's enumeration runs it again and says why it failed
        return None
    return keys or None
