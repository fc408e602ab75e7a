"""The one place Jobtower reads the wall clock, always in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def month_of(moment: datetime) -> str:
    """The plan-usage month a moment falls in, e.g. ``"2026-11"``."""
    return moment.astimezone(UTC).strftime("%Y-%m")
