"""Rules of invoice delivery, as plain functions over plain data.

A *channel record* is one request for an e-invoice channel (e-mail or bank app) and its
life: pending -> active -> cancelled, or pending -> expired / refused. Paper is not a
record: it is what an account gets when no e-invoice channel is active for it.

Scope: an e-mail channel of a *fixed* billing account is chosen once for the whole
customer (one activation covers all the customer's fixed accounts); an e-mail channel of
a mobile account and every bank-app channel belong to one billing account.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal, Protocol, TypeVar

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from stdnum import iban as std_iban
from stdnum.exceptions import ValidationError as StdnumError

ChannelName = Literal["paper", "email", "bank_app", "peppol"]
AccountKind = Literal["fixed", "mobile"]
Alert = Literal["email", "sms"]

PENDING_CONFIRMATION = "pending_confirmation"
PENDING_BANK_ACCEPTANCE = "pending_bank_acceptance"
ACTIVE = "active"
CANCELLED = "cancelled"
EXPIRED = "expired"
REFUSED = "refused"
# Internal only (never published): a newer request or activation in the same scope
# replaced this one. Consumers learn the new state from the newer record's event.
SUPERSEDED = "superseded"

PENDING = frozenset({PENDING_CONFIRMATION, PENDING_BANK_ACCEPTANCE})
LIVE = PENDING | {ACTIVE}

TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING_CONFIRMATION: frozenset({ACTIVE, EXPIRED, CANCELLED, SUPERSEDED}),
    PENDING_BANK_ACCEPTANCE: frozenset({ACTIVE, REFUSED, CANCELLED, SUPERSEDED}),
    ACTIVE: frozenset({CANCELLED, SUPERSEDED}),
}

SCOPE_CUSTOMER_FIXED = "customer_fixed"
SCOPE_ACCOUNT = "billing_account"

# What the delivery log says happened, per channel.
# A bank-app delivery until the bank-delivery job has handed it to the bank adapter.
QUEUED_FOR_BANK = "queued_for_bank"
# A Peppol delivery until the Peppol-delivery job has handed it to the access point.
QUEUED_FOR_ACCESS_POINT = "queued_for_access_point"
DELIVERY_STATUS: dict[str, str] = {
    "email": "notification_requested",
    "bank_app": "handed_to_bank_adapter",
    "peppol": "handed_to_access_point",
    "paper": "queued_for_print",
}

# Fixed namespace: notification request ids derived from it never change between
# releases, so a redelivered invoice.closed yields the very same request_id.
REQUEST_ID_NAMESPACE = uuid.UUID("5b0f4c1e-8a3d-4f6b-9e21-7c4d2a9b8e10")


class InvalidTransition(Exception):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"a {current} channel cannot become {target}")
        self.current = current
        self.target = target


def transition(current: str, target: str) -> str:
    """The new status, or InvalidTransition when the state machine forbids the move."""
    if target not in TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(current, target)
    return target


class ChannelLike(Protocol):
    """What the rules need to know of a channel record (the ORM row satisfies it)."""

    @property
    def channel(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def scope(self) -> str: ...
    @property
    def requested_at(self) -> datetime: ...
    @property
    def activated_at(self) -> datetime | None: ...
    @property
    def effective_from_period(self) -> str | None: ...


C = TypeVar("C", bound=ChannelLike)


def email_scope(kind: str) -> str:
    return SCOPE_CUSTOMER_FIXED if kind == "fixed" else SCOPE_ACCOUNT


def scope_key(scope: str, *, customer_id: uuid.UUID, billing_account_id: uuid.UUID) -> str:
    """One string per scope, so "one active channel per scope" is a unique index."""
    if scope == SCOPE_CUSTOMER_FIXED:
        return f"fixed:{customer_id}"
    return f"account:{billing_account_id}"


def applies_to(record: ChannelLike, *, kind: str) -> bool:
    """Whether a record found for an account's customer concerns that account's kind."""
    return record.scope != SCOPE_CUSTOMER_FIXED or kind == "fixed"


def in_force(records: Iterable[C], *, period: str | None = None) -> C | None:
    """The channel an invoice goes out on (None = paper).

    ``records`` are those that concern one account (its own, plus the customer-wide
    fixed e-mail channel for a fixed account). The most recent activation wins; a bank
    app channel serves invoices from its ``effective_from_period`` on, earlier invoices
    fall back to the next channel in line.
    """
    active = sorted(
        (r for r in records if r.status == ACTIVE),
        key=lambda r: r.activated_at or r.requested_at,
        reverse=True,
    )
    for record in active:
        starts = record.effective_from_period
        if period is None or starts is None or period >= starts:
            return record
    return None


def shown(records: Iterable[C]) -> C | None:
    """The record a customer sees for an account: its latest request and where it stands
    (pending, active, expired, refused). None = paper (nothing chosen, or cancelled)."""
    visible = [r for r in records if r.status != SUPERSEDED]
    if not visible:
        return None
    latest = max(visible, key=lambda r: r.requested_at)
    return None if latest.status == CANCELLED else latest


# -- periods ----------------------------------------------------------------------------


def period_of(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def bank_effective_period(accepted_at: datetime) -> str:
    """A bank-app channel delivers from the billing cycle in progress when the bank
    reported the acceptance: its invoice is the next one billing closes."""
    return period_of(accepted_at)


# -- input checks (raise ValueError with a message fit for a 422) ------------------------


def normalize_email(raw: str) -> str:
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid e-mail address: {exc}") from None
    return str(result.normalized)


def normalize_mobile(raw: str) -> str:
    """A mobile number in E.164; Belgian national notation (0470 12 34 56) is accepted."""
    try:
        number = phonenumbers.parse(raw, "BE")
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    kind = phonenumbers.number_type(number)
    if kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise ValueError("not a mobile number (an SMS alert needs one)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_alerts(alerts: Sequence[str], mobile: str | None) -> list[str]:
    """Alerts as a sorted set; at least one; "sms" needs a mobile number."""
    chosen = sorted(set(alerts))
    if not chosen:
        raise ValueError("choose at least one alert: email, sms or both")
    if "sms" in chosen and not mobile:
        raise ValueError("an SMS alert needs a mobile number")
    return chosen


def normalize_belgian_iban(raw: str) -> str:
    """A Belgian IBAN, compact: ISO 13616 mod-97 plus the Belgian national mod-97 check.

    ``stdnum.be.iban.validate`` also demands that the bank code be in its registry; we
    don't, because that list lags behind new banks and the bank itself refuses unknown
    accounts when it answers the invitation.
    """
    try:
        number = std_iban.validate(raw, check_country=False)
    except StdnumError:
        raise ValueError("not a valid IBAN") from None
    if not number.startswith("BE") or len(number) != 16:
        raise ValueError("not a Belgian IBAN (BE followed by 14 digits)")
    bban = number[4:]
    national_check = int(bban[:10]) % 97 or 97
    if int(bban[10:]) != national_check:
        raise ValueError("the Belgian account number's check digits are wrong")
    return number


def mask_iban(iban: str) -> str:
    return f"{iban[:4]}{'*' * (len(iban) - 8)}{iban[-4:]}"


# -- secrets ------------------------------------------------------------------------------


def new_confirmation_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """Only this digest is stored: a database leak must not yield working links."""
    return hashlib.sha256(token.encode()).hexdigest()


def bank_signature(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def bank_signature_valid(body: bytes, secret: str, signature: str | None) -> bool:
    if not signature:
        return False
    return hmac.compare_digest(bank_signature(body, secret), signature.strip().lower())


def notification_request_id(invoice_id: uuid.UUID, channel: str) -> uuid.UUID:
    """Deterministic per (invoice, channel): a second request for the same invoice carries
    the same id, so the notifier sends one message even if we asked twice."""
    return uuid.uuid5(REQUEST_ID_NAMESPACE, f"invoice:{invoice_id}:{channel}")
