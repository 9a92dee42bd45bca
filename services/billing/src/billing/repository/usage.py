from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, func, select, text, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.domain.invoice import UsageSum
from billing.models import ExcludedRecord, UsageRecord
from billing.repository._sql import chunks, insert_ignoring_conflicts, money
from servicekit.pagination import Keyset, Page

# The ids as an array joined to each primary key: ``record_id = ANY(:ids)`` measured
# ~240 ms a batch of 500 on a growing table (a generic plan scanning it, as servicekit's
# inbox check once did), this a few ms.
_KNOWN_PG = text(
    "SELECT u.record_id FROM unnest(CAST(:ids AS varchar[])) AS i(id) "
    "JOIN usage_records u ON u.record_id = i.id "
    "UNION ALL "
    "SELECT e.record_id FROM unnest(CAST(:ids AS varchar[])) AS i(id) "
    "JOIN excluded_records e ON e.record_id = i.id"
)


def _postgresql(session: AsyncSession) -> bool:
    assert session.bind is not None
    return session.bind.dialect.name == "postgresql"


async def known_record_ids(session: AsyncSession, record_ids: list[str]) -> set[str]:
    ids = sorted(set(record_ids))
    if _postgresql(session):
        # One array parameter: no IN list of a thousand parameters to render and plan.
        return set((await session.execute(_KNOWN_PG, {"ids": ids})).scalars())
    known: set[str] = set()
    for part in chunks(ids):
        rows = await session.scalars(
            select(UsageRecord.record_id).where(UsageRecord.record_id.in_(part))
        )
        known.update(rows)
        rows = await session.scalars(
            select(ExcludedRecord.record_id).where(ExcludedRecord.record_id.in_(part))
        )
        known.update(rows)
    return known


_USAGE_COLUMNS = ("record_id", "billing_account_id", "customer_id", "line", "kind",
                  "destination", "zone", "started_at", "quantity", "amount", "period")  # fmt: skip
# Per-record columns as arrays; the time received is one value for the whole batch and
# a new record is not invoiced yet (each array element costs asyncpg a type check).
_INSERT_USAGE_PG = text(
    "INSERT INTO usage_records (record_id, billing_account_id, customer_id, line, kind, "
    "destination, zone, started_at, quantity, amount, period, invoice_id, received_at) "
    "SELECT u.*, NULL, CAST(:received_at AS timestamptz) "
    "FROM unnest(CAST(:record_id AS varchar[]), CAST(:billing_account_id AS uuid[]), "
    "CAST(:customer_id AS uuid[]), CAST(:line AS varchar[]), CAST(:kind AS varchar[]), "
    "CAST(:destination AS varchar[]), CAST(:zone AS varchar[]), "
    "CAST(:started_at AS timestamptz[]), CAST(:quantity AS bigint[]), "
    "CAST(:amount AS numeric[]), CAST(:period AS varchar[])) AS u "
    "ON CONFLICT DO NOTHING RETURNING record_id"
)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} refused")
    return value.astimezone(UTC)


async def insert_usage(
    session: AsyncSession, rows: list[dict[str, Any]], received_at: datetime
) -> set[str]:
    """Insert rated records (the ``_USAGE_COLUMNS`` of each row), not yet invoiced,
    received at ``received_at``; returns the ids actually inserted (a concurrent writer
    of the same record wins the race without an error). PostgreSQL: one INSERT from
    arrays per 5,000 rows (a multi-row VALUES rendered 13 parameters a row)."""
    inserted: set[str] = set()
    if _postgresql(session):
        for part in chunks(rows, 5_000):
            columns: dict[str, Any] = {c: [row[c] for row in part] for c in _USAGE_COLUMNS}
            columns["started_at"] = [_utc(v) for v in columns["started_at"]]
            columns["received_at"] = _utc(received_at)
            result = await session.execute(_INSERT_USAGE_PG, columns)
            inserted.update(result.scalars())
        return inserted
    for part in chunks(rows):
        stmt = insert_ignoring_conflicts(session, UsageRecord).returning(UsageRecord.record_id)
        values = [{**row, "invoice_id": None, "received_at": received_at} for row in part]
        result = await session.execute(stmt, values)
        inserted.update(result.scalars())
    return inserted


async def insert_excluded(session: AsyncSession, record_ids: list[str], at: datetime) -> set[str]:
    inserted: set[str] = set()
    for part in chunks(record_ids):
        stmt = insert_ignoring_conflicts(session, ExcludedRecord).returning(
            ExcludedRecord.record_id
        )
        result = await session.execute(stmt, [{"record_id": r, "received_at": at} for r in part])
        inserted.update(result.scalars())
    return inserted


