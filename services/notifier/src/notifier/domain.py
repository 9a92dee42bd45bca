"""Rules of the notifier as plain functions: statuses, retry schedule, failure
classification, recipient resolution and what may be shown or logged."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal
from uuid import UUID

Channel = Literal["email", "sms"]


class Status(StrEnum):
    PENDING = "pending"
    WAITING_FOR_RECIPIENT = "waiting_for_recipient"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


IN_PROGRESS = frozenset({Status.PENDING, Status.WAITING_FOR_RECIPIENT, Status.SENDING})

# Notices about the deactivation itself still reach a deactivated user; everything else
# addressed to them through the directory is refused.
DELIVERED_TO_INACTIVE = frozenset({"account_deactivated", "account_deactivation_notice"})

ERROR_MAX_LEN = 500


class DeliveryError(Exception):
    """A send did not go through. ``transient`` decides between retrying and giving up;
    ``outage`` says the provider (or our own configuration of it) failed, not the message
    or its recipient: such a failure does not use up the message's attempts, and a run of
    them opens the channel's circuit breaker. ``dependency`` says one of our own services
    the message needs (billing for the invoice PDF, identity for our token) is
    unavailable: no attempt is used up either, but the channel stays open for the other
    messages."""

    def __init__(
        self, reason: str, *, transient: bool, outage: bool = False, dependency: bool = False
    ) -> None:
        self.reason = scrub_error(reason)
        self.transient = transient or outage or dependency
        self.outage = outage
        self.dependency = dependency
        super().__init__(self.reason)

    @property
    def spends_no_attempt(self) -> bool:
        return self.outage or self.dependency


def transient(reason: str) -> DeliveryError:
    return DeliveryError(reason, transient=True)


def outage(reason: str) -> DeliveryError:
    """The mail server or gateway is unreachable, refuses us, or is misconfigured."""
    return DeliveryError(reason, transient=True, outage=True)


def dependency_down(reason: str) -> DeliveryError:
    """A service of ours the message needs is unreachable or failing (5xx)."""
    return DeliveryError(reason, transient=True, dependency=True)


def permanent(reason: str) -> DeliveryError:
    return DeliveryError(reason, transient=False)


# -- retry schedule -----------------------------------------------------------------------


def retry_delay(attempt: int, *, initial_s: float, max_s: float) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): doubling, capped."""
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    # min() on the exponent keeps 2**n finite for absurd attempt counts.
    return min(initial_s * 2 ** min(attempt - 1, 60), max_s)


@dataclass(frozen=True)
class RetryAt:
    at: datetime


@dataclass(frozen=True)
class GiveUp:
    reason: str


def after_failure(
    error: DeliveryError,
    *,
    attempts: int,
    max_attempts: int,
    now: datetime,
    initial_s: float,
    max_s: float,
) -> RetryAt | GiveUp:
    """What to do once attempt number ``attempts`` failed with ``error``."""
    if not error.transient:
        return GiveUp(error.reason)
    if attempts >= max_attempts:
        return GiveUp(f"{error.reason} (gave up after {attempts} attempts)"[:ERROR_MAX_LEN])
    delay = retry_delay(attempts, initial_s=initial_s, max_s=max_s)
    return RetryAt(now + timedelta(seconds=delay))


# -- classification of provider answers ----------------------------------------------------


def classify_smtp_code(code: int) -> bool:
    """True when an SMTP reply code is transient (4xx), False when permanent (5xx).

    Anything else (e.g. -1 for "no reply") is treated as transient: we know nothing
    about the message, only that the conversation broke.
    """
    return not 500 <= code <= 599


def classify_http_status(status: int) -> Literal["ok", "transient", "permanent"]:
    """A gateway's HTTP status: 2xx delivered; 5xx, 408 and 429 retried; other 4xx final."""
    if 200 <= status <= 299:
        return "ok"
    if status >= 500 or status in (408, 425, 429):
        return "transient"
    return "permanent"


# -- recipients ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectoryEntry:
    email: str | None
    mobile: str | None
    locale: str
    active: bool


@dataclass(frozen=True)
class Resolved:
    address: str
    locale: str
    source: Literal["request", "directory"]


@dataclass(frozen=True)
class Waiting:
    """The request names a user the directory does not know (yet)."""


@dataclass(frozen=True)
class Unreachable:
    reason: str


Resolution = Resolved | Waiting | Unreachable


def resolve_recipient(
    *,
    channel: Channel,
    template: str,
    requested_locale: str,
    email: str | None,
    mobile: str | None,
    user_id: UUID | None,
    entry: DirectoryEntry | None,
) -> Resolution:
    """Where to send and in which language.

    An explicit address in the request wins (producers such as einvoice send to an
    address that is not the login e-mail). Otherwise the user's address and language
    come from the directory: the language the user chose beats the producer's guess.
    """
    explicit = email if channel == "email" else mobile
    if explicit:
        locale = entry.locale if entry is not None and user_id is not None else requested_locale
        return Resolved(explicit, locale, "request")
    if user_id is None:
        return Unreachable(f"no {channel} address in the request")
    if entry is None:
        return Waiting()
    if not entry.active and template not in DELIVERED_TO_INACTIVE:
        return Unreachable("recipient is deactivated")
    address = entry.email if channel == "email" else entry.mobile
    if not address:
        what = "e-mail address" if channel == "email" else "mobile number"
        return Unreachable(f"recipient has no {what}")
    return Resolved(address, entry.locale, "directory")


def recipient_key(channel: Channel, user_id: UUID | None, address: str | None) -> str:
    """Who the message is for, for the one-message-per-recipient uniqueness rule."""
    if user_id is not None:
        return f"user:{user_id}"
    return f"{channel}:{(address or '').strip().lower()}"


def dedupe_key(request_id: UUID, channel: Channel, recipient: str) -> str:
    return f"req:{request_id}:{channel}:{recipient}"


# -- personal data -----------------------------------------------------------------------

_EMAIL = re.compile(r"<?[\w.+-]+@[\w-]+(\.[\w-]+)*>?")
_PHONE = re.compile(r"\+?\d[\d ]{7,}\d")


def scrub_error(text: str) -> str:
    """An error as it may be stored, published and logged: no addresses, no numbers."""
    text = _EMAIL.sub("<address>", text)
    text = _PHONE.sub("<number>", text)
    text = " ".join(text.split())
    return text[:ERROR_MAX_LEN]


def mask_address(address: str | None) -> str | None:
    """Enough for operator staff to recognise an address, not to harvest it."""
    if not address:
        return None
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    return f"{address[:4]}***{address[-2:]}" if len(address) > 6 else "***"


def attachment_filename(invoice_number: str | None, invoice_id: UUID) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", invoice_number or "") or str(invoice_id)
    return f"invoice-{stem}.pdf"
