"""The fleet-manager application: activated on request from 30 operator SIMs, terminated
at once when the customer falls below."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.fleet import FleetManagerChangedV1
from fleet import repository as repo
from fleet.deps import Deps
from fleet.domain import rules
from fleet.models import FleetManager
from servicekit.problems import Conflict


@dataclass(frozen=True)
class FleetManagerView:
    """A customer's fleet-manager application; ``status`` inactive if never activated."""

    customer_id: uuid.UUID
    status: str
    sim_count: int
    threshold: int
    eligible: bool
    reason: str | None
    activated_at: datetime | None
    terminated_at: datetime | None


def _view(
    customer_id: uuid.UUID, app: FleetManager | None, active_sims: int, threshold: int
) -> FleetManagerView:
    return FleetManagerView(
        customer_id=customer_id,
        status=app.status if app else "inactive",
        sim_count=active_sims,
        threshold=threshold,
        eligible=rules.may_activate_fleet_manager(active_sims, threshold),
        reason=app.reason if app else None,
        activated_at=app.activated_at if app else None,
        terminated_at=app.terminated_at if app else None,
    )


async def status(session: AsyncSession, deps: Deps, customer_id: uuid.UUID) -> FleetManagerView:
    app = await repo.get_fleet_manager(session, customer_id)
    active = await repo.count_active_sims(session, customer_id)
    return _view(customer_id, app, active, deps.settings.fleet_manager_threshold)


async def activate(session: AsyncSession, deps: Deps, customer_id: uuid.UUID) -> FleetManagerView:
    """Idempotent: activating an active application answers its status again."""
    threshold = deps.settings.fleet_manager_threshold
    if await repo.is_terminated(session, customer_id):
        raise Conflict("The customer's agreement has ended")
    app = await repo.get_fleet_manager(session, customer_id, for_update=True)
    active = await repo.count_active_sims_locked(session, customer_id)
    if app is not None and app.status == "active":
        return _view(customer_id, app, active, threshold)
    try:
        rules.check_fleet_manager_activation(active, threshold)
    except rules.NotEligible as exc:
        raise Conflict(
            str(exc).capitalize(), sim_count=exc.sim_count, threshold=exc.threshold
        ) from None
    now = deps.now()
    if app is None:
        app = FleetManager(customer_id=customer_id)
        session.add(app)
    app.status = "active"
    app.sim_count = active
    app.reason = "requested"
    app.activated_at = now
    app.terminated_at = None
    app.updated_at = now
    await deps.outbox.add(
        session,
        FleetManagerChangedV1(
            customer_id=customer_id,
            status="active",
            sim_count=active,
            reason="requested",
            changed_at=now,
        ),
    )
    await session.flush()
    return _view(customer_id, app, active, threshold)


async def enforce_threshold(
    session: AsyncSession, deps: Deps, customer_id: uuid.UUID, *, reason: str
) -> bool:
    """Terminate an active application whose customer has fallen below the threshold
    (or, with reason ``customer_terminated``, whatever the count). True if terminated."""
    await session.flush()  # count the deactivation just made in this transaction
    app = await repo.get_fleet_manager(session, customer_id, for_update=True)
    if app is None or app.status != "active":
        return False
    active = await repo.count_active_sims(session, customer_id)
    if reason != "customer_terminated" and not rules.must_terminate_fleet_manager(
        app.status, active, deps.settings.fleet_manager_threshold
    ):
        return False
    now = deps.now()
    app.status = "terminated"
    app.sim_count = active
    app.reason = reason
    app.terminated_at = now
    app.updated_at = now
    await deps.outbox.add(
        session,
        FleetManagerChangedV1(
            customer_id=customer_id,
            status="terminated",
            sim_count=active,
            reason=reason,
            changed_at=now,
        ),
    )
    await session.flush()
    return True
