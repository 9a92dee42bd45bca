"""Identity's rules as plain functions over plain data (no FastAPI, no SQLAlchemy)."""

from __future__ import annotations

import calendar
import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any, Literal
from zoneinfo import ZoneInfo

from stdnum.be import vat as be_vat
from stdnum.exceptions import ValidationError as StdnumError

# -- enterprise numbers ----------------------------------------------------------------


def normalize_enterprise_number(value: str) -> str:
    """A Belgian enterprise number (KBO/BCE) as 10 digits, mod-97 checked.

    Accepts the usual spellings: ``0403.170.701``, ``BE0403170701``, ``BE 0403 170 701``
    and the old 9-digit form. Raises ValueError with a user-facing message.
    """
    try:
        return str(be_vat.validate(value))
    except StdnumError as exc:
        raise ValueError("not a valid Belgian enterprise number (10 digits, mod-97 check)") from exc


# -- passwords -------------------------------------------------------------------------

PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 256  # argon2 copes with more; this bounds the work per request


def password_problems(password: str, email: str | None = None) -> list[str]:
    """Why a password is refused; empty when it is acceptable."""
    problems: list[str] = []
    if len(password) < PASSWORD_MIN_LENGTH:
        problems.append(f"must be at least {PASSWORD_MIN_LENGTH} characters")
    if len(password) > PASSWORD_MAX_LENGTH:
        problems.append(f"must be at most {PASSWORD_MAX_LENGTH} characters")
    if not (any(c.isalpha() for c in password) and any(c.isdigit() for c in password)):
        problems.append("must mix letters and digits")
    if email and password.strip().casefold() == email.strip().casefold():
        problems.append("must not be the e-mail address")
    return problems


def normalize_email(email: str) -> str:
    """Login e-mails compare case-insensitively: we store and look them up lowercased."""
    return email.strip().lower()


# -- one-time secrets ------------------------------------------------------------------


def new_secret() -> str:
    """A one-time secret for links and refresh tokens (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    """Only this is stored: a database leak does not hand out working tokens.

    A plain SHA-256 suffices (no salt, no stretching) because the secrets are 256-bit
    random values, not guessable passwords.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


# -- profiles --------------------------------------------------------------------------

ACCESS_OWNER = "access_owner"
ACCESS_MANAGER = "access_manager"


def registrant_profile(wants_access_owner: bool) -> str:
    """The registrant is access owner, or access manager when the form says the customer
    wants no access owner [8.1.2]."""
    return ACCESS_OWNER if wants_access_owner else ACCESS_MANAGER


def contract_ended(ends_on: date | None, today: date) -> bool:
    return ends_on is not None and ends_on < today


# -- termination [2.2.2] ---------------------------------------------------------------

# The agreement is Belgian: calendar days and months are counted in Brussels local time.
BRUSSELS = ZoneInfo("Europe/Brussels")
CUSTOMER_NOTICE_DAYS = 15
OPERATOR_NOTICE_MONTHS = 3

NoticeBy = Literal["customer", "operator"]


def local_date(moment: datetime, tz: ZoneInfo = BRUSSELS) -> date:
    """The calendar day the aware ``moment`` falls on in Brussels."""
    return moment.astimezone(tz).date()


