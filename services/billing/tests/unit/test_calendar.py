from datetime import UTC, date, datetime, timedelta

import pytest

from billing.domain.calendar import (
    InvalidPeriod,
    Period,
    add_working_days,
    due_date,
    due_period,
    is_belgian_working_day,
    months_before,
    objection_deadline,
    objection_open,
)


def test_weekend_is_skipped():
    # Friday 20 Nov 2026 -> Mon..Fri of the next week
    assert add_working_days(date(2026, 11, 20), 5) == date(2026, 11, 27)
    # made available on a Saturday: counting starts Monday
    assert add_working_days(date(2026, 11, 21), 5) == date(2026, 11, 27)


def test_christmas_is_skipped():
    # Mon 21 Dec 2026: 22, 23, 24, (25 Christmas, 26-27 weekend), 28, 29
    assert add_working_days(date(2026, 12, 21), 5) == date(2026, 12, 29)


def test_easter_monday_2027_is_skipped():
    # Easter Monday is 29 March 2027: Fri 26, (weekend, Mon 29), 30, 31, 1 Apr, 2 Apr
    assert not is_belgian_working_day(date(2027, 3, 29))
    assert add_working_days(date(2027, 3, 25), 5) == date(2027, 4, 2)


def test_all_saints_and_armistice_are_skipped():
    # 1 Nov 2027 is a Monday, 11 Nov 2027 a Thursday
    assert add_working_days(date(2027, 10, 29), 5) == date(2027, 11, 8)
    assert add_working_days(date(2027, 11, 8), 5) == date(2027, 11, 16)


def test_objection_deadline_uses_belgian_local_date():
    # 23:30 UTC on Sunday 20 Dec 2026 is already Monday 21 Dec in Brussels
    available = datetime(2026, 12, 20, 23, 30, tzinfo=UTC)
    assert objection_deadline(available) == date(2026, 12, 29)


def test_objection_open_until_end_of_deadline_day_brussels():
    deadline = date(2026, 12, 29)
    assert objection_open(deadline, datetime(2026, 12, 29, 22, 59, tzinfo=UTC))
    assert not objection_open(deadline, datetime(2026, 12, 29, 23, 0, tzinfo=UTC))


def test_due_date_is_thirty_days_after_issue():
    assert due_date(datetime(2026, 12, 2, 10, tzinfo=UTC)) == date(2027, 1, 1)


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-1", "26-01", "", "2026-00", "abcd-ef", "1999-12"]
)
def test_bad_periods_are_refused(text):
    with pytest.raises(InvalidPeriod):
        Period.parse(text)


def test_period_bounds_are_brussels_months():
    p = Period.parse("2026-11")
    assert p.starts_at == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)  # CET, UTC+1
    assert p.ends_at == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert Period.parse("2026-07").starts_at == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)  # CEST
    assert Period.of(datetime(2026, 10, 31, 23, 30, tzinfo=UTC)) == p
    assert Period.text_of(datetime(2026, 10, 31, 23, 30, tzinfo=UTC)) == "2026-11"
    assert Period.text_of(datetime(2026, 10, 31, 22, 59, tzinfo=UTC)) == "2026-10"
    assert str(Period.parse("2026-12").next()) == "2027-01"
    assert str(Period.parse("2027-01").previous()) == "2026-12"


def test_only_ended_periods_may_be_billed():
    p = Period.parse("2026-11")
    assert not p.has_ended(datetime(2026, 11, 30, 22, 59, tzinfo=UTC))
    assert p.has_ended(datetime(2026, 11, 30, 23, 0, tzinfo=UTC))


def test_months_before_clamps_the_day():
    assert months_before(datetime(2027, 8, 31, tzinfo=UTC), 6) == datetime(2027, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2027, 1, 15, tzinfo=UTC), 12) == datetime(2026, 1, 15, tzinfo=UTC)


def test_the_scheduler_closes_the_previous_month_only_after_the_delay():
    delay = timedelta(hours=8)
    # November ends at 2026-11-30 23:00 UTC (midnight in Brussels).
    assert str(due_period(datetime(2026, 12, 1, 6, 59, tzinfo=UTC), delay=delay)) == "2026-10"
    assert str(due_period(datetime(2026, 12, 1, 7, 0, tzinfo=UTC), delay=delay)) == "2026-11"
    assert str(due_period(datetime(2026, 12, 31, 22, 0, tzinfo=UTC), delay=delay)) == "2026-11"


def test_the_due_period_crosses_the_year_boundary():
    assert str(due_period(datetime(2027, 1, 15, tzinfo=UTC), delay=timedelta(0))) == "2026-12"
    assert str(due_period(datetime(2027, 1, 1, 0, 30, tzinfo=UTC), delay=timedelta(hours=8))) == (
        "2026-11"
    )
