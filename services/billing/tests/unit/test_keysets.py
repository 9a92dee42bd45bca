"""The lists' cursors: positions come back typed (times aware UTC); foreign ones are 400s."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from billing.repository.invoices import INVOICES
from billing.repository.usage import USAGE
from servicekit.pagination import encode_cursor
from servicekit.problems import BadRequest


def test_a_usage_cursor_keeps_its_time_aware_utc() -> None:
    at = datetime(2026, 1, 1, 8, 30, 0, 5, tzinfo=UTC)
    cursor = USAGE.encode(SimpleNamespace(started_at=at, record_id="r1"))
    assert USAGE.decode(cursor) == [at, "r1"]


def test_an_invoice_cursor_is_period_and_id() -> None:
    invoice_id = uuid.uuid4()
    cursor = INVOICES.encode(SimpleNamespace(period="2026-10", id=invoice_id))
    assert INVOICES.decode(cursor) == ["2026-10", invoice_id]


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 !",
        # The position format these lists handed out before they used Keyset.
        encode_cursor({"s": "2026-01-01T08:30:00", "r": "r1"}),
        encode_cursor({"k": ["2026-01-01T08:30:00+00:00"]}),  # one value short
        encode_cursor({"k": ["yesterday", "r1"]}),
    ],
)
def test_a_cursor_this_list_did_not_make_is_refused(cursor: str) -> None:
    with pytest.raises(BadRequest):
        USAGE.decode(cursor)
