"""HTTP routes: parse, state the rights needed (api.auth), call one use case, shape the reply."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response

from billing import schemas as s
from billing.api.auth import (
    AccountWithFacts,
    ListableAccounts,
    ObjectableInvoice,
    PdfReadableInvoice,
    ReadableAccount,
    ReadableInvoice,
    UblReadableInvoice,
    UsageReadableAccount,
    UsageReadableInvoice,
)
from billing.api.filters import UsageFilterDep
from billing.deps import DepsDep
from billing.service import accounts, invoices, objections, runs, usage
from servicekit.app import SessionDep
from servicekit.auth import CurrentPrincipal, OperatorPrincipal
from servicekit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from servicekit.problems import ValidationFailed

router = APIRouter(prefix="/v1", tags=["billing"])

PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"
FromPeriod = Annotated[str | None, Query(alias="from", pattern=PERIOD)]
ToPeriod = Annotated[str | None, Query(alias="to", pattern=PERIOD)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.post("/operator/billing-accounts", status_code=201)
async def create_billing_account(
    body: s.AccountIn, principal: OperatorPrincipal, session: SessionDep, deps: DepsDep
) -> s.AccountCreated:
    account = await accounts.create_account(
        session, deps, customer_id=body.customer_id, kind=body.kind, name=body.name
    )
    return s.AccountCreated(billing_account_id=account.id)


@router.get("/customers/{customer_id}/billing-accounts")
async def list_billing_accounts(
    customer_id: UUID,
    visible: ListableAccounts,
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[s.AccountOut]:
    return await accounts.list_accounts(
        session,
        customer_id,
        only_ids=visible.ids,
        active_only=visible.active_only,
        cursor=cursor,
        limit=limit,
    )


@router.get("/billing-accounts/{billing_account_id}")
async def get_billing_account(account: AccountWithFacts) -> s.AccountOut:
    return s.AccountOut.of(account)


@router.post("/operator/usage", status_code=202)
async def post_usage(
    body: s.UsageBatchIn, principal: OperatorPrincipal, session: SessionDep, deps: DepsDep
) -> s.UsageAccepted:
    try:
        result = await usage.ingest(session, deps, body.records)
    except usage.UsageRejected as exc:
        raise ValidationFailed(str(exc), errors=exc.errors) from exc
    return s.UsageAccepted(
        accepted=result.accepted, duplicates=result.duplicates, excluded=result.excluded
    )


@router.get("/billing-accounts/{billing_account_id}/unbilled-usage")
async def unbilled_usage(
    scope: UsageReadableAccount,
    session: SessionDep,
    deps: DepsDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> s.UnbilledUsage:
    return await usage.unbilled_usage(
        session, deps, scope.account, lines=scope.lines, cursor=cursor, limit=limit
    )


@router.post("/operator/billing-runs", status_code=202)
async def request_billing_run(
    body: s.RunIn, principal: OperatorPrincipal, session: SessionDep, deps: DepsDep
) -> s.RunCreated:
    run = await runs.request_run(
        session,
        deps,
        period_text=body.period,
        account_ids=body.billing_account_ids,
        requested_by=principal.subject,
    )
    return s.RunCreated(run_id=run.id, status=run.status)


@router.get("/operator/billing-runs/{run_id}")
async def get_billing_run(
    run_id: UUID, principal: OperatorPrincipal, session: SessionDep
) -> s.RunOut:
    return await runs.get_run(session, run_id)


@router.get(
    "/billing-accounts/{billing_account_id}/invoices",
    response_model=Page[s.InvoiceSummary],
    responses={200: {"content": {"text/csv": {}, XLSX: {}}}},
)
async def list_invoices(
    account: ReadableAccount,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    period_from: FromPeriod = None,
    period_to: ToPeriod = None,
    format: Annotated[
        Literal["json", "csv", "xlsx"],
        Query(description="csv or xlsx: every invoice of the periods in one file."),
    ] = "json",
) -> Page[s.InvoiceSummary] | Response:
    if format != "json":
        content = await invoices.invoice_list_file(
            session,
            deps,
            account,
            format,
            period_from=period_from,
            period_to=period_to,
            exported_by=principal,
        )
        return Response(
            content,
            media_type="text/csv; charset=utf-8" if format == "csv" else XLSX,
            headers={
                "Content-Disposition": f'attachment; filename="invoices-{account.id}.{format}"'
            },
        )
    return await invoices.list_invoices(
        session,
        account,
        period_from=period_from,
        period_to=period_to,
        cursor=cursor,
        limit=limit,
    )


@router.get("/invoices/{invoice_id}")
async def get_invoice(invoice: ReadableInvoice, session: SessionDep) -> s.InvoiceOut:
    return await invoices.get_invoice(session, invoice)


@router.get(
    "/invoices/{invoice_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def get_invoice_pdf(invoice: PdfReadableInvoice, session: SessionDep) -> Response:
    content = await invoices.get_pdf(session, invoice)
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{invoice.number}.pdf"'},
    )


@router.get(
    "/invoices/{invoice_id}/usage",
    response_model=s.InvoiceUsage,
    responses={200: {"content": {"text/csv": {}, XLSX: {}}}},
)
async def get_invoice_usage(
    invoice: UsageReadableInvoice,
    principal: CurrentPrincipal,
    session: SessionDep,
    usage: UsageFilterDep,
    deps: DepsDep,
    format: Literal["json", "csv", "xlsx"] = "json",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> s.InvoiceUsage | Response:
    if format == "json":
        return await invoices.invoice_usage(
            session, invoice, cursor=cursor, limit=limit, usage=usage
        )
    content = await invoices.invoice_usage_file(session, deps, invoice, format, principal, usage)
    return Response(
        content,
        media_type="text/csv; charset=utf-8" if format == "csv" else XLSX,
        headers={"Content-Disposition": f'attachment; filename="{invoice.number}-usage.{format}"'},
    )


@router.post("/invoices/{invoice_id}/objections", status_code=201)
async def object_to_invoice(
    invoice: ObjectableInvoice,
    body: s.ObjectionIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> s.ObjectionOut:
    return await objections.object_to_invoice(
        session, deps, invoice, reason=body.reason, submitted_by=principal.subject
    )


@router.get(
    "/invoices/{invoice_id}/ubl",
    response_class=Response,
    responses={
        200: {
            "content": {"application/xml": {}},
            "description": "The Peppol BIS Billing 3.0 document: a UBL 2.1 Invoice, or a "
            "UBL 2.1 CreditNote for a credit note.",
        }
    },
)
async def get_invoice_ubl(invoice: UblReadableInvoice, session: SessionDep) -> Response:
    content = await invoices.get_ubl(session, invoice)
    return Response(
        content,
        media_type="application/xml",
        headers={"Content-Disposition": f'inline; filename="{invoice.number}.xml"'},
    )


@router.get("/operator/objections")
async def list_objections(
    principal: OperatorPrincipal,
    session: SessionDep,
    status: Literal["open", "accepted", "rejected"] | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[s.ObjectionOut]:
    return await objections.list_objections(session, status=status, cursor=cursor, limit=limit)


@router.post("/operator/objections/{objection_id}/accept")
async def accept_objection(
    objection_id: UUID, principal: OperatorPrincipal, session: SessionDep, deps: DepsDep
) -> s.ObjectionOut:
    return await objections.accept_objection(
        session, deps, objection_id, decided_by=principal.subject
    )


@router.post("/operator/objections/{objection_id}/reject")
async def reject_objection(
    objection_id: UUID,
    body: s.ObjectionDecisionIn,
    principal: OperatorPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> s.ObjectionOut:
    return await objections.reject_objection(
        session, deps, objection_id, reason=body.reason, decided_by=principal.subject
    )
