"""SPEC "Delegation — who may do what [8, 9]": one test per cell of the capability table.

Rows: add/remove users, grant and restrict rights, appoint access owners, appoint access
managers, see and change customer data, order products, request third-party delegation.
Columns: access owner, access manager, portal user, service user.
"""

from __future__ import annotations

import uuid

from delegation_factories import (
    BA,
    CUSTOMER,
    OTHER_BA,
    TODAY,
    billing_account,
    customer,
    invoice,
    manager,
    owner,
    portal_user,
    rights,
    service_user,
    sim,
    user_target,
)

from delegation.domain import GrantRequest, Scope, check_grant, decide


def _grant_request(grantee_id: uuid.UUID, profile: str, **kw: object) -> GrantRequest:
    return GrantRequest(customer_id=CUSTOMER, user_id=grantee_id, profile=profile, **kw)  # type: ignore[arg-type]


# -- add / remove portal users and service users ----------------------------------------


def test_access_owner_may_add_and_remove_users() -> None:
    d = decide(owner(), "user.manage", user_target(portal_user()), TODAY)
    assert d.allowed and d.reason == "access_owner"


def test_access_manager_may_add_and_remove_portal_and_service_users() -> None:
    assert decide(manager(), "user.manage", user_target(portal_user()), TODAY).allowed
    assert decide(manager(), "user.manage", user_target(service_user()), TODAY).allowed
    assert decide(manager(), "user.manage", customer(), TODAY).reason == "access_manager"


def test_access_manager_cannot_remove_an_access_owner() -> None:
    for action in ("user.manage", "role.grant"):
        target = user_target(owner(), is_access_owner=True)
        d = decide(manager(), action, target, TODAY)
        assert not d.allowed and d.reason == "target_is_access_owner"


def test_portal_user_cannot_add_or_remove_users() -> None:
    everything = rights("read", "manage", "order")
    d = decide(portal_user(everything), "user.manage", customer(), TODAY)
    assert not d.allowed and d.reason == "not_administrator"


def test_service_user_cannot_add_or_remove_users() -> None:
    d = decide(service_user(), "user.manage", customer(), TODAY)
    assert not d.allowed and d.reason == "not_administrator"


# -- grant and restrict their rights (per application, billing account, SIM) -----------


def _restricted_rights(grantee_id: uuid.UUID) -> GrantRequest:
    scope = Scope(applications=frozenset({"my-invoice-online"}), billing_accounts=frozenset({BA}))
    return _grant_request(grantee_id, "portal_user", scope=scope, permissions=frozenset({"read"}))


def test_access_owner_may_grant_and_restrict_rights_of_portal_users() -> None:
    grantee = portal_user()
    assert decide(owner(), "role.grant", customer(), TODAY).allowed
    assert check_grant(owner(), grantee, _restricted_rights(grantee.user_id), today=TODAY) is None


def test_access_manager_may_grant_and_restrict_rights_of_portal_users() -> None:
    grantee = portal_user()
    assert decide(manager(), "role.grant", customer(), TODAY).allowed
    assert check_grant(manager(), grantee, _restricted_rights(grantee.user_id), today=TODAY) is None


def test_portal_user_cannot_grant_rights() -> None:
    grantor, grantee = portal_user(rights("read", "manage", "order")), portal_user()
    assert not decide(grantor, "role.grant", customer(), TODAY).allowed
    refusal = check_grant(grantor, grantee, _restricted_rights(grantee.user_id), today=TODAY)
    assert refusal is not None and refusal.kind == "forbidden"
    assert refusal.reason == "not_administrator"


def test_service_user_cannot_grant_rights() -> None:
    grantor, grantee = service_user(), portal_user()
    assert not decide(grantor, "role.grant", customer(), TODAY).allowed
    refusal = check_grant(grantor, grantee, _restricted_rights(grantee.user_id), today=TODAY)
    assert refusal is not None and refusal.kind == "forbidden"


# -- appoint more access owners ---------------------------------------------------------


def test_access_owner_may_appoint_another_access_owner() -> None:
    grantee = portal_user()
    req = _grant_request(grantee.user_id, "access_owner")
    assert check_grant(owner(), grantee, req, today=TODAY) is None


def test_access_manager_cannot_appoint_an_access_owner() -> None:
    grantee = portal_user()
    refusal = check_grant(
        manager(), grantee, _grant_request(grantee.user_id, "access_owner"), today=TODAY
    )
    assert refusal is not None and refusal.kind == "forbidden"
    assert refusal.reason == "only_access_owner_appoints_access_owners"


