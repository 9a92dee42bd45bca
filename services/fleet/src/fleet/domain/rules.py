"""Rules of the fleet: the fleet-manager threshold, device visibility, periods."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

FLEET_MANAGER_THRESHOLD = 30
"""Operator SIMs a customer needs for the fleet-manager application (specific terms)."""

BRUSSELS = ZoneInfo("Europe/Brussels")

Ownership = Literal["company", "personal"]
FleetManagerStatus = Literal["inactive", "active", "terminated"]


class NotEligible(ValueError):
    def __init__(self, sim_count: int, threshold: int) -> None:
        self.sim_count = sim_count
        self.threshold = threshold
        super().__init__(
            f"the fleet-manager application needs at least {threshold} active operator SIMs; "
            f"the customer has {sim_count}"
        )


def may_activate_fleet_manager(active_sims: int, threshold: int = FLEET_MANAGER_THRESHOLD) -> bool:
    return active_sims >= threshold


def check_fleet_manager_activation(
    active_sims: int, threshold: int = FLEET_MANAGER_THRESHOLD
) -> None:
    if not may_activate_fleet_manager(active_sims, threshold):
        raise NotEligible(active_sims, threshold)


def must_terminate_fleet_manager(
    status: str, active_sims: int, threshold: int = FLEET_MANAGER_THRESHOLD
) -> bool:
    """Terminated at once when an active application's customer falls below the threshold."""
    return status == "active" and active_sims < threshold


@dataclass(frozen=True)
class DeviceRecord:
    """One device seen in one SIM (a row of the device history)."""

    sim_id: str
    msisdn: str
    imei: str | None
    brand: str | None
    model: str | None
    ownership: Ownership
    since: datetime
    until: datetime | None


@dataclass(frozen=True)
class ImeiPeriod:
    """A company device's period in this SIM."""

    imei: str | None
    brand: str | None
    model: str | None
    from_: datetime
    to: datetime | None


@dataclass(frozen=True)
class SimPeriod:
    """A company device's period in some SIM of the customer."""

    sim_id: str
    msisdn: str
    from_: datetime
    to: datetime | None


@dataclass(frozen=True)
class DeviceView:
    """What may be shown about a SIM's device; a personal one has ``ownership`` only."""

    ownership: Ownership
    imei: str | None = None
    brand: str | None = None
    model: str | None = None
    since: datetime | None = None
    imei_history: tuple[ImeiPeriod, ...] = ()
    sim_history: tuple[SimPeriod, ...] = ()


def device_view(
    current: DeviceRecord,
    imei_history: Sequence[DeviceRecord] = (),
    sim_history: Sequence[DeviceRecord] = (),
) -> DeviceView:
    """What may be shown about a SIM's device.

    Bring-your-own devices are the end user's private property: only the fact that the
    device is personal is shown, never its IMEI, brand, model or histories. Histories
    of a company device include only periods in which a device was company-owned.
    """
    if current.ownership != "company":
        return DeviceView(ownership="personal")
    return DeviceView(
        ownership="company",
        imei=current.imei,
        brand=current.brand,
        model=current.model,
        since=current.since,
        imei_history=tuple(
            ImeiPeriod(imei=r.imei, brand=r.brand, model=r.model, from_=r.since, to=r.until)
            for r in imei_history
            if r.ownership == "company"
        ),
        sim_history=tuple(
            SimPeriod(sim_id=r.sim_id, msisdn=r.msisdn, from_=r.since, to=r.until)
            for r in sim_history
            if r.ownership == "company"
        ),
    )


def current_period(now: datetime) -> str:
    """Billing periods are calendar months in Belgian time."""
    return now.astimezone(BRUSSELS).strftime("%Y-%m")


def period_start(period: str) -> date:
    year, month = period.split("-")
    return date(int(year), int(month), 1)


def months_before(period: str, months: int) -> str:
    """The period ``months`` calendar months before ``period`` (for retention cut-offs)."""
    year, month = (int(x) for x in period.split("-"))
    index = year * 12 + (month - 1) - months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
