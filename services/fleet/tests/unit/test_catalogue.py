from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fleet_catalogue import CATALOGUE as catalogue
from fleet_catalogue import catalogue_event

from fleet.domain.catalogue import Catalogue, ProductConflict, UnknownProduct, valid_at


def test_the_catalogue_is_read_from_billings_event():
    fees = {code: p.monthly_fee for code, p in catalogue.plans.items()}
    assert fees == {
        "SMART_S": Decimal("15.00"),
        "SMART_M": Decimal("25.00"),
        "SMART_L": Decimal("40.00"),
        "DATA_ONLY": Decimal("10.00"),
    }
    options = {code: o.monthly_fee for code, o in catalogue.options.items()}
    assert options == {
        "ROAMING_EU": Decimal("5.00"),
        "DATA_5GB": Decimal("7.50"),
        "INTL_CALLS": Decimal("4.00"),
    }


def test_the_monthly_fee_is_the_plan_plus_every_option():
    assert catalogue.monthly_fee("SMART_M", []) == Decimal("25.00")
    assert catalogue.monthly_fee("SMART_M", ["ROAMING_EU", "DATA_5GB"]) == Decimal("37.50")


def test_changing_to_the_same_plan_is_a_conflict():
    with pytest.raises(ProductConflict, match="already has tariff plan SMART_S"):
        catalogue.check_plan_change("SMART_S", "SMART_S", [])


def test_an_unknown_plan_is_bad_input_not_a_conflict():
    with pytest.raises(UnknownProduct, match="unknown tariff plan"):
        catalogue.check_plan_change("SMART_S", "GOLD", [])


def test_a_plan_change_keeps_compatible_options():
    assert catalogue.check_plan_change("SMART_S", "SMART_L", ["ROAMING_EU", "INTL_CALLS"])


def test_a_plan_change_that_would_orphan_an_option_is_refused():
    with pytest.raises(ProductConflict, match="INTL_CALLS cannot be combined with DATA_ONLY"):
        catalogue.check_plan_change("SMART_S", "DATA_ONLY", ["INTL_CALLS", "ROAMING_EU"])


def test_international_calls_need_a_plan_with_voice():
    assert not catalogue.option("INTL_CALLS").fits("DATA_ONLY")
    with pytest.raises(ProductConflict, match="cannot be combined"):
        catalogue.check_option_added("DATA_ONLY", [], "INTL_CALLS")
    assert catalogue.check_option_added("DATA_ONLY", [], "DATA_5GB").code == "DATA_5GB"


def test_an_option_cannot_be_added_twice_nor_removed_when_absent():
    with pytest.raises(ProductConflict, match="already has option ROAMING_EU"):
        catalogue.check_option_added("SMART_M", ["ROAMING_EU"], "ROAMING_EU")
    with pytest.raises(ProductConflict, match="does not have option DATA_5GB"):
        catalogue.check_option_removed(["ROAMING_EU"], "DATA_5GB")


def test_an_unknown_option_is_bad_input():
    with pytest.raises(UnknownProduct):
        catalogue.check_option_added("SMART_M", [], "NETFLIX")
    with pytest.raises(UnknownProduct):
        catalogue.check_option_removed([], "NETFLIX")


def test_the_initial_subscription_must_be_consistent():
    assert catalogue.check_initial_subscription("SMART_M", ["ROAMING_EU", "DATA_5GB"]) == [
        "DATA_5GB",
        "ROAMING_EU",
    ]
    with pytest.raises(ValueError, match="twice"):
        catalogue.check_initial_subscription("SMART_M", ["DATA_5GB", "DATA_5GB"])
    with pytest.raises(ValueError, match="cannot be combined"):
        catalogue.check_initial_subscription("DATA_ONLY", ["INTL_CALLS"])


def test_extra_data_adds_to_the_plan_allowance_and_unlimited_stays_unlimited():
    assert catalogue.included_data_mb("SMART_S", ["DATA_5GB"]) == 5_120 + 5_120
    assert catalogue.plan("SMART_M").voice_min is None


def test_the_version_valid_now_is_the_latest_that_has_started():
    v1 = catalogue
    dearer = datetime(2027, 1, 1, tzinfo=UTC)
    v2 = Catalogue.from_document(
        catalogue_event(2, dearer, smart_s_fee="18.00").model_dump(mode="json")
    )
    assert valid_at([v2, v1], dearer - timedelta(seconds=1)) is v1
    assert valid_at([v1, v2], dearer).monthly_fee("SMART_S", []) == Decimal("18.00")
    assert valid_at([v2], dearer - timedelta(seconds=1)) is None
