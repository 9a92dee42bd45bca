"""Rating at the standard prices of the catalogue, and the free/emergency number exclusion.

Pure functions over plain data. Rules (documented in the service README):

* Destinations are normalised to the Belgian national form before anything else:
  separators and a ``tel:`` prefix are dropped, ``00`` becomes ``+``, and ``+32`` becomes
  the trunk ``0`` (``+32800123456`` -> ``0800123456``) except for short numbers (at most
  6 digits after ``+32``), which have no trunk prefix (``+32112`` -> ``112``).
* A voice or SMS record whose normalised destination matches an exclusion pattern is
  excluded. Data records have an APN, not a number, and are never excluded.
* Voice: the first minute is charged in full, then per second. SMS: per message.
  Data: per started megabyte (1 MB = 1,000,000 bytes) per session.
* Each record's amount is rounded half-up to cents; invoice lines are sums of records,
  so call details and invoices always agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

CENT = Decimal("0.01")

DEFAULT_EXCLUDED_DESTINATIONS: tuple[str, ...] = (
    "100",  # ambulance and fire (legacy)
    "101",  # police
    "102",  # Awel (children and young people)
    "106",  # Tele-Onthaal
    "110",  # Child Focus hotline (legacy)
    "112",  # European emergency number
    "116xxx",  # harmonised European services of social value
    "0800*",  # free-phone numbers
)

_PATTERN_RE = re.compile(r"^\+?[0-9xX]*\*?$")
_SEPARATORS_RE = re.compile(r"[\s.\-/()]")
_NUMBER_RE = re.compile(r"\+?\d+")
_SHORT_NUMBER_MAX_DIGITS = 6


def normalise_destination(raw: str) -> str:
    """A phone number in Belgian national form (``0...``), a short number (``112``), or
    ``+<cc>...`` for a foreign number. Anything that is not a number (an APN) is
    returned lower-cased and trimmed."""
    value = raw.strip()
    if value.lower().startswith("tel:"):
        value = value[4:]
    compact = _SEPARATORS_RE.sub("", value)
    if not _NUMBER_RE.fullmatch(compact):
        return raw.strip().lower()
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if compact.startswith("+32"):
        rest = compact[3:]
        if rest.startswith("0"):  # "+32 0800..." written with the trunk zero
            rest = rest[1:]
        return rest if len(rest) <= _SHORT_NUMBER_MAX_DIGITS else "0" + rest
    return compact


def validate_patterns(patterns: list[str]) -> list[str]:
    cleaned = [p.strip() for p in patterns]
    for p in cleaned:
        if not p or not _PATTERN_RE.match(p) or p == "*":
            raise ValueError(
                f"exclusion pattern {p!r}: use digits, 'x' for any digit, a trailing '*'"
            )
    return cleaned


def _compile(pattern: str) -> re.Pattern[str]:
    body = pattern.rstrip("*")
    regex = "".join(r"\d" if ch in "xX" else re.escape(ch) for ch in body)
    if pattern.endswith("*"):
        regex += ".*"
    return re.compile(f"^{regex}$")


class ExclusionRules:
    """The configurable list of free and emergency numbers (law may extend it)."""

    def __init__(self, patterns: list[str] | tuple[str, ...] = DEFAULT_EXCLUDED_DESTINATIONS):
        self.patterns = validate_patterns(list(patterns))
        # One alternation of every pattern: one match per record, not one per pattern.
        self._any = re.compile("|".join(f"(?:{_compile(p).pattern})" for p in self.patterns))

    def is_excluded(self, kind: str, destination: str) -> bool:
        if kind == "data":
            return False
        return self._any.match(normalise_destination(destination)) is not None

    def zone_unless_excluded(self, kind: str, destination: str) -> Zone | None:
        """``zone_of`` the record, or None when ``is_excluded``: the destination is
        normalised once for both (ingestion asks both of every record)."""
        if kind == "data":
            return Zone.NATIONAL
        number = normalise_destination(destination)
        return None if self._any.match(number) is not None else _zone_of_number(number)


class Zone(StrEnum):
    NATIONAL = "national"
    EU = "eu"
    WORLD = "world"


# Calling codes of the other EU member states (EEA rules are the same for our prices).
EU_CALLING_CODES: frozenset[str] = frozenset(
    {
        "30", "31", "33", "34", "351", "352", "353", "354", "356", "357", "358", "359",
        "36", "370", "371", "372", "385", "386", "39", "40", "420", "421", "423", "43",
        "45", "46", "47", "48", "49",
    }
)  # fmt: skip


_EU_CODE_LENGTHS = sorted({len(cc) for cc in EU_CALLING_CODES})


def zone_of(kind: str, destination: str) -> Zone:
    if kind == "data":
        return Zone.NATIONAL
    return _zone_of_number(normalise_destination(destination))


def _zone_of_number(number: str) -> Zone:
    """The zone of a number already normalised (``normalise_destination``)."""
    if not number.startswith("+"):
        return Zone.NATIONAL
    # A calling code is a prefix of the digits: look up each possible length.
    if any(number[1 : 1 + n] in EU_CALLING_CODES for n in _EU_CODE_LENGTHS):
        return Zone.EU
    return Zone.WORLD


@dataclass(frozen=True)
class Tariff:
    voice_per_minute: Decimal
    sms_per_message: Decimal


@dataclass(frozen=True)
class PriceList:
    """Standard prices of one catalogue version (``billing.domain.catalogue``), EUR excl.
    VAT. Calls and SMS to other EU countries are capped by Regulation (EU) 2018/1971
    (0.19/min, 0.06/SMS)."""

    zones: dict[Zone, Tariff]
    data_per_mb: Decimal


BYTES_PER_MB = 1_000_000
VOICE_MINIMUM_S = 60


def billable_seconds(seconds: int) -> int:
    """The first minute is charged in full, then per second; unanswered (0 s) is free."""
    return 0 if seconds == 0 else max(seconds, VOICE_MINIMUM_S)


def started_mb(octets: int) -> int:
    return -(-octets // BYTES_PER_MB)


def to_cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Rated:
    zone: Zone
    quantity: int
    amount: Decimal


def rate(kind: str, destination: str, quantity: int, prices: PriceList) -> Rated:
    """Price one record at standard prices (no allowance: that is
    ``billing.domain.charging``, when the invoice is made). ``quantity`` is seconds
    (voice), messages (sms) or bytes (data)."""
    return rate_in_zone(kind, zone_of(kind, destination), quantity, prices)


def rate_in_zone(kind: str, zone: Zone, quantity: int, prices: PriceList) -> Rated:
    """``rate`` for a record whose zone is already known (``zone_of``)."""
    if quantity < 0:
        raise ValueError("quantity must not be negative")
    tariff = prices.zones[zone]
    if kind == "voice":
        amount = tariff.voice_per_minute * billable_seconds(quantity) / 60
    elif kind == "sms":
        amount = tariff.sms_per_message * quantity
    elif kind == "data":
        amount = prices.data_per_mb * started_mb(quantity)
    else:
        raise ValueError(f"unknown usage kind {kind!r}")
    return Rated(zone=zone, quantity=quantity, amount=to_cents(amount))
