"""May this person do this action on this resource? The rules of [8, 9], pure.

Order of the rules (the first that answers wins):

1. unknown, deactivated, contract ended, customer terminated → deny
2. the resource must hang together (a SIM of another customer is a mismatch) → deny;
   removing the customer's last access owner → deny
3. access owner of the customer, directly or through an affiliation [9.1] → allow
4. nothing in that customer → deny ``other_customer`` / ``no_grant``
5. user administration → access owner or manager; third-party delegation → owner only
6. data and orders → the portal user's grants (application + permission + scope), or
   the service user's own SIMs [8.6]; the access manager sees no data [8.4]
"""

from __future__ import annotations

from datetime import date

from delegation.domain.actions import (
    ADMIN_ACTIONS,
    DATA_RIGHTS,
    OWN_SIM_READS,
    OWNER_ONLY_ACTIONS,
    SELF_SERVICE,
    Right,
)
from delegation.domain.model import (
    ACCESS_MANAGER,
    ACCESS_OWNER,
    PORTAL_USER,
    SERVICE_USER,
    Decision,
    Grant,
    Person,
    Target,
    allow,
    deny,
)


def decide(person: Person | None, action: str, target: Target, today: date) -> Decision:
    if person is None:
        return deny("unknown_subject")
    if not person.active:
        return deny("user_inactive")
    if person.contract_ended(today):
        return deny("contract_ended")
    if target.customer_terminated:
        return deny("customer_terminated")
    if _mismatched(target):
        return deny("resource_mismatch")
    if action == "user.remove" and target.user is not None and target.user.last_access_owner:
        # A customer that has an access owner keeps one, whoever asks (identity asks
        # with the target user: delegation's assignments, not a stored profile, decide).
        return deny("last_access_owner")

    customer_id = target.customer_id
    if person.is_owner_of(customer_id):
        direct = any(
            g.profile == ACCESS_OWNER and not g.third_party for g in person.grants_in(customer_id)
        )
        return allow("access_owner" if direct else "access_owner_affiliate")

    grants = person.grants_in(customer_id)
    if not grants:
        return deny("no_grant" if person.customer_id == customer_id else "other_customer")

    if action in ADMIN_ACTIONS:
        return _administration(person, action, target)
    if action in OWNER_ONLY_ACTIONS:
        return deny("requires_access_owner")
    return _data(grants, person, action, target)


def _mismatched(target: Target) -> bool:
    if target.sim is not None and target.sim.customer_id != target.customer_id:
        return True
    return target.user is not None and target.user.customer_id != target.customer_id


def _administration(person: Person, action: str, target: Target) -> Decision:
    if person.administers(target.customer_id) != ACCESS_MANAGER:
        return deny("not_administrator")
    # [8.4] An access manager administers portal and service users (and other
    # managers), not the access owners above it.
    if target.user is not None and target.user.is_access_owner:
        return deny("target_is_access_owner")
    return allow("access_manager")


def _data(grants: tuple[Grant, ...], person: Person, action: str, target: Target) -> Decision:
    right = DATA_RIGHTS[action]
    # [8.4] An access manager holds no customer-data rights: whatever data rights the
    # person was given before (or beside) the promotion, the profile wins.
    if any(g.profile == ACCESS_MANAGER for g in grants):
        return deny("profile_access_manager_cannot_read_data")
    portal = [g for g in grants if g.profile == PORTAL_USER]
    service = [g for g in grants if g.profile == SERVICE_USER]
    if not portal and not service:
        return deny("no_grant")

    out_of_scope = False
    for g in portal:
        via = holds(g, right)
        if via is None:
            continue
        if covers(g, right, target):
            return allow(via)
        out_of_scope = True

    if service:
        decision = _own_data(service, person, action, right, target)
        if decision.allowed or not portal:
            return decision
    return deny("out_of_scope" if out_of_scope else "no_grant")


def holds(g: Grant, right: Right) -> str | None:
    """How a grant gives the right, regardless of scope: ``delegated``, ``purchaser``."""
    if right.subprofile is not None and right.subprofile in g.subprofiles:
        return "purchaser"
    if not g.has_permission(right.permission):
        return None
    apps = g.scope.applications
    if right.applications is not None and apps is not None and not apps & right.applications:
        return None
    return "delegated"


def covers(g: Grant, right: Right, target: Target) -> bool:
    """Whether a grant's billing-account and SIM limits include the target."""
    scope = g.scope
    if right.whole_customer and not scope.whole_customer:
        return False
    if scope.billing_accounts is not None:
        ba = target.billing_account_ref
        if ba is None or ba not in scope.billing_accounts:
            return False
    if scope.sims is not None:
        sim_id = target.sim_ref
        if sim_id is None or sim_id not in scope.sims:
            return False
    return True


def _own_data(
    service: list[Grant], person: Person, action: str, right: Right, target: Target
) -> Decision:
    """[8.6] A service user sees only their own SIM and usage, and changes their own
    subscription only with self-service rights."""
    if action not in OWN_SIM_READS and action not in SELF_SERVICE:
        return deny("service_user_own_data_only")
    sim = target.sim
    if sim is None or sim.end_user_id != person.user_id or not sim.active:
        return deny("not_own_sim")
    if action in OWN_SIM_READS:
        return allow("own_sim")
    wanted = SELF_SERVICE[action]
    for g in service:
        if wanted & g.permissions and covers(g, right, target):
            return allow("self_service")
    return deny("no_self_service_rights")