def add_months(day: date, months: int) -> date:
    """The same day of the month ``months`` later, clamped to that month's last day
    (31 January + 1 month = 28 or 29 February)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def termination_effective_on(by: NoticeBy, requested_on: date) -> date:
    """The day a termination takes effect [2.2.2]: notice by the customer is 15 calendar
    days, by the operator 3 months (same day of the month, clamped to the month's end).
    ``requested_on`` is the Brussels date the notice was given."""
    if by == "customer":
        return requested_on + timedelta(days=CUSTOMER_NOTICE_DAYS)
    if by == "operator":
        return add_months(requested_on, OPERATOR_NOTICE_MONTHS)
    raise ValueError(f"unknown notice giver: {by!r}")


def termination_due(effective_on: date, today: date) -> bool:
    """A termination takes effect at the start of its effective day (Brussels)."""
    return effective_on <= today


class NoticeRefusal(Enum):
    OPERATOR_ONLY = "Only operator staff may give or withdraw the operator's notice"
    ACCESS_OWNER_ONLY = "Only an access owner of the customer may give or withdraw its notice"
    NOT_FOR_SERVICES = "Services do not give or withdraw notice"


def notice_refusal(
    by: NoticeBy, *, actor_kind: str, actor_profile: str | None
) -> NoticeRefusal | None:
    """Why an actor may not give notice of termination ``by`` someone; None if allowed.

    The operator gives its own notice; the customer's is given by one of its access
    owners, or by operator staff acting for it (a letter, a phone call). ``actor_profile``
    is the acting user's profile *in this customer* (None when not one of its users).
    """
    if actor_kind == "service":
        return NoticeRefusal.NOT_FOR_SERVICES
    if actor_kind == "operator":
        return None
    if by == "operator":
        return NoticeRefusal.OPERATOR_ONLY
    if actor_profile != ACCESS_OWNER:
        return NoticeRefusal.ACCESS_OWNER_ONLY
    return None


def withdrawal_refusal(
    by: NoticeBy, *, actor_kind: str, actor_profile: str | None
) -> NoticeRefusal | None:
    """Who may withdraw a pending notice: operator staff any; an access owner only the
    customer's own (the operator's notice is the operator's decision)."""
    return notice_refusal(by, actor_kind=actor_kind, actor_profile=actor_profile)


# -- confirmation links ----------------------------------------------------------------


class LinkState(Enum):
    VALID = "valid"
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"


def confirmation_state(
    *, found: bool, used_at: datetime | None, expires_at: datetime | None, now: datetime
) -> LinkState:
    if not found:
        return LinkState.UNKNOWN
    if used_at is not None:
        return LinkState.USED
    if expires_at is None or expires_at <= now:
        return LinkState.EXPIRED
    return LinkState.VALID


# -- refresh-token rotation ------------------------------------------------------------


class RefreshOutcome(Enum):
    ROTATE = "rotate"  # valid: issue a new token in the same family
    REJECT = "reject"  # unknown, expired or already revoked: 401
    REVOKE_FAMILY = "revoke_family"  # reuse of a rotated token: 401 and revoke everything


@dataclass(frozen=True)
class RefreshTokenState:
    found: bool
    used: bool = False
    family_revoked: bool = False
    expired: bool = False
    user_active: bool = True


def refresh_outcome(state: RefreshTokenState) -> RefreshOutcome:
    """The rotation rule: a refresh token works once.

    A token presented a second time means two parties hold it (a thief and the user);
    we cannot tell which is which, so the whole family goes. Reuse is checked before
    expiry and revocation so it is always recorded as reuse.
    """
    if not state.found:
        return RefreshOutcome.REJECT
    if state.used:
        return RefreshOutcome.REJECT if state.family_revoked else RefreshOutcome.REVOKE_FAMILY
    if state.family_revoked or state.expired:
        return RefreshOutcome.REJECT
    if not state.user_active:
        return RefreshOutcome.REVOKE_FAMILY
    return RefreshOutcome.ROTATE


# -- audit chain -----------------------------------------------------------------------

GENESIS_HASH = "0" * 64


def canonical_json(data: Mapping[str, Any]) -> str:
    """Stable text of an entry: sorted keys, no spaces, UTF-8, datetimes in UTC ISO."""

    def default(value: Any) -> str:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError(f"naive datetime {value.isoformat()} in an audit entry")
            return value.astimezone(UTC).isoformat(timespec="microseconds")
        if isinstance(value, date):
            return value.isoformat()
        return str(value)

    return json.dumps(
        dict(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=default
    )


def chain_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """sha256(previous hash + canonical JSON of the entry), hex."""
    return hashlib.sha256((prev_hash + canonical_json(entry)).encode()).hexdigest()


@dataclass(frozen=True)
class ChainEntry:
    seq: int
    prev_hash: str
    hash: str
    entry: Mapping[str, Any]  # the hashed content (includes seq)


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None
    expected: str | None = None  # what the broken link should hold (a hash or a seq)
    found: str | None = None  # what it holds


def verify_chain(entries: Iterable[ChainEntry]) -> ChainCheck:
    """Recompute every link in order; report the first entry that does not match.

    Catches an edited entry (its hash no longer matches), a deleted or inserted entry
    (the next ``prev_hash`` or ``seq`` breaks) and a rewritten hash (the next link breaks).
    """
    expected_prev = GENESIS_HASH
    expected_seq: int | None = None
    checked = 0
    for item in entries:
        if expected_seq is not None and item.seq != expected_seq:
            return ChainCheck(
                False, checked, item.seq, "sequence gap", str(expected_seq), str(item.seq)
            )
        if item.entry.get("seq") != item.seq:
            return ChainCheck(False, checked, item.seq, "sequence number altered")
        if item.prev_hash != expected_prev:
            return ChainCheck(
                False,
                checked,
                item.seq,
                "link to previous entry broken",
                expected_prev,
                item.prev_hash,
            )
        recomputed = chain_hash(item.prev_hash, item.entry)
        if recomputed != item.hash:
            return ChainCheck(
                False, checked, item.seq, "entry content altered", recomputed, item.hash
            )
        expected_prev = item.hash
        expected_seq = item.seq + 1
        checked += 1
    return ChainCheck(True, checked)
