"""HTTP routes: parse, state the rights needed (api.auth), call one use case, shape the reply."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response

from billing.api import schemas as s
from billing.api.auth import (
    ListableAccounts,
    ObjectableInvoice,
    ReadableAccount,
    ReadableInvoice,
    UsageReadableAccount,
    UsageReadableInvoice,
)
from billing.deps import DepsDep
from billing.service import accounts, invoices, runs, usage
from servicekit.app import SessionDep
from servicekit.auth import CurrentPrincipal, OperatorPrincipal
from servicekit.pagination import DEFAULT_LIMIT, Cursor, Limit
from servicekit.problems import ValidationFailed

router = APIRouter(prefix="/v1", tags=["billing"])

PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"
FromPeriod = Annotated[str | None, Query(alias="from", pattern=PERIOD)]
ToPeriod = Annotated[str | None, Query(alias="to", pattern=PERIOD)]


@router.post("/operator/billing-accounts", status_code=201, response_model=s.AccountCreated)
async def create_billing_account(
    body: s.AccountIn, principal: OperatorPrincipal, session: SessionDep, deps: DepsDep
) -> Any:
    account = await accounts.create_account(
        session, deps, customer_id=body.customer_id, kind=body.kind, name=body.name
    )
    return {"billing_account_id": account.id}


@router.get("/customers/{customer_id}/billing-accounts", response_model=s.AccountPage)
async def list_billing_accounts(
    customer_id: UUID,
    visible: ListableAccounts,
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Any:
    return await accounts.list_accounts(
        session,
        customer_id,
        only_ids=visible.ids,
        active_only=visible.active_only,
        cursor=cursor,
        limit=limit,
    )


@router.get("/billing-accounts/{billing_account_id}", response_model=s.AccountOut)
async def get_billing_account(account: ReadableAccount) -> Any:
    return accounts.account_view(account)


@router.post("/operator/usage", status_code=202, response_model=s.UsageAccepted)
async def post_usage(
    body: s.UsageBatchIn, principal: OperatorPrincipal, session: SessionDep, deps: DepsDep
) -> Any:
    try:
        result = await usage.ingest(session, deps, body.records)
    except usage.UsageRejected as exc:
        raise ValidationFailed(str(exc), errors=exc.errors) from exc
    return {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "excluded": result.excluded,
    }


@router.get("/billing-accounts/{billing_account_id}/unbilled-usage", response_model=s.UnbilledUsage)
async def unbilled_usage(
    scope: UsageReadableAccount,
    session: SessionDep,
    deps: DepsDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Any:
    return await usage.unbilled_usage(
        session, deps, scope.account, lines=scope.lines, cursor=cursor, limit=limit
    )


@router.post("/operator/billing-runs", status_code=202, response_model=s.RunCreated)
async def request_billing_run(
    body: s.RunIn, principal: OperatorPrincipal, session: SessionDep, deps: DepsDep
) -> Any:
    run = await runs.request_run(
        session,
        deps,
        period_text=body.period,
        account_ids=body.billing_account_ids,
        requested_by=principal.subject,
    )
    return {"run_id": run.id, "status": run.status}


@router.get("/operator/billing-runs/{run_id}", response_model=s.RunOut)
async def get_billing_run(run_id: UUID, principal: OperatorPrincipal, session: SessionDep) -> Any:
    return await runs.get_run(session, run_id)


@router.get("/billing-accounts/{billing_account_id}/invoices", response_model=s.InvoicePage)
async def list_invoices(
    account: ReadableAccount,
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    period_from: FromPeriod = None,
    period_to: ToPeriod = None,
) -> Any:
    return await invoices.list_invoices(
        session,
        account,
        period_from=period_from,
        period_to=period_to,
        cursor=cursor,
        limit=limit,
    )


@router.get("/invoices/{invoice_id}", response_model=s.InvoiceOut)
async def get_invoice(invoice: ReadableInvoice, session: SessionDep) -> Any:
    return await invoices.get_invoice(session, invoice)


@router.get(
    "/invoices/{invoice_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def get_invoice_pdf(invoice: ReadableInvoice, session: SessionDep) -> Response:
    content = await invoices.get_pdf(session, invoice)
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{invoice.number}.pdf"'},
    )


@router.get(
    "/invoices/{invoice_id}/usage",
    response_model=s.InvoiceUsage,
    responses={
        200: {
            "content": {
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            }
        }
    },
)
async def get_invoice_usage(
    invoice: UsageReadableInvoice,
    session: SessionDep,
    format: Literal["json", "csv", "xlsx"] = "json",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Any:
    result = await invoices.invoice_usage(session, invoice, fmt=format, cursor=cursor, limit=limit)
    if format == "json":
        return result
    media = (
        "text/csv; charset=utf-8"
        if format == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return Response(
        result,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{invoice.number}-usage.{format}"'},
    )


@router.post("/invoices/{invoice_id}/objections", status_code=201, response_model=s.ObjectionOut)
async def object_to_invoice(
    invoice: ObjectableInvoice,
    body: s.ObjectionIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> Any:
    return await invoices.object_to_invoice(
        session, deps, invoice, reason=body.reason, submitted_by=principal.subject
    )
