"""What every query module shares: flushing into a 409, counting an UPDATE."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.problems import Conflict


async def flush_or_conflict(session: AsyncSession, detail: str) -> None:
    """Flush; a unique constraint that fires means someone got there first (409).

    The check-then-insert in the use cases gives the friendly answer; the constraints
    make the race between two concurrent requests end the same way.
    """
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(detail) from exc


def changed(result: Result[Any]) -> bool:
    """Whether an UPDATE changed a row (its result is a CursorResult, which counts)."""
    return bool(cast(CursorResult[Any], result).rowcount)


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"
