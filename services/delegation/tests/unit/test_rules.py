"""The bullets under the capability table: granting limits, contracts, intra-group,
third parties, and how scope restricts a grant."""

from __future__ import annotations

import uuid
from datetime import timedelta

from delegation_factories import (
    BA,
    CUSTOMER,
    OTHER_BA,
    OTHER_CUSTOMER,
    TODAY,
    billing_account,
    customer,
    grant,
    invoice,
    manager,
    owner,
    person,
    portal_user,
    rights,
    service_user,
    sim,
    with_,
)

from delegation.domain import (
    GrantRequest,
    HeldAssignment,
    Operator,
    Scope,
    check_grant,
    check_revoke,
    check_third_party_request,
    decide,
)

DATA_ACTIONS = (
    "invoice.read",
    "usage.read",
    "invoice.object",
    "sim.read",
    "sim.manage",
    "device.read",
    "product.order",
    "einvoice.manage",
    "fleet_manager.activate",
)


def _req(grantee_id: uuid.UUID, profile: str = "portal_user", **kw: object) -> GrantRequest:
    return GrantRequest(customer_id=CUSTOMER, user_id=grantee_id, profile=profile, **kw)  # type: ignore[arg-type]


def _invoice_rights(grantee_id: uuid.UUID) -> GrantRequest:
    return _req(
        grantee_id,
        scope=Scope(applications=frozenset({"my-invoice-online"})),
        permissions=frozenset({"read"}),
    )


# -- an invited portal user starts with nothing ------------------------------------------


def test_invited_portal_user_has_no_application_or_data_rights() -> None:
    pu = portal_user()
    for action in DATA_ACTIONS:
        assert not decide(pu, action, sim(), TODAY).allowed, action
        assert not decide(pu, action, invoice(), TODAY).allowed, action


# -- granting is administration, not use [8.4] -------------------------------------------


def test_access_manager_may_grant_invoice_rights_it_cannot_use_itself() -> None:
    m, grantee = manager(), portal_user()
    assert not decide(m, "invoice.read", invoice(), TODAY).allowed
    assert check_grant(m, grantee, _invoice_rights(grantee.user_id), today=TODAY) is None


def test_one_access_manager_cannot_open_customer_data_to_another() -> None:
    other_manager = manager()
    refusal = check_grant(
        manager(), other_manager, _invoice_rights(other_manager.user_id), today=TODAY
    )
    assert refusal is not None and refusal.reason == "only_access_owner_gives_data_to_managers"
    assert (
        check_grant(owner(), other_manager, _invoice_rights(other_manager.user_id), today=TODAY)
        is None
    )


def test_nobody_grants_to_themselves() -> None:
    for grantor in (owner(), manager()):
        refusal = check_grant(grantor, grantor, _invoice_rights(grantor.user_id), today=TODAY)
        assert refusal is not None and refusal.reason == "cannot_grant_to_self"


def test_grantor_cannot_grant_in_a_customer_it_does_not_administer() -> None:
    grantee = person(grant("portal_user", OTHER_CUSTOMER), customer_id=OTHER_CUSTOMER)
    req = GrantRequest(customer_id=OTHER_CUSTOMER, user_id=grantee.user_id, profile="portal_user")
    refusal = check_grant(owner(), grantee, req, today=TODAY)
    assert refusal is not None and refusal.kind == "not_found"


def test_grantee_must_belong_to_the_customer() -> None:
    stranger = person(grant("portal_user", OTHER_CUSTOMER), customer_id=OTHER_CUSTOMER)
    refusal = check_grant(owner(), stranger, _invoice_rights(stranger.user_id), today=TODAY)
    assert refusal is not None and refusal.kind == "not_found"
    assert check_grant(owner(), None, _invoice_rights(uuid.uuid4()), today=TODAY) is not None


def test_third_party_never_re_delegates() -> None:
    consultant = person(rights("read", "manage", third_party=True), customer_id=OTHER_CUSTOMER)
    grantee = portal_user()
    refusal = check_grant(consultant, grantee, _invoice_rights(grantee.user_id), today=TODAY)
    assert refusal is not None and refusal.reason == "third_party_cannot_delegate"


def test_third_party_access_manager_grant_makes_no_administrator() -> None:
    consultant = person(grant("access_manager", third_party=True), customer_id=OTHER_CUSTOMER)
    assert not decide(consultant, "user.manage", customer(), TODAY).allowed


def test_rights_go_only_to_people_with_an_internal_contract() -> None:
    contractor = portal_user()
    contractor = with_(contractor, contract_kind="third_party")
    refusal = check_grant(owner(), contractor, _invoice_rights(contractor.user_id), today=TODAY)
    assert refusal is not None and refusal.reason == "grantee_contract_not_eligible"
    for kind in ("employee", "civil_servant", "management"):
        ok = with_(portal_user(), contract_kind=kind)
        assert check_grant(owner(), ok, _invoice_rights(ok.user_id), today=TODAY) is None