# Call details in the order they happened.
USAGE = Keyset(UsageRecord.started_at, UsageRecord.record_id, descending=False)


async def page_unbilled(
    session: AsyncSession,
    account_id: uuid.UUID,
    visible_before: datetime,
    *,
    lines: list[str] | None,
    cursor: str | None,
    limit: int,
) -> Page[UsageRecord]:
    q = select(UsageRecord).where(*_unbilled(account_id, visible_before, lines))
    rows = list(await session.scalars(USAGE.apply(q, cursor, limit)))
    return USAGE.page(rows, limit)


def _unbilled(
    account_id: uuid.UUID, visible_before: datetime, lines: list[str] | None
) -> list[Any]:
    where = [
        UsageRecord.billing_account_id == account_id,
        UsageRecord.invoice_id.is_(None),
        UsageRecord.started_at <= visible_before,
    ]
    if lines is not None:
        where.append(UsageRecord.line.in_(lines))
    return where


async def _sums(session: AsyncSession, *where: Any) -> list[UsageSum]:
    rows = await session.execute(
        select(
            UsageRecord.kind,
            func.count(),
            func.coalesce(func.sum(UsageRecord.quantity), 0),
            func.coalesce(func.sum(UsageRecord.amount), 0),
        )
        .where(*where)
        .group_by(UsageRecord.kind)
    )
    return [UsageSum(k, int(n), int(q), money(a)) for k, n, q, a in rows.all()]


async def unbilled_sums(
    session: AsyncSession, account_id: uuid.UUID, visible_before: datetime, lines: list[str] | None
) -> list[UsageSum]:
    return await _sums(session, *_unbilled(account_id, visible_before, lines))


def _to_invoice(account_id: uuid.UUID, period_end: datetime) -> list[Any]:
    # Every uninvoiced record up to the end of the period: late records of an earlier
    # period land on the next invoice instead of never being billed.
    return [
        UsageRecord.billing_account_id == account_id,
        UsageRecord.invoice_id.is_(None),
        UsageRecord.started_at < period_end,
    ]


@dataclass(frozen=True)
class UsageFilter:
    """Narrows call details and the usage parts of insights; None = any."""

    line: str | None = None
    kind: str | None = None
    zone: str | None = None

    def where(self) -> list[Any]:
        clauses: list[Any] = []
        if self.line is not None:
            clauses.append(UsageRecord.line == self.line)
        if self.kind is not None:
            clauses.append(UsageRecord.kind == self.kind)
        if self.zone is not None:
            clauses.append(UsageRecord.zone == self.zone)
        return clauses


ANY_USAGE = UsageFilter()


@dataclass(frozen=True)
class ToCharge:
    record_id: str
    line: str
    period: str
    kind: str
    zone: str
    started_at: datetime
    quantity: int
    amount: Decimal


async def invoiced_before(
    session: AsyncSession,
    account_id: uuid.UUID,
    lines: set[str],
    periods: set[str],
) -> list[ToCharge]:
    """Records of these lines and periods already on another invoice of the account."""
    found: list[ToCharge] = []
    for part in chunks(sorted(lines)):
        q = select(
            UsageRecord.record_id,
            UsageRecord.line,
            UsageRecord.period,
            UsageRecord.kind,
            UsageRecord.zone,
            UsageRecord.started_at,
            UsageRecord.quantity,
            UsageRecord.amount,
        ).where(
            UsageRecord.billing_account_id == account_id,
            UsageRecord.invoice_id.is_not(None),
            UsageRecord.line.in_(part),
            UsageRecord.period.in_(sorted(periods)),
        )
        found += [ToCharge(*row) for row in (await session.execute(q)).all()]
    return found


async def usage_to_invoice(
    session: AsyncSession, account_ids: list[uuid.UUID], period_end: datetime
) -> dict[uuid.UUID, list[ToCharge]]:
    """Every uninvoiced record of these accounts up to the end of the period (late
    records of an earlier period included), by account; one query per chunk of accounts.
    A record arriving after this read is left for the next invoice; ``set_invoiced``
    refuses records another invoice took meanwhile."""
    found: dict[uuid.UUID, list[ToCharge]] = {a: [] for a in account_ids}
    t = UsageRecord.__table__.c
    # A billing run reads every record once: Core columns (no ORM loading), and on
    # PostgreSQL the driver's aware UTC datetimes as they come (no conversion per row).
    assert session.bind is not None
    started_at: Any = t.started_at
    if session.bind.dialect.name == "postgresql":
        started_at = type_coerce(t.started_at, DateTime(timezone=True))
    for part in chunks(account_ids):
        q = select(
            t.billing_account_id,
            t.record_id,
            t.line,
            t.period,
            t.kind,
            t.zone,
            started_at,
            t.quantity,
            t.amount,
        ).where(
            t.billing_account_id.in_(part),
            t.invoice_id.is_(None),
            t.started_at < period_end,
        )
        for row in (await session.execute(q)).all():
            found[row[0]].append(ToCharge(*row[1:]))
    return found