def test_portal_user_cannot_appoint_an_access_owner() -> None:
    grantee = portal_user()
    refusal = check_grant(
        portal_user(), grantee, _grant_request(grantee.user_id, "access_owner"), today=TODAY
    )
    assert refusal is not None and refusal.kind == "forbidden"


def test_service_user_cannot_appoint_an_access_owner() -> None:
    grantee = portal_user()
    refusal = check_grant(
        service_user(), grantee, _grant_request(grantee.user_id, "access_owner"), today=TODAY
    )
    assert refusal is not None and refusal.kind == "forbidden"


# -- appoint more access managers -------------------------------------------------------


def test_access_owner_may_appoint_an_access_manager() -> None:
    grantee = portal_user()
    req = _grant_request(grantee.user_id, "access_manager")
    assert check_grant(owner(), grantee, req, today=TODAY) is None


def test_access_manager_may_appoint_another_access_manager() -> None:
    grantee = portal_user()
    req = _grant_request(grantee.user_id, "access_manager")
    assert check_grant(manager(), grantee, req, today=TODAY) is None


def test_portal_user_cannot_appoint_an_access_manager() -> None:
    grantee = portal_user()
    req = _grant_request(grantee.user_id, "access_manager")
    refusal = check_grant(portal_user(rights("manage")), grantee, req, today=TODAY)
    assert refusal is not None and refusal.kind == "forbidden"


def test_service_user_cannot_appoint_an_access_manager() -> None:
    grantee = portal_user()
    req = _grant_request(grantee.user_id, "access_manager")
    refusal = check_grant(service_user(), grantee, req, today=TODAY)
    assert refusal is not None and refusal.kind == "forbidden"


# -- see and change all customer data ---------------------------------------------------


def test_access_owner_may_read_invoices_of_own_customer() -> None:
    d = decide(owner(), "invoice.read", invoice(), TODAY)
    assert d.allowed and d.reason == "access_owner"


def test_access_owner_may_see_and_change_all_customer_data() -> None:
    o = owner()
    for action, target in [
        ("usage.read", billing_account()),
        ("invoice.object", invoice()),
        ("sim.read", sim()),
        ("sim.manage", sim()),
        ("device.read", sim()),
        ("einvoice.manage", billing_account()),
    ]:
        assert decide(o, action, target, TODAY).allowed, action


def test_access_manager_cannot_read_invoices_of_own_customer() -> None:
    d = decide(manager(), "invoice.read", invoice(), TODAY)
    assert not d.allowed and d.reason == "profile_access_manager_cannot_read_data"


def test_access_manager_cannot_see_or_change_any_customer_data() -> None:
    m = manager()
    for action, target in [
        ("usage.read", billing_account()),
        ("invoice.object", invoice()),
        ("sim.read", sim()),
        ("sim.manage", sim()),
        ("device.read", sim()),
        ("einvoice.manage", billing_account()),
    ]:
        d = decide(m, action, target, TODAY)
        assert not d.allowed and d.reason == "profile_access_manager_cannot_read_data", action


def test_portal_user_without_delegation_cannot_read_invoices() -> None:
    d = decide(portal_user(), "invoice.read", invoice(), TODAY)
    assert not d.allowed and d.reason == "no_grant"


def test_portal_user_may_read_invoices_when_delegated() -> None:
    pu = portal_user(rights("read", apps=("my-invoice-online",)))
    d = decide(pu, "invoice.read", invoice(), TODAY)
    assert d.allowed and d.reason == "delegated"


def test_portal_user_cannot_read_invoices_of_a_billing_account_outside_the_delegation() -> None:
    pu = portal_user(rights("read", apps=("my-invoice-online",), bas=(BA,)))
    assert decide(pu, "invoice.read", invoice(BA), TODAY).allowed
    d = decide(pu, "invoice.read", invoice(OTHER_BA), TODAY)
    assert not d.allowed and d.reason == "out_of_scope"


def test_portal_user_with_invoice_rights_cannot_read_the_fleet() -> None:
    pu = portal_user(rights("read", "manage", apps=("my-invoice-online",)))
    d = decide(pu, "sim.read", sim(), TODAY)
    assert not d.allowed and d.reason == "no_grant"


def test_portal_user_with_read_right_cannot_change_data() -> None:
    pu = portal_user(rights("read", apps=("fleet-manager",)))
    assert decide(pu, "sim.read", sim(), TODAY).allowed
    assert not decide(pu, "sim.manage", sim(), TODAY).allowed