def test_no_rights_to_someone_whose_contract_ended_or_who_is_deactivated() -> None:
    ended = with_(portal_user(), contract_ends_on=TODAY - timedelta(days=1))
    refusal = check_grant(owner(), ended, _invoice_rights(ended.user_id), today=TODAY)
    assert refusal is not None and refusal.reason == "grantee_contract_ended"
    gone = with_(portal_user(), active=False)
    refusal = check_grant(owner(), gone, _invoice_rights(gone.user_id), today=TODAY)
    assert refusal is not None and refusal.reason == "grantee_inactive"


def test_access_owner_and_manager_assignments_carry_no_scope_or_permissions() -> None:
    grantee = portal_user()
    req = _req(grantee.user_id, "access_manager", permissions=frozenset({"read"}))
    refusal = check_grant(owner(), grantee, req, today=TODAY)
    assert refusal is not None and refusal.kind == "invalid"


def test_unknown_application_is_refused_as_invalid() -> None:
    grantee = portal_user()
    req = _req(
        grantee.user_id,
        scope=Scope(applications=frozenset({"solitaire"})),
        permissions=frozenset({"read"}),
    )
    refusal = check_grant(owner(), grantee, req, today=TODAY)
    assert refusal is not None and refusal.reason == "unknown_application"


def test_no_grants_in_a_terminated_customer() -> None:
    grantee = portal_user()
    refusal = check_grant(
        owner(), grantee, _invoice_rights(grantee.user_id), today=TODAY, customer_terminated=True
    )
    assert refusal is not None and refusal.kind == "conflict"


def test_operator_staff_may_record_a_new_access_owner() -> None:
    grantee = portal_user()
    req = _req(grantee.user_id, "access_owner")
    assert check_grant(Operator("op"), grantee, req, today=TODAY) is None


# -- revoking ----------------------------------------------------------------------------


def test_access_manager_cannot_revoke_an_access_owner() -> None:
    held = HeldAssignment(CUSTOMER, uuid.uuid4(), "access_owner")
    refusal = check_revoke(manager(), held, today=TODAY, other_owners=3)
    assert refusal is not None and refusal.kind == "forbidden"


def test_access_manager_may_revoke_portal_user_rights() -> None:
    held = HeldAssignment(CUSTOMER, uuid.uuid4(), "portal_user")
    assert check_revoke(manager(), held, today=TODAY, other_owners=0) is None


def test_last_access_owner_cannot_be_revoked() -> None:
    held = HeldAssignment(CUSTOMER, uuid.uuid4(), "access_owner")
    refusal = check_revoke(owner(), held, today=TODAY, other_owners=0)
    assert refusal is not None and refusal.reason == "last_access_owner"
    assert check_revoke(owner(), held, today=TODAY, other_owners=1) is None


def test_portal_user_cannot_revoke() -> None:
    held = HeldAssignment(CUSTOMER, uuid.uuid4(), "portal_user")
    refusal = check_revoke(portal_user(), held, today=TODAY, other_owners=1)
    assert refusal is not None and refusal.kind == "forbidden"


# -- rights end with the contract or the account [9.2] ----------------------------------


def test_rights_end_when_the_contract_end_date_has_passed() -> None:
    o = with_(owner(), contract_ends_on=TODAY - timedelta(days=1))
    d = decide(o, "invoice.read", invoice(), TODAY)
    assert not d.allowed and d.reason == "contract_ended"


def test_rights_hold_through_the_last_day_of_the_contract() -> None:
    o = with_(owner(), contract_ends_on=TODAY)
    assert decide(o, "invoice.read", invoice(), TODAY).allowed


def test_deactivated_user_is_denied_everything() -> None:
    o = with_(owner(), active=False)
    d = decide(o, "invoice.read", invoice(), TODAY)
    assert not d.allowed and d.reason == "user_inactive"


def test_unknown_subject_is_denied() -> None:
    d = decide(None, "invoice.read", invoice(), TODAY)
    assert not d.allowed and d.reason == "unknown_subject"


def test_access_owner_cannot_read_invoices_of_another_customer() -> None:
    d = decide(owner(), "invoice.read", invoice(customer_id=OTHER_CUSTOMER), TODAY)
    assert not d.allowed and d.reason == "other_customer"


def test_nobody_acts_on_a_terminated_customer() -> None:
    target = with_(customer(), customer_terminated=True)  # type: ignore[arg-type]
    d = decide(owner(), "invoice.read", target, TODAY)  # type: ignore[arg-type]
    assert not d.allowed and d.reason == "customer_terminated"


def test_a_sim_of_another_customer_named_under_this_customer_is_a_mismatch() -> None:
    foreign = sim(customer_id=OTHER_CUSTOMER)
    target = with_(foreign, customer_id=CUSTOMER)  # type: ignore[arg-type]
    d = decide(owner(), "sim.read", target, TODAY)  # type: ignore[arg-type]
    assert not d.allowed and d.reason == "resource_mismatch"


