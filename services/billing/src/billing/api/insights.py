from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from billing.api.auth import InvoiceReadableAccounts
from billing.deps import DepsDep
from billing.service import insights as service
from contracts.types import Money
from servicekit.app import SessionDep

router = APIRouter(prefix="/v1", tags=["insights"])


class Totals(BaseModel):
    invoices: int
    total_excl_vat: Money
    vat: Money
    total_incl_vat: Money


class Month(Totals):
    period: str


class Category(BaseModel):
    category: str
    amount: Money


class KindUsage(BaseModel):
    records: int
    quantity: int
    amount: Money


class LineUsage(BaseModel):
    line: str
    amount: Money
    records: int
    by_kind: dict[str, KindUsage]


class Consumer(BaseModel):
    line: str
    amount: Money


class Insights(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    customer_id: UUID
    from_: str = Field(alias="from")
    to: str
    totals: Totals
    by_month: list[Month]
    by_category: list[Category]
    by_line: list[LineUsage]
    top_consumers: list[Consumer]


PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"


@router.get("/customers/{customer_id}/insights", response_model=Insights)
async def customer_insights(
    customer_id: UUID,
    visible: InvoiceReadableAccounts,
    session: SessionDep,
    deps: DepsDep,
    period_from: Annotated[str | None, Query(alias="from", pattern=PERIOD)] = None,
    period_to: Annotated[str | None, Query(alias="to", pattern=PERIOD)] = None,
) -> Any:
    return await service.insights(
        session,
        deps,
        customer_id,
        account_ids=visible.ids,
        period_from=period_from,
        period_to=period_to,
    )
