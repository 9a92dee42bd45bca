"""Use cases on SIMs: provisioning, subscription changes, end user, deactivation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fleet import repository as repo
from fleet.deps import Deps
from fleet.domain import catalogue
from fleet.domain.rules import BRUSSELS
from fleet.models import Sim, SimOption
from fleet.service.catalogue import current_catalogue
from fleet.service.common import (
    Actor,
    confirm_to_requester,
    publish_change,
    record_history,
)
from fleet.service.fleet_manager import enforce_threshold
from fleet.service.users import may_be_end_user
from servicekit.problems import Conflict, NotFound, ValidationFailed


@dataclass(frozen=True)
class NewSim:
    """A SIM to provision; identifiers already validated and normalised."""

    customer_id: uuid.UUID
    billing_account_id: uuid.UUID
    iccid: str
    msisdn: str
    imsi: str
    tariff_plan: str
    options: list[str] = field(default_factory=list)
    end_user_id: uuid.UUID | None = None
    active_since: date | None = None


MAX_BACKDATING_MONTHS = 24


def activation_moment(now: datetime, active_since: date | None) -> datetime:
    """When a new SIM's subscription starts: now, or the start (Belgian time) of the day
    it became active on the network; ValidationFailed for a future day or one more than
    24 months back."""
    if active_since is None:
        return now
    today = now.astimezone(BRUSSELS).date()
    oldest = date(today.year - MAX_BACKDATING_MONTHS // 12, today.month, 1)
    if not oldest <= active_since <= today:
        message = f"must lie between {oldest.isoformat()} and today ({today.isoformat()})"
        raise ValidationFailed(
            f"active_since {message}", errors=[{"field": "active_since", "message": message}]
        )
    return datetime.combine(active_since, time(0), BRUSSELS).astimezone(UTC)


def _unknown_product(exc: catalogue.UnknownProduct, field_name: str) -> ValidationFailed:
    return ValidationFailed(str(exc), errors=[{"field": field_name, "message": str(exc)}])


@contextmanager
def _catalogue_refusals(field_name: str) -> Iterator[None]:
    """A change to the subscription that the catalogue refuses: an unknown product is a
    422 on ``field_name``, one that conflicts with the subscription a 409."""
    try:
        yield
    except catalogue.UnknownProduct as exc:
        raise _unknown_product(exc, field_name) from None
    except catalogue.ProductConflict as exc:
        raise Conflict(str(exc)) from None


async def get_sim(session: AsyncSession, sim_id: uuid.UUID) -> Sim:
    sim = await repo.get_sim(session, sim_id)
    if sim is None:
        raise NotFound("No such sim")
    return sim


async def any_of_customer(
    session: AsyncSession, customer_id: uuid.UUID, sim_ids: set[uuid.UUID]
) -> bool:
    """Whether any of ``sim_ids`` is a SIM of ``customer_id``."""
    if not sim_ids:
        return False
    page = await repo.list_sims(session, customer_id, only_ids=sim_ids, limit=1)
    return bool(page.items)


async def provision(session: AsyncSession, deps: Deps, new: NewSim, actor: Actor) -> Sim:
    products = await current_catalogue(session, deps)
    try:
        options = products.check_initial_subscription(new.tariff_plan, new.options)
    except catalogue.UnknownProduct as exc:
        raise _unknown_product(exc, "options" if exc.field == "option" else exc.field) from None
    except ValueError as exc:
        raise ValidationFailed(
            str(exc), errors=[{"field": "options", "message": str(exc)}]
        ) from None
    if await repo.is_terminated(session, new.customer_id):
        raise Conflict("The customer's agreement has ended; no SIM can be added")
    taken = await repo.duplicate_fields(session, iccid=new.iccid, msisdn=new.msisdn, imsi=new.imsi)
    if taken:
        raise Conflict(f"Another SIM already has this {', '.join(taken)}", fields=taken)
    now = activation_moment(deps.now(), new.active_since)
    sim = Sim(
        id=uuid.uuid4(),
        customer_id=new.customer_id,
        billing_account_id=new.billing_account_id,
        iccid=new.iccid,
        msisdn=new.msisdn,
        imsi=new.imsi,
        status="active",
        tariff_plan=new.tariff_plan,
        end_user_id=new.end_user_id,
        created_at=now,
        updated_at=now,
        options=[SimOption(code=code, added_at=now) for code in options],
    )
    try:
        # A savepoint, so a concurrent twin turns into a 409 and not a failed transaction.
        async with session.begin_nested():
            session.add(sim)
            await session.flush()
    except IntegrityError:
        raise Conflict("Another SIM already has this ICCID, MSISDN or IMSI") from None
    record_history(session, sim, "provisioned", actor, to_value=sim.tariff_plan, at=now)
    await publish_change(session, deps, sim, "provisioned", actor, at=now)
    await session.flush()
    return sim


async def locked_active(session: AsyncSession, sim: Sim) -> Sim:
    locked = await repo.get_sim(session, sim.id, for_update=True)
    if locked is None:
        raise NotFound("No such sim")
    if locked.status != "active":
        raise Conflict("The SIM is deactivated")
    return locked


async def change_plan(
    session: AsyncSession, deps: Deps, sim: Sim, new_plan: str, actor: Actor
) -> Sim:
    products = await current_catalogue(session, deps)
    sim = await locked_active(session, sim)
    with _catalogue_refusals("tariff_plan"):
        products.check_plan_change(sim.tariff_plan, new_plan, sim.option_codes)
    previous = sim.tariff_plan
    now = deps.now()
    sim.tariff_plan = new_plan
    sim.updated_at = now
    entry = record_history(
        session, sim, "tariff_plan_changed", actor, from_value=previous, to_value=new_plan, at=now
    )
    await publish_change(
        session, deps, sim, "tariff_plan_changed", actor, previous={"tariff_plan": previous}, at=now
    )
    await confirm_to_requester(
        session,
        deps,
        sim,
        "tariff_plan_changed",
        actor,
        request_id=entry.id,
        detail={"previous_tariff_plan": previous},
    )
    await session.flush()
    return sim


async def add_option(session: AsyncSession, deps: Deps, sim: Sim, code: str, actor: Actor) -> Sim:
    products = await current_catalogue(session, deps)
    sim = await locked_active(session, sim)
    with _catalogue_refusals("option"):
        products.check_option_added(sim.tariff_plan, sim.option_codes, code)
    now = deps.now()
    sim.options.append(SimOption(sim_id=sim.id, code=code, added_at=now))
    sim.updated_at = now
    await session.flush()
    entry = record_history(session, sim, "option_added", actor, to_value=code, at=now)
    await publish_change(
        session, deps, sim, "option_added", actor, previous={"option": code}, at=now
    )
    await confirm_to_requester(
        session, deps, sim, "option_added", actor, request_id=entry.id, detail={"option": code}
    )
    await session.flush()
    return sim


async def remove_option(
    session: AsyncSession, deps: Deps, sim: Sim, code: str, actor: Actor
) -> Sim:
    products = await current_catalogue(session, deps)
    sim = await locked_active(session, sim)
    with _catalogue_refusals("option"):
        products.check_option_removed(sim.option_codes, code)
    now = deps.now()
    sim.options = [o for o in sim.options if o.code != code]
    sim.updated_at = now
    await session.flush()
    entry = record_history(session, sim, "option_removed", actor, from_value=code, at=now)
    await publish_change(
        session, deps, sim, "option_removed", actor, previous={"option": code}, at=now
    )
    await confirm_to_requester(
        session, deps, sim, "option_removed", actor, request_id=entry.id, detail={"option": code}
    )
    await session.flush()
    return sim


async def set_end_user(
    session: AsyncSession, deps: Deps, sim: Sim, user_id: uuid.UUID | None, actor: Actor
) -> Sim:
    """Idempotent: naming the current end user again changes and publishes nothing. The
    end user must be an active service user of the SIM's customer [8.6]: another
    customer's user, an unknown id or another profile is a 422 that changes nothing
    (the same answer for each, so it reveals no other customer's users)."""
    sim = await locked_active(session, sim)
    if sim.end_user_id == user_id:
        return sim
    if user_id is not None and not await may_be_end_user(session, user_id, sim.customer_id):
        raise ValidationFailed(
            "The end user must be an active service user of the SIM's customer",
            errors=[{"field": "user_id", "message": "not a service user of this customer"}],
        )
    previous = sim.end_user_id
    now = deps.now()
    sim.end_user_id = user_id
    sim.updated_at = now
    record_history(
        session,
        sim,
        "end_user_changed",
        actor,
        from_value=str(previous) if previous else None,
        to_value=str(user_id) if user_id else None,
        at=now,
    )
    await publish_change(
        session,
        deps,
        sim,
        "end_user_changed",
        actor,
        previous={"end_user_id": str(previous) if previous else None},
        at=now,
    )
    await session.flush()
    return sim


async def deactivate(
    session: AsyncSession,
    deps: Deps,
    sim: Sim,
    actor: Actor,
    *,
    check_fleet_manager: bool = True,
) -> Sim:
    sim = await locked_active(session, sim)
    await _deactivate_locked(session, deps, sim, actor)
    if check_fleet_manager:
        await enforce_threshold(session, deps, sim.customer_id, reason="below_threshold")
    await session.flush()
    return sim


async def _deactivate_locked(session: AsyncSession, deps: Deps, sim: Sim, actor: Actor) -> None:
    now = deps.now()
    sim.status = "deactivated"
    sim.deactivated_at = now
    sim.updated_at = now
    await repo.close_device_uses(session, sim.id, now)
    record_history(
        session, sim, "deactivated", actor, from_value="active", to_value="deactivated", at=now
    )
    await publish_change(
        session, deps, sim, "deactivated", actor, previous={"status": "active"}, at=now
    )


async def deactivate_all_of_customer(
    session: AsyncSession, deps: Deps, customer_id: uuid.UUID, actor: Actor
) -> int:
    sims = await repo.active_sims_of_customer(session, customer_id)
    for sim in sims:
        await _deactivate_locked(session, deps, sim, actor)
    await session.flush()
    return len(sims)