# -- intra-group [9.1] -------------------------------------------------------------------


def test_access_owner_is_access_owner_of_affiliated_companies() -> None:
    o = with_(owner(), group_owner_of=frozenset({OTHER_CUSTOMER}))
    d = decide(o, "invoice.read", invoice(customer_id=OTHER_CUSTOMER), TODAY)
    assert d.allowed and d.reason == "access_owner_affiliate"
    assert decide(o, "product.order", customer(OTHER_CUSTOMER), TODAY).allowed


def test_affiliate_ownership_needs_an_internal_contract() -> None:
    o = with_(owner(), group_owner_of=frozenset({OTHER_CUSTOMER}), contract_kind="third_party")
    assert not decide(o, "invoice.read", invoice(customer_id=OTHER_CUSTOMER), TODAY).allowed


# -- third-party delegation [9.2] --------------------------------------------------------


def test_approved_third_party_grant_gives_its_rights_on_the_customer() -> None:
    consultant = person(
        rights("read", apps=("my-invoice-online",), third_party=True), customer_id=OTHER_CUSTOMER
    )
    assert decide(consultant, "invoice.read", invoice(), TODAY).allowed
    assert not decide(consultant, "sim.read", sim(), TODAY).allowed


def test_third_party_contract_ignores_non_third_party_grants() -> None:
    contractor = with_(portal_user(rights("read")), contract_kind="third_party")
    d = decide(contractor, "invoice.read", invoice(), TODAY)
    assert not d.allowed and d.reason == "no_grant"


def test_only_access_owner_requests_third_party_delegation() -> None:
    consultant = person(customer_id=OTHER_CUSTOMER)
    perms = frozenset({"read"})
    assert (
        check_third_party_request(owner(), consultant, CUSTOMER, Scope(), perms, today=TODAY)
        is None
    )
    refusal = check_third_party_request(
        manager(), consultant, CUSTOMER, Scope(), perms, today=TODAY
    )
    assert refusal is not None and refusal.reason == "requires_access_owner"


def test_third_party_delegation_is_not_for_the_customers_own_employees() -> None:
    colleague = portal_user()
    refusal = check_third_party_request(
        owner(), colleague, CUSTOMER, Scope(), frozenset({"read"}), today=TODAY
    )
    assert refusal is not None and refusal.reason == "grantee_is_internal"


# -- scope and permissions ---------------------------------------------------------------


def test_manage_includes_read_but_order_does_not() -> None:
    assert decide(
        portal_user(rights("manage", apps=("fleet-manager",))), "sim.read", sim(), TODAY
    ).allowed
    assert not decide(portal_user(rights("order")), "sim.read", sim(), TODAY).allowed


def test_sim_limited_grant_covers_only_those_sims() -> None:
    mine = sim()
    assert mine.id is not None
    pu = portal_user(rights("read", apps=("fleet-manager",), sims=(mine.id,)))
    assert decide(pu, "sim.read", mine, TODAY).allowed
    assert not decide(pu, "sim.read", sim(), TODAY).allowed
    # An invoice covers every SIM of its account: a SIM-limited grant does not reach it.
    assert not decide(pu, "usage.read", invoice(), TODAY).allowed


def test_billing_account_limited_grant_covers_the_sims_on_that_account() -> None:
    pu = portal_user(rights("read", apps=("fleet-manager",), bas=(BA,)))
    assert decide(pu, "sim.read", sim(ba=BA), TODAY).allowed
    assert not decide(pu, "sim.read", sim(ba=OTHER_BA), TODAY).allowed
    assert decide(
        portal_user(rights("read", bas=(BA,))), "invoice.read", billing_account(BA), TODAY
    ).allowed


def test_customer_wide_question_needs_a_customer_wide_grant() -> None:
    pu = portal_user(rights("read", bas=(BA,)))
    d = decide(pu, "invoice.read", customer(), TODAY)
    assert not d.allowed and d.reason == "out_of_scope"


def test_fleet_manager_activation_needs_a_customer_wide_order_right() -> None:
    assert decide(
        portal_user(rights("order", apps=("fleet-manager",))),
        "fleet_manager.activate",
        customer(),
        TODAY,
    ).allowed
    assert not decide(
        portal_user(rights("order", apps=("fleet-manager",), bas=(BA,))),
        "fleet_manager.activate",
        customer(),
        TODAY,
    ).allowed
    assert not decide(
        portal_user(rights("order", apps=("mobile-numbers",))),
        "fleet_manager.activate",
        customer(),
        TODAY,
    ).allowed


def test_service_user_loses_a_deactivated_sim() -> None:
    su = service_user()
    gone = sim(end_user=su.user_id, active=False)
    assert not decide(su, "sim.read", gone, TODAY).allowed
