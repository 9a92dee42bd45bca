"""The device in a SIM: company-owned devices are shown in full, personal ones not at all."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from fleet import repository as repo
from fleet.deps import Deps
from fleet.domain.rules import DeviceRecord, DeviceView, Ownership, device_view
from fleet.models import DeviceUse, Sim
from fleet.service.common import Actor, publish_change, record_history
from fleet.service.sims import locked_active
from servicekit.problems import NotFound


@dataclass(frozen=True)
class DeviceInput:
    ownership: Ownership
    imei: str | None = None
    brand: str | None = None
    model: str | None = None


def _record(use: DeviceUse) -> DeviceRecord:
    return DeviceRecord(
        sim_id=str(use.sim_id),
        msisdn=use.msisdn,
        imei=use.imei,
        brand=use.brand,
        model=use.model,
        ownership="company" if use.ownership == "company" else "personal",
        since=use.since,
        until=use.until,
    )


def _same(use: DeviceUse, device: DeviceInput) -> bool:
    return (use.ownership, use.imei, use.brand, use.model) == (
        device.ownership,
        device.imei,
        device.brand,
        device.model,
    )


async def set_device(
    session: AsyncSession, deps: Deps, sim: Sim, device: DeviceInput, actor: Actor
) -> DeviceView:
    """Record the device now in the SIM. For a personal device only the ownership is
    kept: its IMEI, brand and model are dropped here, before anything is stored."""
    sim = await locked_active(session, sim)
    if device.ownership == "personal":
        device = DeviceInput(ownership="personal")
    current = await repo.current_device(session, sim.id)
    if current is not None and _same(current, device):
        return await view(session, sim)
    now = deps.now()
    await repo.close_device_uses(session, sim.id, now)
    session.add(
        DeviceUse(
            id=uuid.uuid4(),
            sim_id=sim.id,
            customer_id=sim.customer_id,
            msisdn=sim.msisdn,
            ownership=device.ownership,
            imei=device.imei,
            brand=device.brand,
            model=device.model,
            since=now,
        )
    )
    previous_ownership = current.ownership if current else None
    # The history shows ownership only: a SIM's history is visible to more people than
    # its device, and must not carry a personal device's details.
    record_history(
        session,
        sim,
        "device_changed",
        actor,
        from_value=previous_ownership,
        to_value=device.ownership,
        at=now,
    )
    sim.updated_at = now
    await publish_change(
        session,
        deps,
        sim,
        "device_changed",
        actor,
        previous={"ownership": previous_ownership},
        at=now,
    )
    await session.flush()
    return await view(session, sim)


async def view(session: AsyncSession, sim: Sim) -> DeviceView:
    current = await repo.current_device(session, sim.id)
    if current is None:
        raise NotFound("No device is registered for this SIM")
    record = _record(current)
    if record.ownership != "company" or record.imei is None:
        return device_view(record)
    imei_history = [_record(u) for u in await repo.device_uses_of_sim(session, sim.id)]
    sim_history = [
        _record(u) for u in await repo.device_uses_of_imei(session, sim.customer_id, record.imei)
    ]
    return device_view(record, imei_history, sim_history)
