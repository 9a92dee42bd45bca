import pytest

from billing.settings import BillingSettings


def test_exclusions_from_env_as_a_comma_list(monkeypatch):
    monkeypatch.setenv("BILLING_EXCLUDED_DESTINATIONS", "112, 0800*,1733")
    assert BillingSettings().excluded_destinations == ["112", "0800*", "1733"]


def test_exclusions_from_env_as_json(monkeypatch):
    monkeypatch.setenv("BILLING_EXCLUDED_DESTINATIONS", '["116xxx", "0800*"]')
    assert BillingSettings().excluded_destinations == ["116xxx", "0800*"]


def test_bad_exclusion_pattern_refused_at_start_up(monkeypatch):
    monkeypatch.setenv("BILLING_EXCLUDED_DESTINATIONS", "11a")
    with pytest.raises(ValueError):
        BillingSettings()


def test_defaults_cover_the_legal_list():
    assert set(BillingSettings().excluded_destinations) >= {"112", "0800*", "116xxx", "101"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BILLING_SUPPLIER_ENTERPRISE_NUMBER", "0202239952"),  # mod-97 check fails
        ("BILLING_SUPPLIER_IBAN", "BE48001123456728"),  # IBAN check digits fail
        ("BILLING_SUPPLIER_BIC", "GEBA"),
    ],
)
def test_a_wrong_supplier_mention_is_refused_at_start_up(monkeypatch, name, value):
    """Every invoice would carry it: better not to start."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError):
        BillingSettings()


def test_supplier_numbers_are_kept_compact(monkeypatch):
    monkeypatch.setenv("BILLING_SUPPLIER_ENTERPRISE_NUMBER", "0202.239.951")
    monkeypatch.setenv("BILLING_SUPPLIER_IBAN", "be48 0011 2345 6727")
    s = BillingSettings()
    assert (s.supplier_enterprise_number, s.supplier_iban) == ("0202239951", "BE48001123456727")
