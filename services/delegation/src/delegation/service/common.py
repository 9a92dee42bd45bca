"""What the use cases share: today's date, announcing changes, the acting caller."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import DelegationChangedV1, ScopeV1
from contracts.events.audit import AuditAction, AuditActorV1
from delegation import repository as repo
from delegation.deps import Deps
from delegation.domain import ACCESS_OWNER, Person, Refusal
from delegation.domain.granting import Actor, Operator
from delegation.models import Assignment
from servicekit import audit
from servicekit.problems import Conflict, Forbidden, NotFound, ValidationFailed


@dataclass(frozen=True)
class Administrator:
    """Who administers a customer's rights in this request, already allowed to
    (``api/auth.py``); ``by`` is recorded as granted_by, revoked_by, requested_by."""

    actor: Actor
    by: str

    @property
    def audit_actor(self) -> AuditActorV1:
        kind = "operator" if isinstance(self.actor, Operator) else "user"
        return AuditActorV1(kind=kind, id=self.by)


def today(deps: Deps) -> date:
    """[9.2] Contracts end on a calendar day where the customer is: today is taken there."""
    return deps.now().astimezone(ZoneInfo(deps.settings.timezone)).date()


def as_uuid(value: str | UUID | None) -> UUID | None:
    if value is None or isinstance(value, UUID):
        return value
    try:
        return UUID(value)
    except ValueError:
        return None


def _uuids(values: list[str] | None) -> list[UUID] | None:
    # Scope ids are kept as JSON strings in the row; the event carries them as UUIDs.
    return None if values is None else [UUID(v) for v in values]


async def announce(
    session: AsyncSession,
    deps: Deps,
    row: Assignment,
    change: Literal["granted", "revoked"],
    changed_by: str | UUID | None,
    reason: str | None = None,
    *,
    actor: AuditActorV1 | None = None,
) -> None:
    """Write ``delegation.changed`` and its ``audit.recorded`` in the same transaction as
    the change (``actor`` defaults to the user ``changed_by``, or the system)."""
    payload = DelegationChangedV1(
        customer_id=row.customer_id,
        user_id=row.user_id,
        assignment_id=row.assignment_id,
        change=change,
        profile=row.profile,  # type: ignore[arg-type]  # a str column of PROFILES
        subprofiles=list(row.subprofiles or []),
        scope=ScopeV1(
            applications=row.scope_applications,
            billing_accounts=_uuids(row.scope_billing_accounts),
            sims=_uuids(row.scope_sims),
        ),
        permissions=list(row.permissions or []),
        third_party=row.third_party,
        changed_by=as_uuid(changed_by),
        reason=reason,
        changed_at=deps.now(),
    )
    await deps.outbox.add(session, payload)
    await _audit_change(session, deps, row, change, reason, actor or audit.user_actor(changed_by))


def _count(values: list[str] | None) -> int | None:
    return None if values is None else len(values)


async def _audit_change(
    session: AsyncSession,
    deps: Deps,
    row: Assignment,
    change: Literal["granted", "revoked"],
    reason: str | None,
    actor: AuditActorV1,
) -> None:
    # Scope ids are counted, not listed: the entry stays small whatever the scope
    # (null = the whole customer); the assignment itself has them.
    await audit.record(
        session,
        deps.outbox,
        source="delegation",
        customer_id=row.customer_id,
        actor=actor,
        action=AuditAction.ASSIGNMENT_GRANTED
        if change == "granted"
        else AuditAction.ASSIGNMENT_REVOKED,
        target={"assignment_id": row.assignment_id, "user_id": row.user_id},
        details={
            "profile": row.profile,
            "subprofiles": list(row.subprofiles or []),
            "permissions": list(row.permissions or []),
            "applications": row.scope_applications,
            "billing_accounts": _count(row.scope_billing_accounts),
            "sims": _count(row.scope_sims),
            "third_party": row.third_party,
            "reason": reason,
        },
        occurred_at=deps.now(),
    )


async def revoke(
    session: AsyncSession,
    deps: Deps,
    row: Assignment,
    *,
    reason: str,
    by: str | None,
    actor: AuditActorV1 | None = None,
) -> bool:
    """Revoke one assignment and announce it; False when it was no longer active."""
    if row.status != repo.ACTIVE:
        return False
    if not await repo.mark_revoked(session, row, by=by, reason=reason, at=deps.now()):
        return False
    await announce(session, deps, row, "revoked", by, reason, actor=actor)
    return True


async def with_group(
    session: AsyncSession, person: Person, customer_ids: set[UUID] | None
) -> Person:
    """Fill in the customers ``person`` owns through an affiliation [9.1] (among
    ``customer_ids``, or all of them when None)."""
    parents = {
        g.customer_id for g in person.grants if g.profile == ACCESS_OWNER and not g.third_party
    }
    if not parents:
        return person
    wanted = None if customer_ids is None else customer_ids - parents
    if wanted is not None and not wanted:
        return person
    links = await repo.group_links(session, parents, wanted)
    if not links:
        return person
    return replace(person, group_owner_of=frozenset(child for _, child in links))


def raise_for(refusal: Refusal | None, *, field: str = "body") -> None:
    if refusal is None:
        return
    reason = refusal.reason
    if refusal.kind == "not_found":
        raise NotFound(refusal.detail, reason=reason)
    if refusal.kind == "forbidden":
        raise Forbidden(refusal.detail, reason=reason)
    if refusal.kind == "conflict":
        raise Conflict(refusal.detail, reason=reason)
    raise ValidationFailed(
        refusal.detail, errors=[{"field": field, "message": refusal.detail}], reason=reason
    )
