"""What a person may act on, for list pages: ``GET /v1/subjects/{id}/resources``.

``customer_ids``: customers in which the person may act on *all* resources of the type;
``ids``: single resources allowed besides. Delegation knows billing accounts and SIMs
(from grants and ``sim.changed``) but not invoices, so for ``invoice`` and
``billing_account`` the ids are billing-account ids (an invoice is visible when its
billing account is), for ``sim`` they are SIM ids (a grant on a billing account is
expanded to the SIMs fleet told us are on it), and ``billing_account_ids`` repeats the
billing accounts behind partial grants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from uuid import UUID

from delegation.domain.actions import ADMIN_ACTIONS, DATA_RIGHTS, OWN_SIM_READS, SELF_SERVICE
from delegation.domain.decisions import holds
from delegation.domain.model import (
    ACCESS_MANAGER,
    PORTAL_USER,
    SERVICE_USER,
    Grant,
    Person,
    SimFacts,
    Visible,
)

NOTHING = Visible()


def visible(
    person: Person | None,
    type_: str,
    action: str,
    today: date,
    *,
    terminated: frozenset[UUID] = frozenset(),
    sims_by_account: Mapping[UUID, Iterable[UUID]] | None = None,
    own_sims: Iterable[SimFacts] = (),
) -> Visible:
    """``person.group_owner_of`` must hold every affiliate customer it owns;
    ``own_sims`` are the SIMs whose end user is the person."""
    if person is None or not person.can_hold_rights(today):
        return NOTHING
    sims_by_account = sims_by_account or {}
    customers = {g.customer_id for g in person.grants} | set(person.group_owner_of)
    whole: set[UUID] = set()
    ids: set[UUID] = set()
    accounts: set[UUID] = set()
    for customer_id in customers - terminated:
        if person.is_owner_of(customer_id):
            whole.add(customer_id)
            continue
        grants = person.grants_in(customer_id)
        if action in ADMIN_ACTIONS:
            if person.administers(customer_id) == ACCESS_MANAGER and type_ in ("customer", "user"):
                whole.add(customer_id)
            continue
        if action not in DATA_RIGHTS:
            continue
        if any(g.profile == ACCESS_MANAGER for g in grants):
            continue  # [8.4] no customer-data rights, whatever was granted before
        for g in grants:
            if g.profile == PORTAL_USER:
                _portal(g, type_, action, whole, ids, accounts, sims_by_account)
        if any(g.profile == SERVICE_USER for g in grants) and type_ == "sim":
            ids |= _own(grants, person, customer_id, action, own_sims)
    return Visible(frozenset(whole), frozenset(ids), frozenset(accounts))


def _portal(
    g: Grant,
    type_: str,
    action: str,
    whole: set[UUID],
    ids: set[UUID],
    accounts: set[UUID],
    sims_by_account: Mapping[UUID, Iterable[UUID]],
) -> None:
    right = DATA_RIGHTS[action]
    if holds(g, right) is None:
        return
    scope = g.scope
    if scope.whole_customer:
        whole.add(g.customer_id)
        return
    if right.whole_customer:
        return
    if scope.billing_accounts is not None:
        accounts |= scope.billing_accounts
    if type_ in ("invoice", "billing_account") and scope.sims is None:
        ids |= scope.billing_accounts or frozenset()
    elif type_ == "sim":
        on_accounts: set[UUID] | None = None
        if scope.billing_accounts is not None:
            on_accounts = set()
            for ba in scope.billing_accounts:
                on_accounts |= set(sims_by_account.get(ba, ()))
        if scope.sims is None:
            ids |= on_accounts or set()
        else:
            ids |= scope.sims if on_accounts is None else scope.sims & on_accounts


def _own(
    grants: tuple[Grant, ...],
    person: Person,
    customer_id: UUID,
    action: str,
    own_sims: Iterable[SimFacts],
) -> set[UUID]:
    mine = {
        s.sim_id
        for s in own_sims
        if s.customer_id == customer_id and s.end_user_id == person.user_id and s.active
    }
    if action in OWN_SIM_READS:
        return mine
    if action not in SELF_SERVICE:
        return set()
    wanted = SELF_SERVICE[action]
    allowed: set[UUID] = set()
    for g in grants:
        if g.profile != SERVICE_USER or not wanted & g.permissions:
            continue
        allowed |= {s for s in mine if g.scope.sims is None or s in g.scope.sims}
    return allowed
