"""Who may grant, revoke and delegate what [8.2, 8.4, 9.2].

Granting is administration, not use: an access manager grants portal and service users
rights to data it may not see itself [8.4]. What limits a grantor is its profile and its
customers: only within customers it administers, the access-owner profile only by an
access owner, never to itself, and a third party never re-delegates. Grantees are people
of the customer (or, for an access owner, of its group [9.1]) with an employment,
civil-servant or management contract that has not ended [9.2].

Refusals carry a ``kind`` the service maps to a status: ``not_found`` (the customer or
user is none of the caller's business), ``forbidden``, ``conflict`` (the current state
forbids it) and ``invalid`` (the request itself is wrong).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal
from uuid import UUID

from delegation.domain.actions import APPLICATIONS
from delegation.domain.model import (
    ACCESS_OWNER,
    ADMIN_PROFILES,
    DATA_PROFILES,
    PORTAL_USER,
    PROFILES,
    WHOLE_CUSTOMER,
    Person,
    Scope,
)

RefusalKind = Literal["not_found", "forbidden", "conflict", "invalid"]


@dataclass(frozen=True)
class Refusal:
    kind: RefusalKind
    reason: str
    detail: str


@dataclass(frozen=True)
class Operator:
    """Operator staff: may act for any customer, e.g. to record a new access owner the
    customer announced in writing [8.1.2]."""

    subject: str


@dataclass(frozen=True)
class GrantRequest:
    customer_id: UUID
    user_id: UUID
    profile: str
    subprofiles: frozenset[str] = frozenset()
    scope: Scope = WHOLE_CUSTOMER
    permissions: frozenset[str] = frozenset()


@dataclass(frozen=True)
class HeldAssignment:
    """An assignment someone wants to revoke."""

    customer_id: UUID
    user_id: UUID
    profile: str
    third_party: bool = False


Actor = Person | Operator


def _refuse(kind: RefusalKind, reason: str, detail: str) -> Refusal:
    return Refusal(kind, reason, detail)


def administration_refusal(actor: Actor | None, customer_id: UUID, today: date) -> Refusal | None:
    """Whether ``actor`` may administer users and rights of ``customer_id`` at all."""
    if isinstance(actor, Operator):
        return None
    if actor is None or not actor.has_standing_in(customer_id):
        return _refuse("not_found", "other_customer", "No such customer")
    if not actor.can_hold_rights(today):
        return _refuse("forbidden", "user_inactive", "Your rights have ended")
    if actor.administers(customer_id) is None:
        if any(g.third_party for g in actor.grants_in(customer_id)):
            return _refuse(
                "forbidden", "third_party_cannot_delegate", "A third party never re-delegates"
            )
        return _refuse(
            "forbidden",
            "not_administrator",
            "Only the access owner or an access manager administers rights",
        )
    return None


def check_grant(
    grantor: Actor | None,
    grantee: Person | None,
    request: GrantRequest,
    *,
    today: date,
    customer_terminated: bool = False,
    grantee_in_group: bool = False,
) -> Refusal | None:
    """None when ``grantor`` may give ``request`` to ``grantee``; else why not.

    ``grantee_in_group``: the grantee belongs to a company of the customer's group (its
    parent, which listed it as affiliate), which only an access owner may reach [9.1].
    """
    refusal = administration_refusal(grantor, request.customer_id, today)
    if refusal is not None:
        return refusal
    if customer_terminated:
        return _refuse("conflict", "customer_terminated", "The customer's agreement has ended")
    invalid = _invalid_request(request)
    if invalid is not None:
        return invalid
    is_owner = isinstance(grantor, Operator) or (
        grantor is not None and grantor.administers(request.customer_id) == ACCESS_OWNER
    )
    if isinstance(grantor, Person) and grantor.user_id == request.user_id:
        return _refuse("forbidden", "cannot_grant_to_self", "Nobody raises their own rights")
    if request.profile == ACCESS_OWNER and not is_owner:
        return _refuse(
            "forbidden",
            "only_access_owner_appoints_access_owners",
            "Only an access owner appoints access owners",
        )
    in_customer = grantee is not None and grantee.customer_id == request.customer_id
    if grantee is None or not (in_customer or (grantee_in_group and is_owner)):
        return _refuse("not_found", "unknown_user", "No such user in this customer")
    if (
        not is_owner
        and request.profile in DATA_PROFILES
        and grantee.administers(request.customer_id) is not None
    ):
        # [8.4] Access managers see no customer data; one manager must not open it to
        # another (only the access owner decides that a manager also sees data).
        return _refuse(
            "forbidden",
            "only_access_owner_gives_data_to_managers",
            "Only an access owner gives data rights to an access manager",
        )
    return grantee_refusal(grantee, today)


def grantee_refusal(grantee: Person, today: date) -> Refusal | None:
    """[9.2] Rights inside the organization go to active people with an employment,
    civil-servant or management contract that has not ended."""
    if not grantee.active:
        return _refuse("conflict", "grantee_inactive", "The user is deactivated")
    if not grantee.internal:
        return _refuse(
            "conflict",
            "grantee_contract_not_eligible",
            "Rights go only to people with an employment, civil-servant or management "
            "contract; use a third-party delegation",
        )
    if grantee.contract_ended(today):
        return _refuse("conflict", "grantee_contract_ended", "The user's contract has ended")
    return None


def _invalid_request(request: GrantRequest) -> Refusal | None:
    if request.profile not in PROFILES:
        return _refuse("invalid", "unknown_profile", f"Unknown profile {request.profile!r}")
    if request.profile in ADMIN_PROFILES and (
        request.permissions or not request.scope.is_unrestricted
    ):
        return _refuse(
            "invalid",
            "scope_not_applicable",
            "scope and permissions apply to portal and service users only; "
            f"{request.profile} covers the whole customer",
        )
    if request.subprofiles and request.profile != PORTAL_USER:
        return _refuse(
            "invalid", "subprofiles_not_applicable", "Only portal users carry subprofiles"
        )
    return scope_refusal(request.scope)


def scope_refusal(scope: Scope) -> Refusal | None:
    unknown = sorted((scope.applications or frozenset()) - set(APPLICATIONS))
    if unknown:
        return _refuse("invalid", "unknown_application", f"Unknown application(s): {unknown}")
    return None


def check_revoke(
    revoker: Actor | None,
    assignment: HeldAssignment,
    *,
    today: date,
    other_owners: int,
) -> Refusal | None:
    """``other_owners``: active access-owner assignments of the customer besides this
    one; a customer that has an access owner keeps at least one."""
    refusal = administration_refusal(revoker, assignment.customer_id, today)
    if refusal is not None:
        return refusal
    is_owner = isinstance(revoker, Operator) or (
        revoker is not None and revoker.administers(assignment.customer_id) == ACCESS_OWNER
    )
    if assignment.profile == ACCESS_OWNER and not is_owner:
        return _refuse(
            "forbidden",
            "only_access_owner_revokes_access_owners",
            "Only an access owner revokes an access owner",
        )
    if assignment.third_party and not is_owner:
        return _refuse(
            "forbidden", "requires_access_owner", "Third-party delegations are the owner's"
        )
    if assignment.profile == ACCESS_OWNER and other_owners == 0:
        return _refuse(
            "conflict", "last_access_owner", "The customer's last access owner cannot be revoked"
        )
    return None


def requester_refusal(requester: Actor | None, customer_id: UUID, today: date) -> Refusal | None:
    """[9.2] Whether ``requester`` may ask for a third-party delegation at all: operator
    staff, or the customer's access owner."""
    refusal = administration_refusal(requester, customer_id, today)
    if refusal is not None or not isinstance(requester, Person):
        return refusal
    if requester.administers(customer_id) != ACCESS_OWNER:
        return _refuse(
            "forbidden", "requires_access_owner", "Only the access owner delegates to a third party"
        )
    return None


