from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import Base

CHUNK = 1000  # rows per statement: stays under PostgreSQL's 32767 bind parameters


def insert_ignoring_conflicts(session: AsyncSession, model: type[Base]) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` into ``model``'s table, in the session's dialect."""
    assert session.bind is not None
    if session.bind.dialect.name == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing()
    return sqlite.insert(model).on_conflict_do_nothing()


def money(value: Any) -> Decimal:
    """A SUM() comes back as Decimal on PostgreSQL and float/int on SQLite; make it cents."""
    if value is None:
        return Decimal("0.00")
    return Decimal(str(value)).quantize(Decimal("0.01"))


def chunks(items: list[Any], size: int = CHUNK) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
