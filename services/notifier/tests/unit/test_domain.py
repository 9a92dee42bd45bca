import uuid
from datetime import UTC, datetime, timedelta

import pytest

from notifier.domain import (
    DirectoryEntry,
    GiveUp,
    Resolved,
    RetryAt,
    Unreachable,
    Waiting,
    after_failure,
    attachment_filename,
    classify_http_status,
    classify_smtp_code,
    mask_address,
    permanent,
    recipient_key,
    resolve_recipient,
    retry_delay,
    scrub_error,
    transient,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_retry_schedule_doubles_and_is_capped() -> None:
    delays = [retry_delay(n, initial_s=30, max_s=3600) for n in range(1, 10)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert retry_delay(10_000, initial_s=30, max_s=3600) == 3600
    with pytest.raises(ValueError):
        retry_delay(0, initial_s=1, max_s=2)


def test_transient_failure_is_retried_until_max_attempts() -> None:
    kw = {"max_attempts": 3, "now": NOW, "initial_s": 30.0, "max_s": 3600.0}
    first = after_failure(transient("smtp 451 try later"), attempts=1, **kw)
    assert first == RetryAt(NOW + timedelta(seconds=30))
    second = after_failure(transient("smtp 451 try later"), attempts=2, **kw)
    assert second == RetryAt(NOW + timedelta(seconds=60))
    last = after_failure(transient("smtp 451 try later"), attempts=3, **kw)
    assert isinstance(last, GiveUp) and "after 3 attempts" in last.reason


def test_permanent_failure_is_never_retried() -> None:
    out = after_failure(
        permanent("smtp 550 no such user"),
        attempts=1,
        max_attempts=8,
        now=NOW,
        initial_s=1,
        max_s=2,
    )
    assert out == GiveUp("smtp 550 no such user")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, "ok"),
        (202, "ok"),
        (400, "permanent"),
        (401, "permanent"),
        (404, "permanent"),
        (422, "permanent"),
        (408, "transient"),
        (429, "transient"),
        (500, "transient"),
        (502, "transient"),
        (503, "transient"),
    ],
)
def test_http_status_classification(status: int, expected: str) -> None:
    assert classify_http_status(status) == expected


@pytest.mark.parametrize(
    ("code", "is_transient"), [(421, True), (450, True), (451, True), (550, False), (554, False)]
)
def test_smtp_code_classification(code: int, is_transient: bool) -> None:
    assert classify_smtp_code(code) is is_transient


USER = uuid.uuid4()
ENTRY = DirectoryEntry(email="anne@acme.example", mobile="+32470000001", locale="fr", active=True)


def resolve(**kw: object) -> object:
    args: dict[str, object] = {
        "channel": "email",
        "template": "user_confirmation",
        "requested_locale": "nl",
        "email": None,
        "mobile": None,
        "user_id": None,
        "entry": None,
    }
    args.update(kw)
    return resolve_recipient(**args)  # type: ignore[arg-type]


def test_explicit_address_wins_over_directory() -> None:
    got = resolve(email="billing@acme.example", user_id=USER, entry=ENTRY)
    assert got == Resolved("billing@acme.example", "fr", "request")


def test_explicit_address_without_user_keeps_requested_language() -> None:
    assert resolve(email="x@acme.example") == Resolved("x@acme.example", "nl", "request")


def test_user_only_uses_directory_address_and_language() -> None:
    assert resolve(user_id=USER, entry=ENTRY) == Resolved("anne@acme.example", "fr", "directory")
    got = resolve(channel="sms", template="invoice_available_sms", user_id=USER, entry=ENTRY)
    assert got == Resolved("+32470000001", "fr", "directory")


def test_unknown_user_waits() -> None:
    assert resolve(user_id=USER) == Waiting()


def test_user_without_mobile_cannot_get_sms() -> None:
    entry = DirectoryEntry(email="a@b.example", mobile=None, locale="nl", active=True)
    got = resolve(channel="sms", user_id=USER, entry=entry)
    assert isinstance(got, Unreachable) and "mobile" in got.reason


def test_deactivated_user_gets_only_deactivation_notices() -> None:
    entry = DirectoryEntry(email="a@b.example", mobile=None, locale="en", active=False)
    assert isinstance(resolve(user_id=USER, entry=entry), Unreachable)
    got = resolve(template="account_deactivated", user_id=USER, entry=entry)
    assert got == Resolved("a@b.example", "en", "directory")


def test_recipient_key() -> None:
    assert recipient_key("email", USER, "x@y.z") == f"user:{USER}"
    assert recipient_key("email", None, " X@Y.Z ") == "email:x@y.z"


def test_errors_are_scrubbed_of_personal_data() -> None:
    text = scrub_error("550 5.1.1 <anne.dupont@acme.example>: Recipient address rejected")
    assert "anne" not in text and "<address>" in text
    assert "32470123456" not in scrub_error("gateway refused +32470123456")
    assert len(scrub_error("x" * 2000)) == 500


def test_masking() -> None:
    assert mask_address("anne@acme.example") == "a***@acme.example"
    assert mask_address("+32470123456") == "+324***56"
    assert mask_address(None) is None


def test_attachment_filename() -> None:
    invoice = uuid.uuid4()
    assert attachment_filename("F2026-000123", invoice) == "invoice-F2026-000123.pdf"
    assert attachment_filename("../../etc/passwd", invoice) == "invoice-.._.._etc_passwd.pdf"
    assert attachment_filename(None, invoice) == f"invoice-{invoice}.pdf"


def test_delivery_log_cursor_time_is_aware_utc() -> None:
    from notifier.repository import NEWEST_FIRST
    from servicekit.pagination import encode_cursor

    nid = uuid.uuid4()
    at = datetime(2026, 1, 1, 8, 30, 0, 5, tzinfo=UTC)
    assert NEWEST_FIRST.decode(encode_cursor({"k": [at.isoformat(), str(nid)]})) == [at, nid]
    # A time without offset is UTC (the column type refuses naive datetimes).
    after = NEWEST_FIRST.decode(encode_cursor({"k": ["2026-01-01T08:30:00.000005", str(nid)]}))
    assert after == [at, nid] and after[0].tzinfo is UTC
