import pytest
from fleet_factories import new_id, sim_body
from pydantic import ValidationError
from stdnum import luhn

from fleet.api.schemas import DeviceBody, ProvisionSim
from fleet.service.listing import search_terms

ICCID = "893200000000000001" + luhn.calc_check_digit("893200000000000001")


def _sim(**overrides):
    body = sim_body(new_id(), iccid=ICCID, msisdn="0470 12 34 56")
    return ProvisionSim.model_validate({**body, **overrides})


def test_a_provisioning_request_is_normalised():
    sim = _sim()
    assert sim.msisdn == "+32470123456"
    assert sim.iccid == ICCID


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("iccid", ICCID[:-1] + str((int(ICCID[-1]) + 1) % 10)),
        ("msisdn", "+3221234567"),
        ("imsi", "204081234567890"),
    ],
)
def test_each_bad_identifier_of_a_provisioning_request_is_named(field, value):
    # Plans and options are checked against billing's catalogue by the use case (422 too).
    with pytest.raises(ValidationError) as caught:
        _sim(**{field: value})
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


def test_unknown_fields_are_refused():
    with pytest.raises(ValidationError):
        _sim(pin="1234")


def test_a_company_device_needs_an_imei_and_a_personal_one_does_not():
    with pytest.raises(ValidationError, match="needs its imei"):
        DeviceBody.model_validate({"ownership": "company", "brand": "X"})
    assert DeviceBody.model_validate({"ownership": "personal"}).imei is None
    with pytest.raises(ValidationError, match="check digit"):
        DeviceBody.model_validate({"ownership": "company", "imei": "490154203237519"})


def test_a_search_for_a_national_number_also_matches_its_e164_form():
    assert search_terms("0470 12") == ["+3247012", "047012"]
    assert search_terms("8932") == ["8932"]
    assert search_terms("  ") is None
