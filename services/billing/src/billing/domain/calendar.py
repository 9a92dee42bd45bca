"""Billing periods, Belgian working days, due dates and retention cut-offs.

Periods are calendar months in Belgian local time (Europe/Brussels): a call at 00:30 on
1 November in Brussels belongs to November even though it is still 31 October in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

BRUSSELS = ZoneInfo("Europe/Brussels")
_PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class InvalidPeriod(ValueError):
    pass


@lru_cache(maxsize=512)
def _month_start(year: int, month: int) -> datetime:
    # Cached: charging asks for a period's bounds for every SIM of a billing run.
    return datetime(year, month, 1, tzinfo=BRUSSELS).astimezone(UTC)


@dataclass(frozen=True, order=True)
class Period:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PERIOD_RE.match(text or "")
        if not match:
            raise InvalidPeriod(f"{text!r} is not a period (YYYY-MM)")
        year = int(match[1])
        if year < 2000:
            raise InvalidPeriod(f"{text!r} is too far in the past")
        return cls(year, int(match[2]))

    @classmethod
    def of(cls, moment: datetime) -> Period:
        """The period a moment falls in (Belgian local time)."""
        local = moment.astimezone(BRUSSELS)
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @staticmethod
    def text_of(moment: datetime) -> str:
        """``str(Period.of(moment))`` without the Period (once per usage record)."""
        local = moment.astimezone(BRUSSELS)
        return f"{local.year:04d}-{local.month:02d}"

    def next(self) -> Period:
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Period:
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    @property
    def starts_at(self) -> datetime:
        """First instant of the period, as an aware UTC datetime."""
        return _month_start(self.year, self.month)

    @property
    def ends_at(self) -> datetime:
        """First instant after the period (exclusive end), aware UTC."""
        return self.next().starts_at

    def has_ended(self, now: datetime) -> bool:
        return now >= self.ends_at


def due_period(now: datetime, *, delay: timedelta) -> Period:
    """The latest period whose end lies at least ``delay`` before ``now``: the one the
    scheduler closes. The delay lets usage records of the period's last hours arrive
    from the network before the period is invoiced."""
    return Period.of(now - delay).previous()


def local_date(moment: datetime) -> date:
    return moment.astimezone(BRUSSELS).date()


@lru_cache(maxsize=64)
def _belgian_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("BE", years=year).keys())


def is_belgian_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _belgian_holidays(day.year)


def add_working_days(start: date, days: int) -> date:
    """The ``days``-th Belgian working day after ``start`` (``start`` itself not counted)."""
    if days < 1:
        raise ValueError("days must be at least 1")
    current = start
    counted = 0
    while counted < days:
        current += timedelta(days=1)
        if is_belgian_working_day(current):
            counted += 1
    return current


def objection_deadline(available_at: datetime, working_days: int = 5) -> date:
    """Last day on which the customer may object to an invoice made available at
    ``available_at``: ``working_days`` Belgian working days after the day it became
    available (weekends and Belgian public holidays do not count)."""
    return add_working_days(local_date(available_at), working_days)


def objection_open(deadline: date, now: datetime) -> bool:
    """Objections are accepted until the end of the deadline day, Belgian time."""
    return local_date(now) <= deadline


def due_date(issued_at: datetime, payment_term_days: int = 30) -> date:
    return local_date(issued_at) + timedelta(days=payment_term_days)


def months_before(moment: datetime, months: int) -> datetime:
    """The same instant ``months`` calendar months earlier (day clamped to month end)."""
    total = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    day = min(moment.day, _days_in_month(year, month))
    return moment.replace(year=year, month=month, day=day)


def _days_in_month(year: int, month: int) -> int:
    nxt = date(year + month // 12, month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


@dataclass(frozen=True)
class RetentionCutoffs:
    usage_before: datetime  # call details started before this are deleted
    invoices_before: datetime  # invoice data issued before this is deleted (all accounts)
    fixed_invoices_before: datetime  # a fixed account's invoice header and PDF go here


def retention_cutoffs(
    now: datetime, *, usage_months: int, invoice_months: int, fixed_pdf_months: int
) -> RetentionCutoffs:
    return RetentionCutoffs(
        usage_before=months_before(now, usage_months),
        invoices_before=months_before(now, invoice_months),
        fixed_invoices_before=months_before(now, max(invoice_months, fixed_pdf_months)),
    )
