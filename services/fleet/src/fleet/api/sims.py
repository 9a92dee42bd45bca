"""Routes of SIMs: provisioning (operator), lists and exports, subscription changes."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Response, status

from fleet.api import export as files
from fleet.api.auth import (
    ManageableSim,
    OperatorSim,
    OrderableSim,
    ReadableSim,
    SimWithFacts,
    VisibleSims,
)
from fleet.api.schemas import (
    EndUserChange,
    HistoryEntryOut,
    OptionOrder,
    ProvisionSim,
    SimOut,
    TariffPlanChange,
)
from fleet.deps import DepsDep
from fleet.domain.catalogue import Catalogue
from fleet.service import listing, sims
from fleet.service.catalogue import known_catalogue
from fleet.service.common import Actor
from servicekit.app import SessionDep
from servicekit.auth import CurrentPrincipal, OperatorPrincipal
from servicekit.pagination import Cursor, Limit, Page

router = APIRouter(tags=["sims"])

StatusFilter = Annotated[Literal["active", "deactivated"] | None, Query()]
Format = Annotated[Literal["json", "csv", "xlsx"], Query()]


async def _products(session: SessionDep, deps: DepsDep) -> Catalogue | None:
    return await known_catalogue(session, deps)


# The price catalogue valid now, for the fees shown (None until billing's has arrived).
Products = Annotated[Catalogue | None, Depends(_products)]


@router.post("/v1/operator/sims", status_code=status.HTTP_201_CREATED)
async def provision_sim(
    body: ProvisionSim, principal: OperatorPrincipal, session: SessionDep, deps: DepsDep
) -> SimOut:
    new = sims.NewSim(**body.model_dump())
    sim = await sims.provision(session, deps, new, Actor.of(principal))
    return SimOut.of(sim, await known_catalogue(session, deps))


@router.post("/v1/operator/sims/{sim_id}/deactivate")
async def deactivate_sim(
    sim: OperatorSim,
    principal: OperatorPrincipal,
    session: SessionDep,
    deps: DepsDep,
    products: Products,
) -> SimOut:
    return SimOut.of(await sims.deactivate(session, deps, sim, Actor.of(principal)), products)


@router.get(
    "/v1/customers/{customer_id}/sims",
    response_model=Page[SimOut],
    responses={
        200: {
            "content": {
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            }
        }
    },
)
async def list_sims(
    customer_id: UUID,
    visible: VisibleSims,
    session: SessionDep,
    deps: DepsDep,
    products: Products,
    status: StatusFilter = None,
    tariff_plan: Annotated[str | None, Query(max_length=40)] = None,
    q: Annotated[str | None, Query(max_length=40)] = None,
    format: Format = "json",
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[SimOut] | Response:
    if format != "json":
        rows = await listing.export(
            session,
            deps,
            customer_id,
            visible=visible,
            status=status,
            tariff_plan=tariff_plan,
            q=q,
        )
        writer = files.csv_response if format == "csv" else files.xlsx_response
        return writer(rows, f"sims-{customer_id}", products)
    found = await listing.list_sims(
        session,
        customer_id,
        visible=visible,
        status=status,
        tariff_plan=tariff_plan,
        q=q,
        cursor=cursor,
        limit=limit,
    )
    items = [SimOut.of(s, products) for s in found.items]
    return Page(items=items, next_cursor=found.next_cursor)


@router.get("/v1/sims/{sim_id}")
async def get_sim(sim: SimWithFacts, products: Products) -> SimOut:
    return SimOut.of(sim, products)


@router.put("/v1/sims/{sim_id}/tariff-plan")
async def change_tariff_plan(
    sim: OrderableSim,
    body: TariffPlanChange,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> SimOut:
    changed = await sims.change_plan(session, deps, sim, body.tariff_plan, Actor.of(principal))
    return SimOut.of(changed, await known_catalogue(session, deps))


@router.post("/v1/sims/{sim_id}/options")
async def add_option(
    sim: OrderableSim,
    body: OptionOrder,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> SimOut:
    changed = await sims.add_option(session, deps, sim, body.option, Actor.of(principal))
    return SimOut.of(changed, await known_catalogue(session, deps))


@router.delete("/v1/sims/{sim_id}/options/{option}")
async def remove_option(
    sim: OrderableSim,
    option: Annotated[str, Path(max_length=40)],
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> SimOut:
    changed = await sims.remove_option(session, deps, sim, option, Actor.of(principal))
    return SimOut.of(changed, await known_catalogue(session, deps))


@router.put("/v1/sims/{sim_id}/end-user")
async def set_end_user(
    sim: ManageableSim,
    body: EndUserChange,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> SimOut:
    changed = await sims.set_end_user(session, deps, sim, body.user_id, Actor.of(principal))
    return SimOut.of(changed, await known_catalogue(session, deps))


@router.get("/v1/sims/{sim_id}/history")
async def sim_history(
    sim: ReadableSim,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[HistoryEntryOut]:
    entries = await listing.history(session, sim, cursor=cursor, limit=limit)
    return Page(
        items=[HistoryEntryOut.of(e) for e in entries.items], next_cursor=entries.next_cursor
    )
