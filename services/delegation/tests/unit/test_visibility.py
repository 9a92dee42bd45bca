"""What a person may see on list pages (``GET /v1/subjects/{id}/resources``)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from delegation_factories import (
    BA,
    CUSTOMER,
    OTHER_BA,
    OTHER_CUSTOMER,
    TODAY,
    grant,
    manager,
    owner,
    person,
    portal_user,
    rights,
    service_user,
    with_,
)

from delegation.domain import SimFacts, visible


def test_access_owner_sees_whole_own_customer_and_affiliates() -> None:
    o = with_(owner(), group_owner_of=frozenset({OTHER_CUSTOMER}))
    v = visible(o, "invoice", "invoice.read", TODAY)
    assert v.customer_ids == {CUSTOMER, OTHER_CUSTOMER} and not v.ids


def test_terminated_customers_are_left_out() -> None:
    v = visible(owner(), "invoice", "invoice.read", TODAY, terminated=frozenset({CUSTOMER}))
    assert not v.customer_ids


def test_access_manager_sees_users_but_no_invoices() -> None:
    m = manager()
    assert visible(m, "user", "user.manage", TODAY).customer_ids == {CUSTOMER}
    assert visible(m, "invoice", "invoice.read", TODAY) == visible(None, "invoice", "x", TODAY)


def test_portal_user_sees_the_billing_accounts_delegated_to_it() -> None:
    pu = portal_user(rights("read", apps=("my-invoice-online",), bas=(BA,)))
    v = visible(pu, "invoice", "invoice.read", TODAY)
    assert not v.customer_ids and v.ids == {BA}


def test_portal_user_with_customer_wide_grant_sees_all_of_customer() -> None:
    pu = portal_user(rights("read", apps=("invoice-insights",)))
    assert visible(pu, "invoice", "invoice.read", TODAY).customer_ids == {CUSTOMER}
    assert not visible(pu, "sim", "sim.read", TODAY).customer_ids


def test_account_limited_fleet_grant_expands_to_the_sims_on_the_account() -> None:
    s1, s2, s3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    pu = portal_user(rights("read", apps=("fleet-manager",), bas=(BA,)))
    v = visible(pu, "sim", "sim.read", TODAY, sims_by_account={BA: [s1, s2], OTHER_BA: [s3]})
    assert v.ids == {s1, s2} and v.billing_account_ids == {BA}


def test_service_user_sees_only_own_sims() -> None:
    su = service_user()
    mine = SimFacts(uuid.uuid4(), CUSTOMER, BA, end_user_id=su.user_id)
    v = visible(su, "sim", "sim.read", TODAY, own_sims=[mine])
    assert v.ids == {mine.sim_id} and not v.customer_ids
    assert not visible(su, "sim", "sim.manage", TODAY, own_sims=[mine]).ids
    assert not visible(su, "invoice", "invoice.read", TODAY, own_sims=[mine]).ids


def test_nothing_is_visible_after_the_contract_ended() -> None:
    o = with_(owner(), contract_ends_on=TODAY - timedelta(days=1))
    assert not visible(o, "invoice", "invoice.read", TODAY).customer_ids


def test_an_access_manager_sees_no_data_even_with_data_grants_from_before() -> None:
    promoted = person(rights("read", apps=("my-invoice-online",)), grant("access_manager"))
    assert visible(promoted, "invoice", "invoice.read", TODAY) == visible(
        None, "invoice", "x", TODAY
    )