def test_service_user_may_read_own_sim_and_own_usage() -> None:
    su = service_user()
    own = sim(end_user=su.user_id)
    for action in ("sim.read", "usage.read", "device.read"):
        d = decide(su, action, own, TODAY)
        assert d.allowed and d.reason == "own_sim", action


def test_service_user_cannot_read_another_users_sim() -> None:
    su = service_user(rights("read", apps=("fleet-manager",), profile="service_user"))
    d = decide(su, "sim.read", sim(end_user=uuid.uuid4()), TODAY)
    assert not d.allowed and d.reason == "not_own_sim"


def test_service_user_cannot_read_invoices() -> None:
    su = service_user(rights("read", profile="service_user"))
    d = decide(su, "invoice.read", invoice(), TODAY)
    assert not d.allowed and d.reason == "service_user_own_data_only"


# -- order products / change subscriptions for the customer ----------------------------


def test_access_owner_may_order_products() -> None:
    assert decide(owner(), "product.order", customer(), TODAY).allowed
    assert decide(owner(), "fleet_manager.activate", customer(), TODAY).allowed


def test_access_manager_cannot_order_products() -> None:
    d = decide(manager(), "product.order", customer(), TODAY)
    assert not d.allowed and d.reason == "profile_access_manager_cannot_read_data"
    assert not decide(manager(), "fleet_manager.activate", customer(), TODAY).allowed


def test_portal_user_may_order_with_purchaser_subprofile() -> None:
    pu = portal_user(subprofiles=frozenset({"purchaser"}))
    d = decide(pu, "product.order", customer(), TODAY)
    assert d.allowed and d.reason == "purchaser"


def test_portal_user_may_order_with_explicit_order_right() -> None:
    pu = portal_user(rights("order", apps=("mobile-numbers",)))
    d = decide(pu, "product.order", sim(), TODAY)
    assert d.allowed and d.reason == "delegated"


def test_portal_user_without_order_right_cannot_order() -> None:
    pu = portal_user(rights("read", "manage"), subprofiles=frozenset({"financial-manager"}))
    d = decide(pu, "product.order", customer(), TODAY)
    assert not d.allowed and d.reason == "no_grant"


def test_service_user_may_change_own_subscription_with_self_service_rights() -> None:
    su = service_user(rights("order", profile="service_user"))
    own = sim(end_user=su.user_id)
    assert decide(su, "product.order", own, TODAY).reason == "self_service"
    assert decide(su, "sim.manage", own, TODAY).allowed


def test_service_user_cannot_change_own_subscription_without_self_service_rights() -> None:
    su = service_user()
    own = sim(end_user=su.user_id)
    for action in ("product.order", "sim.manage"):
        d = decide(su, action, own, TODAY)
        assert not d.allowed and d.reason == "no_self_service_rights", action


def test_service_user_with_self_service_rights_cannot_change_another_sim() -> None:
    su = service_user(rights("order", "manage", profile="service_user"))
    d = decide(su, "product.order", sim(end_user=uuid.uuid4()), TODAY)
    assert not d.allowed and d.reason == "not_own_sim"


# -- request third-party delegation -----------------------------------------------------


def test_access_owner_may_request_third_party_delegation() -> None:
    assert decide(owner(), "delegation.third_party", customer(), TODAY).allowed


def test_access_manager_cannot_request_third_party_delegation() -> None:
    d = decide(manager(), "delegation.third_party", customer(), TODAY)
    assert not d.allowed and d.reason == "requires_access_owner"


def test_portal_user_cannot_request_third_party_delegation() -> None:
    d = decide(
        portal_user(rights("read", "manage", "order")), "delegation.third_party", customer(), TODAY
    )
    assert not d.allowed and d.reason == "requires_access_owner"


def test_service_user_cannot_request_third_party_delegation() -> None:
    d = decide(service_user(), "delegation.third_party", customer(), TODAY)
    assert not d.allowed and d.reason == "requires_access_owner"


# -- read the customer's audit trail [14.2] ----------------------------------------------


def test_only_the_access_owner_may_read_the_audit_trail() -> None:
    assert decide(owner(), "audit.read", customer(), TODAY).allowed
    for who in (manager(), portal_user(rights("read", "manage", "order")), service_user()):
        d = decide(who, "audit.read", customer(), TODAY)
        assert not d.allowed and d.reason == "requires_access_owner"
