"""Termination of a customer's agreement [2.2.2]: notice, withdrawal, and the scheduled
job that makes a notice take effect on its day.

Giving notice changes nothing for the customer yet: it is recorded (and audited) with
its effective day. On that day the job terminates the customer, deactivates all its
users and publishes ``customer.terminated`` and one ``user.deactivated`` per user, all
in one transaction; the other services stop serving the customer when they consume it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import date

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.actions import Action
from identity import audit
from identity import repository as repo
from identity.deps import Deps
from identity.domain import (
    NoticeBy,
    NoticeRefusal,
    local_date,
    notice_refusal,
    termination_due,
    termination_effective_on,
    withdrawal_refusal,
)
from identity.models import Customer, Termination
from identity.service.events import customer_terminated, user_deactivated
from servicekit.app import ServiceKit
from servicekit.auth import Principal
from servicekit.db import Database
from servicekit.delegation_client import Resource
from servicekit.problems import Conflict, Forbidden, NotFound

log = logging.getLogger(__name__)

TERMINATIONS = Counter(
    "identity_terminations_total",
    "Termination notices given, withdrawn, taking effect, or failing to",
    ["step"],
)

# The right delegation answers for "administers this customer" (as for the users routes).
# Who the audit log names for what the job does.
SYSTEM_ACTOR = "identity"
USER_REASON = "customer_terminated"
NO_SUCH_CUSTOMER = "No such customer"
NO_TERMINATION = "The customer has no pending or effective termination"


async def _customer_and_profile(
    session: AsyncSession,
    deps: Deps,
    principal: Principal,
    customer_id: uuid.UUID,
    *,
    lock: bool = False,
) -> tuple[Customer, str | None]:
    """The customer the caller may see, and the caller's profile in it.

    Operator staff see every customer, terminated ones too. A user must administer the
    customer (delegation's ``user.manage``); anyone else gets the same 404 whether the
    customer exists or not. The customer's own users know it exists: they get a 403.
    Services neither give nor withdraw notice.
    """
    if principal.is_service:
        raise Forbidden(NoticeRefusal.NOT_FOR_SERVICES.value)
    if not principal.is_operator:
        await deps.delegation.require(
            principal,
            Resource("customer", customer_id, customer_id),
            Action.USER_MANAGE,
            known=principal.customer_id == customer_id,
        )
    customer = await repo.get_customer(session, customer_id, for_update=lock)
    if customer is None or (customer.status != "active" and not principal.is_operator):
        raise NotFound(NO_SUCH_CUSTOMER)
    if principal.is_operator:
        return customer, None
    # Identity's own record of the actor, not the token's word: the profile in *this*
    # customer, and only while the account is active.
    actor = await repo.get_user(session, principal.user_id)
    if actor is None or actor.customer_id != customer_id or actor.status != "active":
        return customer, None
    return customer, actor.profile


def _refuse(refusal: NoticeRefusal | None) -> None:
    if refusal is not None:
        raise Forbidden(refusal.value)


async def give_notice(
    session: AsyncSession,
    deps: Deps,
    principal: Principal,
    customer_id: uuid.UUID,
    by: NoticeBy,
) -> Termination:
    """Record notice of termination; effective 15 days (customer) or 3 months (operator)
    after today's Brussels date. One pending notice per customer."""
    if by == "operator" and not principal.is_operator:
        # Nothing about the customer is looked at: the answer reveals nothing.
        _refuse(notice_refusal(by, actor_kind=principal.kind, actor_profile=None))
    # The customer row is locked so the check below and the job's "terminated" do not
    # interleave.
    customer, profile = await _customer_and_profile(
        session, deps, principal, customer_id, lock=True
    )
    _refuse(notice_refusal(by, actor_kind=principal.kind, actor_profile=profile))
    if customer.status != "active":
        raise Conflict("The customer's agreement has already ended", slug="customer-terminated")
    pending = await repo.pending_termination(session, customer_id)
    if pending is not None:
        raise Conflict(
            f"Notice of termination was already given; it takes effect on "
            f"{pending.effective_on.isoformat()}",
            slug="termination-pending",
            effective_on=pending.effective_on.isoformat(),
        )
    now = deps.now()
    termination = Termination(
        id=uuid.uuid4(),
        customer_id=customer_id,
        by=by,
        status="terminating",
        requested_at=now,
        requested_by=principal.subject,
        effective_on=termination_effective_on(by, local_date(now)),
    )
    session.add(termination)
    # Two concurrent requests: the partial unique index lets one of them through.
    await repo.flush_or_conflict(session, "Notice of termination was already given")
    await audit.record(
        session,
        "termination.requested",
        actor=principal.subject,
        subject=termination.id,
        customer_id=customer_id,
        details={"by": by, "effective_on": termination.effective_on.isoformat()},
        now=now,
    )
    TERMINATIONS.labels("requested").inc()
    return termination


async def current(
    session: AsyncSession, deps: Deps, principal: Principal, customer_id: uuid.UUID
) -> Termination:
    """The pending notice, or (operator staff) the termination that took effect."""
    await _customer_and_profile(session, deps, principal, customer_id)
    termination = await repo.current_termination(session, customer_id)
    if termination is None:
        raise NotFound(NO_TERMINATION)
    return termination


async def withdraw(
    session: AsyncSession,
    deps: Deps,
    principal: Principal,
    customer_id: uuid.UUID,
    *,
    today: date | None = None,
) -> Termination:
    """Call off a pending notice before its effective day. Operator staff withdraw any;
    an access owner only the customer's own notice."""
    _, profile = await _customer_and_profile(session, deps, principal, customer_id)
    termination = await repo.current_termination(session, customer_id)
    if termination is None:
        raise NotFound(NO_TERMINATION)
    _refuse(
        withdrawal_refusal(
            termination.by,  # type: ignore[arg-type]
            actor_kind=principal.kind,
            actor_profile=profile,
        )
    )
    now = deps.now()
    today = today or local_date(now)
    if termination.status == "terminated" or termination_due(termination.effective_on, today):
        raise Conflict("The termination has already taken effect", slug="termination-effective")
    # Conditional: the job (or another withdrawal) may have taken it meanwhile.
    if not await repo.withdraw_termination(session, termination.id, today, now, principal.subject):
        raise Conflict("The termination is no longer pending", slug="termination-not-pending")
    await audit.record(
        session,
        "termination.withdrawn",
        actor=principal.subject,
        subject=termination.id,
        customer_id=customer_id,
        details={"by": termination.by, "effective_on": termination.effective_on.isoformat()},
        now=now,
    )
    TERMINATIONS.labels("withdrawn").inc()
    return termination


# -- the scheduled job -----------------------------------------------------------------


async def take_effect(
    session: AsyncSession, deps: Deps, termination_id: uuid.UUID, today: date
) -> Termination | None:
    """Terminate the customer of one due notice; None when it is not (or no longer)
    pending and due: another instance took it, or it was withdrawn.

    Locks in a fixed order (notice, customer, its users by id, then the audit chain), so
    this never deadlocks with a request deactivating one of the users.
    """
    now = deps.now()
    if not await repo.claim_due_termination(session, termination_id, today, now):
        return None
    termination = await repo.get_termination(session, termination_id)
    assert termination is not None
    customer = await repo.get_customer(session, termination.customer_id, for_update=True)
    assert customer is not None  # a foreign key
    customer.status = "terminated"
    customer.terminated_at = now
    users = await repo.users_of_customer_to_deactivate(session, customer.id)
    for user in users:
        user.status = "deactivated"
        user.deactivated_at = now
        user.deactivation_reason = USER_REASON
    await session.flush()
    await repo.revoke_families_of_customer(session, customer.id, now, USER_REASON)
    await repo.expire_confirmations_of_customer(session, customer.id, now)

    await deps.outbox.add(session, customer_terminated(termination, now))
    for user in users:
        await deps.outbox.add(session, user_deactivated(user, USER_REASON, now))

    for user in users:
        await audit.record(
            session,
            "user.deactivated",
            actor=SYSTEM_ACTOR,
            subject=user.id,
            customer_id=customer.id,
            details={"reason": USER_REASON},
            now=now,
        )
    await audit.record(
        session,
        "customer.terminated",
        actor=SYSTEM_ACTOR,
        subject=customer.id,
        customer_id=customer.id,
        details={
            "termination_id": str(termination.id),
            "by": termination.by,
            "effective_on": termination.effective_on.isoformat(),
            "users_deactivated": len(users),
        },
        now=now,
    )
    return termination


async def apply_due_terminations(
    db: Database, deps: Deps, *, today: date | None = None
) -> list[uuid.UUID]:
    """Make every notice whose effective day has come take effect; the customers
    terminated by *this* call.

    One transaction per customer: one that fails is logged, counted and retried at the
    next run, without holding up the others. Safe to run on several instances at once.
    ``today`` (Brussels) is a parameter for tests and for catching up by hand.
    """
    today = today or local_date(deps.now())
    batch = deps.settings.termination_job_batch_size
    terminated: list[uuid.UUID] = []
    failed: set[uuid.UUID] = set()
    while True:
        async with db.transaction() as session:
            due = await repo.due_termination_ids(session, today, batch, skip=failed)
        if not due:
            return terminated
        for termination_id in due:
            try:
                async with db.transaction() as session:
                    done = await take_effect(session, deps, termination_id, today)
            except Exception:
                failed.add(termination_id)
                TERMINATIONS.labels("failed").inc()
                log.exception(
                    "termination could not take effect",
                    extra={"termination_id": str(termination_id)},
                )
                continue
            if done is not None:
                terminated.append(done.customer_id)
                TERMINATIONS.labels("effective").inc()
                log.info(
                    "customer terminated",
                    extra={
                        "customer_id": str(done.customer_id),
                        "termination_id": str(done.id),
                        "by": done.by,
                    },
                )


def job(deps: Deps) -> Callable[[ServiceKit], Awaitable[None]]:
    """For ``kit.run_periodically``."""

    async def run(kit: ServiceKit) -> None:
        await apply_due_terminations(kit.db, deps)

    return run
