from decimal import Decimal

import pytest

from billing.domain.catalogue import seed_history
from billing.domain.rating import (
    ExclusionRules,
    Zone,
    normalise_destination,
    rate,
    validate_patterns,
    zone_of,
)

# The standard prices of the seed catalogue (billing/catalogue/seed.json).
PRICES = seed_history().versions[0].prices


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("112", "112"),
        ("0800123456", "0800123456"),
        ("+32800123456", "0800123456"),
        ("+3280012345", "080012345"),
        ("0032 800 12 345", "080012345"),
        ("+32 (0)800-12.345", "080012345"),
        ("tel:+32112", "112"),
        ("+32116000", "116000"),
        ("+32470123456", "0470123456"),
        ("+33612345678", "+33612345678"),
        ("internet.proximus.be", "internet.proximus.be"),
    ],
)
def test_normalise_destination(raw, expected):
    assert normalise_destination(raw) == expected


@pytest.mark.parametrize(
    "destination",
    [
        "112",
        "101",
        "100",
        "102",
        "106",
        "110",
        "116000",
        "116111",
        "0800123456",
        "080012345",
        "+32800123456",
        "+3280012345",
        "0032 800 12 345",
        "+32112",
    ],
)
def test_free_and_emergency_numbers_are_excluded(destination):
    rules = ExclusionRules()
    assert rules.is_excluded("voice", destination)
    assert rules.is_excluded("sms", destination)


@pytest.mark.parametrize(
    "destination",
    [
        "0470123456",
        "+32470123456",
        "021234567",
        "1120",
        "11600",
        "1160001",
        "0112345678",
        "+33112",
        "0900123456",
        "+33800123456",
    ],
)
def test_normal_numbers_are_not_excluded(destination):
    assert not ExclusionRules().is_excluded("voice", destination)


def test_data_is_never_excluded():
    assert not ExclusionRules().is_excluded("data", "112")


def test_rules_are_configurable():
    rules = ExclusionRules(["1733", "0900*"])
    assert rules.is_excluded("voice", "1733")
    assert rules.is_excluded("voice", "+32900123456")
    assert not rules.is_excluded("voice", "112")


@pytest.mark.parametrize("bad", ["", "*", "11a", "1*2"])
def test_bad_patterns_are_refused(bad):
    with pytest.raises(ValueError):
        validate_patterns([bad])


@pytest.mark.parametrize(
    ("seconds", "amount"),
    [
        (0, "0.00"),  # unanswered
        (1, "0.10"),  # first minute charged in full
        (60, "0.10"),
        (61, "0.10"),  # 0.101666... -> 0.10
        (75, "0.13"),  # 0.125 -> half up
        (90, "0.15"),
        (3600, "6.00"),
    ],
)
def test_national_voice_first_minute_then_per_second(seconds, amount):
    rated = rate("voice", "0470123456", seconds, PRICES)
    assert rated.zone is Zone.NATIONAL
    assert rated.amount == Decimal(amount)


def test_international_voice_is_pricier():
    assert rate("voice", "+33612345678", 120, PRICES).amount == Decimal("0.38")  # EU cap 0.19/min
    assert rate("voice", "+33612345678", 120, PRICES).zone is Zone.EU
    assert rate("voice", "+15551234567", 120, PRICES).amount == Decimal("2.00")
    assert rate("voice", "+15551234567", 120, PRICES).zone is Zone.WORLD


def test_sms_per_message():
    assert rate("sms", "0470123456", 3, PRICES).amount == Decimal("0.24")
    assert rate("sms", "+4917012345678", 1, PRICES).amount == Decimal("0.06")
    assert rate("sms", "+819012345678", 2, PRICES).amount == Decimal("0.60")


@pytest.mark.parametrize(
    ("volume", "amount"),
    [(0, "0.00"), (1, "0.01"), (1_000_000, "0.01"), (1_000_001, "0.02"), (2_500_000_000, "25.00")],
)
def test_data_per_started_megabyte(volume, amount):
    assert rate("data", "internet", volume, PRICES).amount == Decimal(amount)


def test_negative_quantity_refused():
    with pytest.raises(ValueError):
        rate("voice", "0470123456", -1, PRICES)


@pytest.mark.parametrize(
    ("kind", "destination"),
    [
        ("voice", "112"),
        ("sms", "0800 12 345"),
        ("voice", "+32 475 12 34 56"),
        ("voice", "0033 1 23 45 67 89"),
        ("sms", "+1 212 555 0100"),
        ("data", "internet"),
        ("data", "112"),
    ],
)
def test_zone_unless_excluded_agrees_with_is_excluded_and_zone_of(kind, destination):
    rules = ExclusionRules()
    expected = None if rules.is_excluded(kind, destination) else zone_of(kind, destination)
    assert rules.zone_unless_excluded(kind, destination) == expected
