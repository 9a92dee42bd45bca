"""Opaque cursors for list routes: ``?limit=`` (default 50, max 500) and ``cursor``."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Integer, and_, bindparam, or_

from servicekit.problems import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_CURSOR = 500
T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=MAX_CURSOR)]


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, json.JSONDecodeError) as exc:
        raise BadRequest("The cursor is not valid", slug="invalid-cursor") from exc
    if not isinstance(data, dict):
        raise BadRequest("The cursor is not valid", slug="invalid-cursor")
    return data


# -- keyset pagination: the one way every list pages --------------------------------------


class Page(BaseModel, Generic[T]):
    """One page of a list: ``next_cursor`` is None on the last page."""

    # Always in the reply (null on the last page), so the schema says it is required.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class Keyset:
    """A list ordered by ``columns`` (the last one unique, usually the id), paged by the
    position of the last row seen, never by offset: a page costs the same however deep.

        NEWEST_FIRST = Keyset(Invoice.issued_at, Invoice.id)          # descending
        stmt = NEWEST_FIRST.apply(select(Invoice).where(...), cursor, limit)
        rows = list(await session.scalars(stmt))
        return NEWEST_FIRST.page(rows, limit)                         # Page[Invoice]

    The cursor is opaque to clients (base64url of the position's values); one that was
    not made by this keyset is a 400 problem+json (``invalid-cursor``).
    """

    columns: tuple[Any, ...]
    descending: bool = True

    def __init__(self, *columns: Any, descending: bool = True) -> None:
        if not columns:
            raise ValueError("a keyset needs at least one column")
        object.__setattr__(self, "columns", columns)
        object.__setattr__(self, "descending", descending)

    def _keys(self) -> list[str]:
        return [c.key for c in self.columns]

    def position_of(self, row: Any) -> list[Any]:
        return [getattr(row, key) for key in self._keys()]

    def encode(self, row: Any) -> str:
        return encode_cursor({"k": [_plain(v) for v in self.position_of(row)]})

    def decode(self, cursor: str | None) -> list[Any] | None:
        position = decode_cursor(cursor)
        if position is None:
            return None
        values = position.get("k")
        if not isinstance(values, list) or len(values) != len(self.columns):
            raise BadRequest("The cursor is not valid", slug="invalid-cursor")
        try:
            return [_typed(col, v) for col, v in zip(self.columns, values, strict=True)]
        except (TypeError, ValueError) as exc:
            raise BadRequest("The cursor is not valid", slug="invalid-cursor") from exc

    def apply(self, stmt: Any, cursor: str | None, limit: int) -> Any:
        """``stmt`` ordered by the keyset, after the cursor's position, ``limit + 1`` rows
        (the extra row says whether there is a next page)."""
        position = self.decode(cursor)
        if position is not None:
            stmt = stmt.where(self._after(position))
        return stmt.order_by(*self._order()).limit(limit + 1)

    def prepared(self, stmt: Any, *, after: bool) -> Any:
        """``apply`` with bound parameters in place of values, so a hot list builds its
        statement once per shape (with or without a cursor) and reuses it: the cursor's
        position binds as ``k0``, ``k1``..., the row count as ``limit``. Execute it with
        ``params(cursor, limit)``."""
        if after:
            position = [bindparam(f"k{i}", type_=c.type) for i, c in enumerate(self.columns)]
            stmt = stmt.where(self._after(position))
        return stmt.order_by(*self._order()).limit(bindparam("limit", type_=Integer))

    def _order(self) -> list[Any]:
        return self.ordered({c.key: c for c in self.columns})

    def ordered(self, columns: Any) -> list[Any]:
        """The keyset's order on same-named ``columns`` (a subquery's ``.c``): a query
        that wraps a prepared page keeps its order."""
        return [
            columns[c.key].desc() if self.descending else columns[c.key].asc() for c in self.columns
        ]

    def params(self, cursor: str | None, limit: int) -> dict[str, Any]:
        """The parameters of ``prepared`` for this cursor (400 if it is not one of ours)
        and page size: ``limit + 1`` rows, the extra one saying whether a next page exists."""
        values: dict[str, Any] = {"limit": limit + 1}
        position = self.decode(cursor)
        if position is not None:
            values.update({f"k{i}": v for i, v in enumerate(position)})
        return values

    def _after(self, position: list[Any]) -> Any:
        # (a, b, c) after (x, y, z), spelled out so each value binds with its column's
        # type (aware datetimes on SQLite too): a>x or (a=x and (b>y or (b=y and c>z))).
        clause = None
        for col, value in reversed(list(zip(self.columns, position, strict=True))):
            beyond = col < value if self.descending else col > value
            clause = beyond if clause is None else or_(beyond, and_(col == value, clause))
        return clause

    def page(self, rows: Sequence[Any], limit: int) -> Page[Any]:
        """The page of ``rows`` (fetched with ``apply``) and the cursor of the next."""
        items = list(rows[:limit])
        more = len(rows) > limit and bool(items)
        return Page(items=items, next_cursor=self.encode(items[-1]) if more else None)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date | UUID | Decimal):
        return str(value)
    return value


def _typed(column: Any, value: Any) -> Any:
    sql_type = getattr(column.type, "impl_instance", column.type)  # a TypeDecorator's base
    try:
        python_type = sql_type.python_type
    except NotImplementedError:
        return value
    if python_type is datetime:
        at = datetime.fromisoformat(str(value))
        return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    if python_type is date:
        return date.fromisoformat(str(value))
    if python_type is UUID:
        return UUID(str(value))
    if python_type is Decimal:
        return Decimal(str(value))
    if python_type is int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError("not an integer")
        return int(value)
    if python_type is str:
        if not isinstance(value, str):
            raise TypeError("not a string")
        return value
    return value
