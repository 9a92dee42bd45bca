from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response

from billing.api.auth import InvoiceReadableAccounts
from billing.api.filters import UsageFilterDep
from billing.deps import DepsDep
from billing.exports import insights_tables, tables_to_csv, tables_to_xlsx
from billing.reports import render_insights_pdf
from billing.schemas import Insights
from billing.service import insights as service
from billing.service.exports import record_export
from servicekit.app import SessionDep
from servicekit.auth import CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["insights"])

PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX, "pdf": "application/pdf"}


@router.get(
    "/customers/{customer_id}/insights",
    response_model=Insights,
    responses={200: {"content": {"text/csv": {}, XLSX: {}, "application/pdf": {}}}},
)
async def customer_insights(
    customer_id: UUID,
    visible: InvoiceReadableAccounts,
    usage: UsageFilterDep,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
    period_from: Annotated[str | None, Query(alias="from", pattern=PERIOD)] = None,
    period_to: Annotated[str | None, Query(alias="to", pattern=PERIOD)] = None,
    billing_account_id: Annotated[
        UUID | None, Query(description="Only this billing account (404 if not visible).")
    ] = None,
    format: Annotated[
        Literal["json", "csv", "xlsx", "pdf"],
        Query(description="json; csv or xlsx tables; pdf: a printable report with charts."),
    ] = "json",
) -> Insights | Response:
    found = await service.insights(
        session,
        deps,
        customer_id,
        account_ids=visible.ids,
        period_from=period_from,
        period_to=period_to,
        billing_account_id=billing_account_id,
        usage=usage,
    )
    if format == "json":
        return found
    if format == "pdf":
        selection = usage.describe()
        if billing_account_id is not None:
            selection.insert(0, f"billing account {billing_account_id}")
        content = render_insights_pdf(
            found,
            heading=f"Customer {customer_id}",
            filters=selection,
            generated_at=deps.now(),
        )
    elif format == "csv":
        content = tables_to_csv(insights_tables(found))
    else:
        content = tables_to_xlsx(insights_tables(found))
    await record_export(
        session,
        deps,
        principal,
        customer_id,
        what="insights",
        fmt=format,
        rows=None,
        target={"billing_account_id": billing_account_id},
        filters={"from": found.from_, "to": found.to},
    )
    name = f"insights-{found.from_}-{found.to}.{format}"
    disposition = "inline" if format == "pdf" else "attachment"
    return Response(
        content,
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'{disposition}; filename="{name}"'},
    )
