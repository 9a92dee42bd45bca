from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from billing.api.auth import InvoiceReadableAccounts
from billing.deps import DepsDep
from billing.schemas import Insights
from billing.service import insights as service
from servicekit.app import SessionDep

router = APIRouter(prefix="/v1", tags=["insights"])

PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"


@router.get("/customers/{customer_id}/insights", response_model=Insights)
async def customer_insights(
    customer_id: UUID,
    visible: InvoiceReadableAccounts,
    session: SessionDep,
    deps: DepsDep,
    period_from: Annotated[str | None, Query(alias="from", pattern=PERIOD)] = None,
    period_to: Annotated[str | None, Query(alias="to", pattern=PERIOD)] = None,
) -> Insights:
    return await service.insights(
        session,
        deps,
        customer_id,
        account_ids=visible.ids,
        period_from=period_from,
        period_to=period_to,
    )
