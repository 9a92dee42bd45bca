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
