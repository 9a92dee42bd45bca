"""The delivery rules, without servers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from einvoice import domain


@dataclass
class Rec:
    channel: str
    status: str
    scope: str = domain.SCOPE_ACCOUNT
    requested_at: datetime = datetime(2026, 11, 1, tzinfo=UTC)
    activated_at: datetime | None = None
    effective_from_period: str | None = None


T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


# -- state machine ----------------------------------------------------------------------


def test_email_channel_goes_pending_then_active_then_cancelled():
    status = domain.PENDING_CONFIRMATION
    status = domain.transition(status, domain.ACTIVE)
    status = domain.transition(status, domain.CANCELLED)
    assert status == domain.CANCELLED


def test_unconfirmed_request_expires_and_stays_expired():
    assert domain.transition(domain.PENDING_CONFIRMATION, domain.EXPIRED) == domain.EXPIRED
    for target in (domain.ACTIVE, domain.CANCELLED, domain.PENDING_CONFIRMATION):
        with pytest.raises(domain.InvalidTransition):
            domain.transition(domain.EXPIRED, target)


def test_bank_request_is_accepted_or_refused_never_expired():
    assert domain.transition(domain.PENDING_BANK_ACCEPTANCE, domain.ACTIVE) == domain.ACTIVE
    assert domain.transition(domain.PENDING_BANK_ACCEPTANCE, domain.REFUSED) == domain.REFUSED
    with pytest.raises(domain.InvalidTransition):
        domain.transition(domain.PENDING_BANK_ACCEPTANCE, domain.EXPIRED)


@pytest.mark.parametrize("terminal", [domain.CANCELLED, domain.REFUSED, domain.SUPERSEDED])
def test_ended_channels_do_not_come_back(terminal):
    with pytest.raises(domain.InvalidTransition):
        domain.transition(terminal, domain.ACTIVE)


def test_an_active_channel_cannot_go_back_to_pending():
    with pytest.raises(domain.InvalidTransition):
        domain.transition(domain.ACTIVE, domain.PENDING_CONFIRMATION)


# -- which channel serves, which one is shown ------------------------------------------


def test_nothing_chosen_means_paper():
    assert domain.in_force([]) is None
    assert domain.shown([]) is None


def test_pending_request_is_shown_but_the_current_channel_stays_in_force():
    pending = Rec("email", domain.PENDING_CONFIRMATION, requested_at=at(1))
    assert domain.shown([pending]) is pending
    assert domain.in_force([pending]) is None  # still paper until confirmed

    active = Rec("email", domain.ACTIVE, requested_at=at(0), activated_at=at(0))
    change = Rec("email", domain.PENDING_CONFIRMATION, requested_at=at(2))
    assert domain.in_force([active, change]) is active
    assert domain.shown([active, change]) is change


def test_cancelled_shows_paper_and_expired_shows_expired():
    cancelled = Rec("email", domain.CANCELLED, activated_at=at(0))
    assert domain.shown([cancelled]) is None
    expired = Rec("email", domain.EXPIRED, requested_at=at(3))
    assert domain.shown([cancelled, expired]) is expired
    assert domain.in_force([cancelled, expired]) is None


def test_superseded_records_are_invisible():
    old = Rec("email", domain.SUPERSEDED, requested_at=at(5))
    active = Rec("bank_app", domain.ACTIVE, requested_at=at(1), activated_at=at(2))
    assert domain.shown([old, active]) is active


def test_latest_activation_wins():
    bank = Rec("bank_app", domain.ACTIVE, activated_at=at(1))
    email = Rec("email", domain.ACTIVE, scope=domain.SCOPE_CUSTOMER_FIXED, activated_at=at(2))
    assert domain.in_force([bank, email]) is email
    assert domain.in_force([email, bank]) is email


def test_bank_app_serves_from_its_effective_period_earlier_invoices_fall_back():
    email = Rec("email", domain.ACTIVE, scope=domain.SCOPE_CUSTOMER_FIXED, activated_at=at(0))
    bank = Rec("bank_app", domain.ACTIVE, activated_at=at(5), effective_from_period="2026-11")
    assert domain.in_force([email, bank], period="2026-11") is bank
    assert domain.in_force([email, bank], period="2026-12") is bank
    assert domain.in_force([email, bank], period="2026-10") is email
    assert domain.in_force([bank], period="2026-10") is None  # paper


def test_bank_effective_period_is_the_cycle_in_progress_at_acceptance():
    assert domain.bank_effective_period(datetime(2026, 11, 26, 7, tzinfo=UTC)) == "2026-11"
    assert domain.bank_effective_period(datetime(2026, 12, 31, 23, tzinfo=UTC)) == "2026-12"


# -- scope: one e-mail activation covers every fixed account of the customer ------------


def test_fixed_accounts_of_a_customer_share_one_email_scope():
    customer = uuid.uuid4()
    a, b = uuid.uuid4(), uuid.uuid4()
    scope = domain.email_scope("fixed")
    assert scope == domain.SCOPE_CUSTOMER_FIXED
    key_a = domain.scope_key(scope, customer_id=customer, billing_account_id=a)
    key_b = domain.scope_key(scope, customer_id=customer, billing_account_id=b)
    assert key_a == key_b


def test_mobile_accounts_each_have_their_own_email_scope():
    customer = uuid.uuid4()
    scope = domain.email_scope("mobile")
    assert scope == domain.SCOPE_ACCOUNT
    keys = {
        domain.scope_key(scope, customer_id=customer, billing_account_id=uuid.uuid4())
        for _ in range(2)
    }
    assert len(keys) == 2


def test_a_customer_wide_fixed_channel_concerns_fixed_accounts_only():
    record = Rec("email", domain.ACTIVE, scope=domain.SCOPE_CUSTOMER_FIXED)
    assert domain.applies_to(record, kind="fixed")
    assert not domain.applies_to(record, kind="mobile")


# -- input checks -----------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["BE68539007547034", "BE68 5390 0754 7034", "be71 0961 2345 6769"])
def test_valid_belgian_ibans_are_accepted_and_compacted(raw):
    assert domain.normalize_belgian_iban(raw) == raw.replace(" ", "").upper()


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("BE68539007547035", "IBAN"),  # ISO mod-97 fails
        ("NL91ABNA0417164300", "Belgian"),  # valid, but Dutch
        ("BE4500170000008", "IBAN"),  # too short
        ("BE45001700000089", "IBAN"),
        ("not an iban", "IBAN"),
    ],
)
def test_invalid_or_foreign_ibans_are_refused(raw, why):
    with pytest.raises(ValueError, match=why):
        domain.normalize_belgian_iban(raw)


def test_belgian_national_check_is_applied_on_top_of_iso():
    # ISO-valid checksum recomputed for a BBAN whose national check digits are wrong.
    bban = "5390075470" + "35"
    from stdnum import iban

    check = iban.calc_check_digits("BE00" + bban)
    with pytest.raises(ValueError, match="check digits"):
        domain.normalize_belgian_iban(f"BE{check}{bban}")


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("0470 12 34 56", "+32470123456"),
        ("+32 470 12 34 56", "+32470123456"),
        ("0032470123456", "+32470123456"),
        ("+33612345678", "+33612345678"),
    ],
)
def test_mobile_numbers_are_normalized_to_e164(raw, e164):
    assert domain.normalize_mobile(raw) == e164


@pytest.mark.parametrize("raw", ["02 123 45 67", "12345", "+32 470", "hello"])
def test_fixed_lines_and_junk_are_not_mobile_numbers(raw):
    with pytest.raises(ValueError):
        domain.normalize_mobile(raw)


def test_email_addresses_are_checked():
    assert domain.normalize_email(" invoices@Example.com ") == "invoices@example.com"
    with pytest.raises(ValueError):
        domain.normalize_email("not-an-address")


def test_alerts_need_at_least_one_and_sms_needs_a_mobile():
    assert domain.check_alerts(["sms", "email", "sms"], "+32470123456") == ["email", "sms"]
    with pytest.raises(ValueError, match="at least one"):
        domain.check_alerts([], None)
    with pytest.raises(ValueError, match="mobile"):
        domain.check_alerts(["email", "sms"], None)


def test_iban_is_masked_for_display():
    assert domain.mask_iban("BE68539007547034") == "BE68********7034"


# -- secrets and ids --------------------------------------------------------------------


def test_bank_signature_is_hmac_sha256_of_the_raw_body():
    body = b'{"billing_account_id": "x", "decision": "accepted", "reference": "r"}'
    signature = domain.bank_signature(body, "s3cret")
    assert len(signature) == 64
    assert domain.bank_signature_valid(body, "s3cret", signature)
    assert domain.bank_signature_valid(body, "s3cret", signature.upper())
    assert not domain.bank_signature_valid(body + b" ", "s3cret", signature)
    assert not domain.bank_signature_valid(body, "other", signature)
    assert not domain.bank_signature_valid(body, "s3cret", None)
    assert not domain.bank_signature_valid(body, "s3cret", "")


def test_only_a_digest_of_the_token_is_kept():
    token = domain.new_confirmation_token()
    assert len(token) >= 40
    assert domain.token_digest(token) != token
    assert domain.token_digest(token) == domain.token_digest(token)
    assert domain.new_confirmation_token() != token


def test_notification_request_ids_are_stable_per_invoice_and_channel():
    invoice = uuid.uuid4()
    email = domain.notification_request_id(invoice, "email")
    assert email == domain.notification_request_id(invoice, "email")
    assert email != domain.notification_request_id(invoice, "sms")
    assert email != domain.notification_request_id(uuid.uuid4(), "email")
