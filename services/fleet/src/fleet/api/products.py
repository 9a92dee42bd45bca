"""Routes of the catalogue, consumption, devices and the fleet-manager application."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from contracts.types import PERIOD_PATTERN
from fleet.api.guard import (
    DEVICE_READ,
    FLEET_MANAGER,
    MANAGE,
    READ,
    USAGE_READ,
    customer_resource,
    require_any,
    sim_for,
)
from fleet.api.schemas import (
    CatalogueOut,
    ConsumptionOut,
    DeviceBody,
    DeviceOut,
    FleetManagerOut,
    OptionOut,
    TariffPlanOut,
)
from fleet.deps import DepsDep
from fleet.domain import catalogue
from fleet.service import consumption, devices, fleet_manager
from fleet.service.common import Actor
from servicekit.app import SessionDep
from servicekit.auth import CurrentPrincipal

router = APIRouter()


@router.get("/v1/catalogue", tags=["catalogue"])
async def get_catalogue(principal: CurrentPrincipal) -> CatalogueOut:
    return CatalogueOut(
        tariff_plans=[
            TariffPlanOut(
                code=p.code,
                name=p.name,
                monthly_fee=p.monthly_fee,
                data_mb=p.data_mb,
                voice_min=p.voice_min,
                sms=p.sms,
                description=p.description,
            )
            for p in catalogue.TARIFF_PLANS.values()
        ],
        options=[
            OptionOut(
                code=o.code,
                name=o.name,
                monthly_fee=o.monthly_fee,
                compatible_plans=sorted(o.compatible_plans) if o.compatible_plans else None,
                extra_data_mb=o.extra_data_mb,
                description=o.description,
            )
            for o in catalogue.OPTIONS.values()
        ],
    )


@router.get("/v1/sims/{sim_id}/consumption", tags=["sims"])
async def get_consumption(
    sim_id: UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
) -> ConsumptionOut:
    """Usage of the current billing period (or ``period``) at standard prices."""
    sim = await sim_for(session, deps, principal, sim_id, READ, USAGE_READ)
    return ConsumptionOut(**await consumption.view(session, deps, sim, period))


@router.get(
    "/v1/sims/{sim_id}/device",
    tags=["devices"],
    response_model=DeviceOut,
    response_model_exclude_unset=True,
)
async def get_device(
    sim_id: UUID, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> DeviceOut:
    """IMEI, brand, model and histories are shown for company-owned devices only."""
    sim = await sim_for(session, deps, principal, sim_id, DEVICE_READ)
    return DeviceOut(**await devices.view(session, sim))


@router.put(
    "/v1/sims/{sim_id}/device",
    tags=["devices"],
    response_model=DeviceOut,
    response_model_exclude_unset=True,
)
async def put_device(
    sim_id: UUID,
    body: DeviceBody,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> DeviceOut:
    sim = await sim_for(session, deps, principal, sim_id, MANAGE)
    device = devices.DeviceInput(
        ownership=body.ownership, imei=body.imei, brand=body.brand, model=body.model
    )
    return DeviceOut(**await devices.set_device(session, deps, sim, device, Actor.of(principal)))


@router.get("/v1/customers/{customer_id}/fleet-manager", tags=["fleet-manager"])
async def get_fleet_manager(
    customer_id: UUID, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> FleetManagerOut:
    await require_any(deps, principal, customer_resource(customer_id), (FLEET_MANAGER, READ))
    return FleetManagerOut(**await fleet_manager.status(session, deps, customer_id))


@router.post("/v1/customers/{customer_id}/fleet-manager", tags=["fleet-manager"])
async def activate_fleet_manager(
    customer_id: UUID, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> FleetManagerOut:
    """Activates the application; 409 while the customer has fewer than 30 SIMs."""
    await require_any(deps, principal, customer_resource(customer_id), (FLEET_MANAGER,))
    return FleetManagerOut(**await fleet_manager.activate(session, deps, customer_id))
