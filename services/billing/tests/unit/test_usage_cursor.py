"""The unbilled-usage cursor: its time is UTC, also in cursors written without offset."""

from datetime import UTC, datetime

from billing.repository.usage import _after


def _times(cursor: dict[str, str]) -> set[datetime]:
    clause = _after(cursor)
    params = clause.compile().params.values()
    return {value for value in params if isinstance(value, datetime)}


def test_cursor_time_is_aware_utc() -> None:
    at = datetime(2026, 1, 1, 8, 30, 0, 5, tzinfo=UTC)
    assert _times({"s": at.isoformat(), "r": "r1"}) == {at}


def test_cursor_without_offset_is_read_as_utc() -> None:
    # What the API handed out while SQLite gave naive times.
    assert _times({"s": "2026-01-01T08:30:00.000005", "r": "r1"}) == {
        datetime(2026, 1, 1, 8, 30, 0, 5, tzinfo=UTC)
    }
