import pytest
from stdnum import luhn

from fleet.domain.identifiers import (
    normalize_iccid,
    normalize_imei,
    normalize_imsi,
    normalize_msisdn,
)


def with_check_digit(body: str) -> str:
    return body + luhn.calc_check_digit(body)


@pytest.mark.parametrize("length", [19, 20])
def test_an_iccid_of_19_or_20_digits_with_a_good_check_digit_is_accepted(length):
    iccid = with_check_digit("8932" + "0" * (length - 6) + "7")
    assert normalize_iccid(iccid) == iccid


def test_an_iccid_is_compacted():
    iccid = with_check_digit("893200000000000001")
    spaced = f"{iccid[:4]} {iccid[4:10]}-{iccid[10:]}"
    assert normalize_iccid(spaced) == iccid


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (with_check_digit("89320000000000001"), "19 or 20"),  # 18 digits
        (with_check_digit("89320000000000000000001"), "19 or 20"),  # 24
        ("893200000000000000A", "digits only"),
        ("", "digits only"),
    ],
)
def test_an_iccid_of_the_wrong_shape_is_refused(value, message):
    with pytest.raises(ValueError, match=message):
        normalize_iccid(value)


def test_an_iccid_with_a_wrong_check_digit_is_refused():
    good = with_check_digit("893200000000000001")
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    with pytest.raises(ValueError, match="check digit"):
        normalize_iccid(bad)


@pytest.mark.parametrize(
    "value",
    [
        "+32470123456",
        "0470123456",
        "0470 12 34 56",
        "0470/12.34.56",
        "0032470123456",
        "32470123456",
        "+32 470 12 34 56",
    ],
)
def test_belgian_mobile_numbers_are_normalised_to_e164(value):
    assert normalize_msisdn(value) == "+32470123456"


@pytest.mark.parametrize(
    "value",
    [
        "+3221234567",  # Brussels fixed line
        "021234567",
        "+31612345678",  # Dutch mobile
        "+3247012345",  # one digit short
        "+324701234567",  # one digit long
        "047012345a",
        "",
    ],
)
def test_anything_but_a_belgian_mobile_number_is_refused(value):
    with pytest.raises(ValueError, match="Belgian mobile"):
        normalize_msisdn(value)


def test_a_belgian_imsi_is_accepted():
    assert normalize_imsi("206 01 1234567890") == "206011234567890"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("20601123456789", "15 digits"),
        ("2060112345678901", "15 digits"),
        ("20601123456789X", "15 digits"),
        ("204081234567890", "Belgium"),  # Dutch MCC
    ],
)
def test_an_imsi_that_is_not_15_digits_of_belgium_is_refused(value, message):
    with pytest.raises(ValueError, match=message):
        normalize_imsi(value)


def test_an_imei_with_a_good_luhn_digit_is_accepted():
    assert normalize_imei("49-015420-323751-8") == "490154203237518"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("490154203237519", "check digit"),
        ("49015420323751", "15 digits"),  # no check digit
        ("4901542032375186", "15 digits"),  # IMEISV
        ("49015420323751X", "15 digits"),
    ],
)
def test_a_bad_imei_is_refused(value, message):
    with pytest.raises(ValueError, match=message):
        normalize_imei(value)
