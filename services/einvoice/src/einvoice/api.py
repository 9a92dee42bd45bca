"""HTTP routes: each declares the rights it needs (``auth``), calls one use case and shapes
the reply."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from pydantic import ValidationError

from einvoice import domain, service
from einvoice.auth import ManageableAccount, ReadableAccount
from einvoice.deps import DepsDep
from einvoice.schemas import (
    BankAppIn,
    BankCallbackIn,
    BankDecisionOut,
    ChannelRequestOut,
    ConfirmIn,
    DeliveryItemOut,
    DeliveryOut,
    EmailChannelIn,
    EmailConfirmedOut,
    PeppolIn,
)
from servicekit.app import SessionDep
from servicekit.auth import CurrentPrincipal
from servicekit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from servicekit.problems import BadRequest, Unauthorized, ValidationFailed

router = APIRouter(prefix="/v1", tags=["einvoice"])


@router.get("/billing-accounts/{billing_account_id}/delivery", response_model_exclude_none=True)
async def get_delivery(acct: ReadableAccount, session: SessionDep) -> DeliveryOut:
    return await service.get_delivery(session, acct)


@router.put(
    "/billing-accounts/{billing_account_id}/delivery/email",
    status_code=202,
    response_model_exclude_none=True,
)
async def choose_email(
    body: EmailChannelIn,
    acct: ManageableAccount,
    who: CurrentPrincipal,
    deps: DepsDep,
    session: SessionDep,
    response: Response,
) -> ChannelRequestOut:
    """202 pending_confirmation: a confirmation mail goes to the address and the current
    channel stays in force until its link is used. 200 active when the address was
    already confirmed and only the alerts or mobile number changed."""
    view = await service.request_email(
        session,
        deps,
        acct,
        email=body.email,
        mobile=body.mobile,
        alerts=list(body.alerts),
        locale=body.locale,
        requested_by=who.subject,
    )
    if view.status == domain.ACTIVE:
        response.status_code = 200
    return view


@router.post("/delivery/email/confirm")
async def confirm_email(body: ConfirmIn, deps: DepsDep, session: SessionDep) -> EmailConfirmedOut:
    """No bearer token: the token from the mail's link is the proof. 404 unknown link,
    409 already used, 410 expired or replaced by a newer request."""
    return await service.confirm_email(session, deps, body.token)


@router.put(
    "/billing-accounts/{billing_account_id}/delivery/bank-app",
    status_code=202,
    response_model_exclude_none=True,
)
async def choose_bank_app(
    body: BankAppIn,
    acct: ManageableAccount,
    who: CurrentPrincipal,
    deps: DepsDep,
    session: SessionDep,
) -> ChannelRequestOut:
    """202 pending_bank_acceptance: the bank invites the customer; the channel is active
    once the bank reports acceptance, for invoices from that billing cycle on."""
    return await service.request_bank_app(
        session, deps, acct, iban=body.iban, requested_by=who.subject
    )


@router.put(
    "/billing-accounts/{billing_account_id}/delivery/peppol",
    response_model_exclude_none=True,
)
async def choose_peppol(
    body: PeppolIn,
    acct: ManageableAccount,
    who: CurrentPrincipal,
    deps: DepsDep,
    session: SessionDep,
) -> ChannelRequestOut:
    """200 active: invoices of this account go as Peppol BIS Billing 3.0 (UBL) documents
    to the customer's participant ``0208:<enterprise number>``, from the next one billing
    closes; no paper. Choosing it again changes nothing."""
    return await service.choose_peppol(session, deps, acct, requested_by=who.subject)


@router.post("/bank-app/callbacks")
async def bank_callback(
    request: Request,
    deps: DepsDep,
    session: SessionDep,
    x_bank_signature: Annotated[str | None, Header()] = None,
) -> BankDecisionOut:
    """Called by the bank adapter, signed with HMAC-SHA256 over the raw body (hex, in
    ``X-Bank-Signature``). 401 bad signature, 404 unknown request, 409 contradicts an
    earlier answer; repeating an answer is harmless."""
    raw = await request.body()
    if not domain.bank_signature_valid(raw, deps.settings.bank_callback_secret, x_bank_signature):
        raise Unauthorized("Bad or missing bank signature", headers={})
    try:
        body = BankCallbackIn.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise BadRequest("The request body is not valid JSON", slug="malformed-json") from None
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise ValidationFailed(detail, errors=errors) from None
    return await service.bank_decision(
        session,
        deps,
        billing_account_id=body.billing_account_id,
        reference=body.reference,
        accepted=body.decision == "accepted",
    )


@router.delete("/billing-accounts/{billing_account_id}/delivery", response_model_exclude_none=True)
async def back_to_paper(acct: ManageableAccount, deps: DepsDep, session: SessionDep) -> DeliveryOut:
    """Cancels the e-invoice channel (and any pending request): invoices go on paper.
    For a fixed account this ends the customer-wide e-mail channel of all fixed accounts."""
    return await service.cancel(session, deps, acct)


@router.get("/billing-accounts/{billing_account_id}/deliveries")
async def deliveries(
    acct: ReadableAccount,
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[DeliveryItemOut]:
    return await service.list_deliveries(session, acct, limit=limit, cursor=cursor)