_SET_INVOICED_PG = text(
    "UPDATE usage_records SET invoice_id = v.invoice_id, amount = v.amount "
    "FROM unnest(CAST(:record_ids AS varchar[]), CAST(:invoice_ids AS uuid[]), "
    "CAST(:amounts AS numeric[])) AS v(record_id, invoice_id, amount) "
    "WHERE usage_records.record_id = v.record_id AND usage_records.invoice_id IS NULL"
)


class UsageTaken(Exception):
    """Records read for an invoice were put on another one meanwhile (two runs of
    different periods for one account at once): nothing of this invoice may be kept."""


async def set_invoiced(
    session: AsyncSession, charged: list[tuple[str, uuid.UUID, Decimal]]
) -> None:
    """Put each record (id) on its invoice with the amount the invoice charges for it,
    in one write per record. PostgreSQL: one UPDATE joined to three arrays per 20,000
    records, instead of an executemany of one UPDATE per record. Raises UsageTaken (roll
    back) when a record is already on an invoice."""
    assert session.bind is not None
    if session.bind.dialect.name == "postgresql":
        for part in chunks(charged, 20_000):
            result = await session.execute(
                _SET_INVOICED_PG,
                {
                    "record_ids": [r for r, _, _ in part],
                    "invoice_ids": [i for _, i, _ in part],
                    "amounts": [a for _, _, a in part],
                },
            )
            if getattr(result, "rowcount", len(part)) != len(part):
                raise UsageTaken("usage records were invoiced by another run meanwhile")
        return
    params = [{"record_id": r, "invoice_id": i, "amount": a} for r, i, a in charged]
    for rows in chunks(params):
        await session.execute(update(UsageRecord), rows)  # by primary key


async def page_invoice_usage(
    session: AsyncSession,
    invoice_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
    usage: UsageFilter = ANY_USAGE,
) -> Page[UsageRecord]:
    q = select(UsageRecord).where(UsageRecord.invoice_id == invoice_id, *usage.where())
    rows = list(await session.scalars(USAGE.apply(q, cursor, limit)))
    return USAGE.page(rows, limit)


async def invoice_usage(
    session: AsyncSession, invoice_id: uuid.UUID, usage: UsageFilter = ANY_USAGE
) -> list[UsageRecord]:
    """All of an invoice's call details (an export), in the order of its pages."""
    q = select(UsageRecord).where(UsageRecord.invoice_id == invoice_id, *usage.where())
    q = q.order_by(UsageRecord.started_at, UsageRecord.record_id)
    return list(await session.scalars(q))


@dataclass(frozen=True)
class InsightRow:
    period: str
    line: str
    kind: str
    records: int
    quantity: int
    amount: Decimal


async def invoiced_usage_by_line(
    session: AsyncSession,
    customer_id: uuid.UUID,
    account_ids: list[uuid.UUID] | None,
    period_from: str,
    period_to: str,
    usage: UsageFilter = ANY_USAGE,
) -> list[InsightRow]:
    """Invoiced usage only: an open period is never shown as billed."""
    q = select(
        UsageRecord.period,
        UsageRecord.line,
        UsageRecord.kind,
        func.count(),
        func.coalesce(func.sum(UsageRecord.quantity), 0),
        func.coalesce(func.sum(UsageRecord.amount), 0),
    ).where(
        UsageRecord.customer_id == customer_id,
        UsageRecord.invoice_id.is_not(None),
        UsageRecord.period >= period_from,
        UsageRecord.period <= period_to,
        *usage.where(),
    )
    if account_ids is not None:
        q = q.where(UsageRecord.billing_account_id.in_(account_ids))
    q = q.group_by(UsageRecord.period, UsageRecord.line, UsageRecord.kind)
    rows = await session.execute(q)
    return [
        InsightRow(p, line, k, int(n), int(qty), money(a)) for p, line, k, n, qty, a in rows.all()
    ]
