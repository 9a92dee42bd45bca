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

from identity import audit
from identity import repository as repo
from identity.deps import Deps
from identity.domain import (
    NoticeBy,
    local_date,
    termination_due,
    termination_effective_on,
)
from identity.models import Customer, Termination
from identity.service.events import customer_terminated, user_deactivated
from servicekit.app import ServiceKit
from servicekit.auth import Principal
from servicekit.db import Database
from servicekit.problems import Conflict

log = logging.getLogger(__name__)

TERMINATIONS = Counter(
    "identity_terminations_total",
    "Termination notices given, withdrawn, taking effect, or failing to",
    ["step"],
)

# Who the audit log names for what the job does.
SYSTEM_ACTOR = "identity"
USER_REASON = "customer_terminated"


async def give_notice(
    session: AsyncSession, deps: Deps, principal: Principal, customer: Customer, by: NoticeBy
) -> Termination:
    """Record notice of termination; effective 15 days (customer) or 3 months (operator)
    after today's Brussels date. One pending notice per customer. ``customer`` is locked
    (``api.auth.NoticeCustomer``) so this check and the job's "terminated" do not
    interleave."""
    if customer.status != "active":
        raise Conflict("The customer's agreement has already ended", slug="customer-terminated")
    pending = await repo.pending_termination(session, customer.id)
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
        customer_id=customer.id,
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
        outbox=deps.outbox,
        actor_kind=principal.kind,
        subject=termination.id,
        customer_id=customer.id,
        details={"by": by, "effective_on": termination.effective_on.isoformat()},
        now=now,
    )
    TERMINATIONS.labels("requested").inc()
    return termination


async def withdraw(
    session: AsyncSession,
    deps: Deps,
    principal: Principal,
    termination: Termination,
    *,
    today: date | None = None,
) -> Termination:
    """Call off a pending notice before its effective day."""
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
        outbox=deps.outbox,
        actor_kind=principal.kind,
        subject=termination.id,
        customer_id=termination.customer_id,
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
            outbox=deps.outbox,
            actor_kind="system",
            subject=user.id,
            customer_id=customer.id,
            details={"reason": USER_REASON},
            now=now,
        )
    await audit.record(
        session,
        "customer.terminated",
        actor=SYSTEM_ACTOR,
        outbox=deps.outbox,
        actor_kind="system",
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
