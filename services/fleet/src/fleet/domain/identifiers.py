"""Validation and normalisation of the numbers that identify SIMs and devices.

Pure functions: each returns the canonical form or raises ``ValueError`` with a message
fit for a 422 answer. Check digits come from python-stdnum (Luhn, IMEI, IMSI tables)
rather than hand-written arithmetic.
"""

from __future__ import annotations

import re

from stdnum import imei as stdnum_imei
from stdnum import luhn
from stdnum.exceptions import ValidationError as StdnumError

BELGIAN_MCC = "206"

# Separators people type in numbers: spaces, dots, dashes, slashes.
_SEPARATORS = re.compile(r"[\s./-]")
_DIGITS = re.compile(r"^\d+$")
# Belgian mobile numbers: +32 4xx xx xx xx (nine national digits starting with 4).
_BELGIAN_MOBILE = re.compile(r"^\+324\d{8}$")


def _compact(value: str) -> str:
    return _SEPARATORS.sub("", value.strip())


def normalize_iccid(value: str) -> str:
    """ICCID (ITU-T E.118): 19 or 20 digits, the last one a Luhn check digit."""
    number = _compact(value)
    if not _DIGITS.match(number):
        raise ValueError("an ICCID has digits only")
    if not 19 <= len(number) <= 20:
        raise ValueError("an ICCID has 19 or 20 digits")
    if not luhn.is_valid(number):
        raise ValueError("the ICCID's check digit is wrong")
    return number


def normalize_msisdn(value: str) -> str:
    """A Belgian mobile number in E.164 (``+324xxxxxxxx``).

    Accepts the national form (``0470 12 34 56``), the international prefixes ``0032``
    and ``32``, and separators; anything that is not a Belgian mobile number is refused.
    """
    number = _compact(value)
    if number.startswith("+"):
        pass
    elif number.startswith("0032"):
        number = "+" + number[2:]
    elif number.startswith("0"):
        number = "+32" + number[1:]
    elif number.startswith("32"):
        number = "+" + number
    if not _BELGIAN_MOBILE.match(number):
        raise ValueError("not a Belgian mobile number (expected +324xxxxxxxx or 04xxxxxxxx)")
    return number


def normalize_imsi(value: str) -> str:
    """IMSI: 15 digits starting with Belgium's mobile country code 206."""
    number = _compact(value)
    if not _DIGITS.match(number) or len(number) != 15:
        raise ValueError("an IMSI has 15 digits")
    if not number.startswith(BELGIAN_MCC):
        raise ValueError(f"the IMSI's country code is not Belgium's ({BELGIAN_MCC})")
    return number


def normalize_imei(value: str) -> str:
    """IMEI: 15 digits with a Luhn check digit (IMEISV and 14-digit forms are refused)."""
    number = _compact(value)
    if not _DIGITS.match(number) or len(number) != 15:
        raise ValueError("an IMEI has 15 digits")
    try:
        stdnum_imei.validate(number)
    except StdnumError:
        raise ValueError("the IMEI's check digit is wrong") from None
    return number


def is_valid_msisdn(value: str) -> bool:
    try:
        normalize_msisdn(value)
    except ValueError:
        return False
    return True
