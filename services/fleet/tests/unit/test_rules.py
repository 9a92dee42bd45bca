from datetime import UTC, datetime

import pytest

from fleet.domain import rules
from fleet.domain.rules import DeviceRecord


def test_the_fleet_manager_needs_30_sims():
    assert not rules.may_activate_fleet_manager(29)
    assert rules.may_activate_fleet_manager(30)
    with pytest.raises(rules.NotEligible, match=r"at least 30 .* has 29") as caught:
        rules.check_fleet_manager_activation(29)
    assert caught.value.sim_count == 29
    rules.check_fleet_manager_activation(30)


def test_an_active_fleet_manager_is_terminated_below_30_only():
    assert rules.must_terminate_fleet_manager("active", 29)
    assert not rules.must_terminate_fleet_manager("active", 30)
    assert not rules.must_terminate_fleet_manager("terminated", 0)


def _record(ownership, imei="490154203237518", sim_id="s1", until=None):
    return DeviceRecord(
        sim_id=sim_id,
        msisdn="+32470123456",
        imei=imei if ownership == "company" else None,
        brand="Fairphone" if ownership == "company" else None,
        model="5" if ownership == "company" else None,
        ownership=ownership,
        since=datetime(2026, 1, 1, tzinfo=UTC),
        until=until,
    )


def test_a_personal_device_shows_nothing_but_its_ownership():
    personal = _record("personal")
    company_before = _record("company", until=datetime(2026, 1, 1, tzinfo=UTC))
    assert rules.device_view(personal, [company_before], [company_before]) == (
        rules.DeviceView(ownership="personal")
    )


def test_a_company_device_shows_imei_brand_model_and_company_histories_only():
    current = _record("company")
    personal_before = _record("personal", until=datetime(2026, 1, 1, tzinfo=UTC))
    other_sim = _record("company", sim_id="s2", until=datetime(2025, 6, 1, tzinfo=UTC))
    view = rules.device_view(current, [current, personal_before], [current, other_sim])
    assert view.ownership == "company"
    assert (view.imei, view.brand, view.model) == ("490154203237518", "Fairphone", "5")
    assert len(view.imei_history) == 1  # the personal period is not shown
    assert [s.sim_id for s in view.sim_history] == ["s1", "s2"]


def test_the_current_period_is_the_belgian_calendar_month():
    # 23:30 UTC on 31 October is already November in Brussels (UTC+1).
    assert rules.current_period(datetime(2026, 10, 31, 23, 30, tzinfo=UTC)) == "2026-11"
    assert rules.current_period(datetime(2026, 10, 31, 22, 30, tzinfo=UTC)) == "2026-10"


def test_months_before_crosses_years():
    assert rules.months_before("2026-03", 12) == "2025-03"
    assert rules.months_before("2026-01", 1) == "2025-12"
