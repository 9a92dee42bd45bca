"""Routes of the catalogue, consumption, devices and the fleet-manager application."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from contracts.types import PERIOD_PATTERN
from fleet.api.auth import (
    DeviceReadableSim,
    FleetManagerActivator,
    FleetManagerReader,
    ManageableSim,
    UsageReadableSim,
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
from fleet.service import consumption, devices, fleet_manager
from fleet.service.catalogue import current_catalogue
from fleet.service.common import Actor
from servicekit.app import SessionDep
from servicekit.auth import CurrentPrincipal

router = APIRouter()


@router.get("/v1/catalogue", tags=["catalogue"])
async def get_catalogue(
    principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> CatalogueOut:
    """The catalogue valid now, as billing published it; 503 until it has arrived."""
    products = await current_catalogue(session, deps)
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
            for p in products.plans.values()
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
            for o in products.options.values()
        ],
    )


@router.get("/v1/sims/{sim_id}/consumption", tags=["sims"])
async def get_consumption(
    sim: UsageReadableSim,
    session: SessionDep,
    deps: DepsDep,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
) -> ConsumptionOut:
    """Usage of the current billing period (or ``period``) at standard prices."""
    return ConsumptionOut.model_validate(await consumption.view(session, deps, sim, period))


@router.get(
    "/v1/sims/{sim_id}/device",
    tags=["devices"],
    response_model=DeviceOut,
    response_model_exclude_unset=True,
)
async def get_device(sim: DeviceReadableSim, session: SessionDep) -> DeviceOut:
    """IMEI, brand, model and histories are shown for company-owned devices only."""
    return DeviceOut.of(await devices.view(session, sim))


@router.put(
    "/v1/sims/{sim_id}/device",
    tags=["devices"],
    response_model=DeviceOut,
    response_model_exclude_unset=True,
)
async def put_device(
    sim: ManageableSim,
    body: DeviceBody,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> DeviceOut:
    device = devices.DeviceInput(
        ownership=body.ownership, imei=body.imei, brand=body.brand, model=body.model
    )
    view = await devices.set_device(session, deps, sim, device, Actor.of(principal))
    return DeviceOut.of(view)


@router.get("/v1/customers/{customer_id}/fleet-manager", tags=["fleet-manager"])
async def get_fleet_manager(
    customer_id: FleetManagerReader, session: SessionDep, deps: DepsDep
) -> FleetManagerOut:
    return FleetManagerOut.model_validate(await fleet_manager.status(session, deps, customer_id))


@router.post("/v1/customers/{customer_id}/fleet-manager", tags=["fleet-manager"])
async def activate_fleet_manager(
    customer_id: FleetManagerActivator, session: SessionDep, deps: DepsDep
) -> FleetManagerOut:
    """Activates the application; 409 while the customer has fewer than 30 SIMs."""
    return FleetManagerOut.model_validate(await fleet_manager.activate(session, deps, customer_id))