def check_third_party_request(
    requester: Actor | None,
    grantee: Person | None,
    customer_id: UUID,
    scope: Scope,
    permissions: frozenset[str],
    *,
    today: date,
    customer_terminated: bool = False,
) -> Refusal | None:
    """[9.2] Only the access owner asks; the grantee is someone outside the customer's
    organization (another company's user, or one with a third-party contract)."""
    refusal = requester_refusal(requester, customer_id, today)
    if refusal is not None:
        return refusal
    if customer_terminated:
        return _refuse("conflict", "customer_terminated", "The customer's agreement has ended")
    if not permissions:
        return _refuse("invalid", "no_permissions", "A delegation needs at least one permission")
    invalid = scope_refusal(scope)
    if invalid is not None:
        return invalid
    if grantee is None:
        return _refuse("not_found", "unknown_user", "No such user")
    if isinstance(requester, Person) and grantee.user_id == requester.user_id:
        return _refuse("forbidden", "cannot_grant_to_self", "Nobody raises their own rights")
    if grantee.customer_id == customer_id and grantee.internal:
        return _refuse(
            "conflict",
            "grantee_is_internal",
            "The user belongs to the customer's organization: grant an assignment instead",
        )
    return third_party_grantee_refusal(grantee, today)


def third_party_grantee_refusal(grantee: Person, today: date) -> Refusal | None:
    if not grantee.active:
        return _refuse("conflict", "grantee_inactive", "The user is deactivated")
    if grantee.contract_ended(today):
        return _refuse("conflict", "grantee_contract_ended", "The user's contract has ended")
    return None
