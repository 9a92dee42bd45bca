"""HTTP routes: parse, authorize, call one use case, shape the reply."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from pydantic import ValidationError

from contracts.actions import Action
from einvoice import domain, service
from einvoice.deps import Deps, DepsDep
from einvoice.models import BillingAccount
from einvoice.schemas import BankAppIn, BankCallbackIn, ConfirmIn, EmailChannelIn
from servicekit.app import SessionDep
from servicekit.auth import CurrentPrincipal, Principal
from servicekit.delegation_client import Resource
from servicekit.pagination import DEFAULT_LIMIT, Cursor, Limit
from servicekit.problems import BadRequest, Unauthorized, ValidationFailed

router = APIRouter(prefix="/v1", tags=["einvoice"])

READ, MANAGE = Action.INVOICE_READ, Action.EINVOICE_MANAGE


def _resource(acct: BillingAccount) -> Resource:
    return Resource(
        "billing_account",
        acct.billing_account_id,
        acct.customer_id,
        billing_account_id=acct.billing_account_id,
    )


async def authorize_read(deps: Deps, who: Principal, acct: BillingAccount) -> None:
    """Seeing the delivery settings: whoever may read the invoices or manage delivery."""
    await deps.delegation.require(who, _resource(acct), READ, MANAGE)


async def authorize_manage(deps: Deps, who: Principal, acct: BillingAccount) -> None:
    """Changing them needs einvoice.manage; 403 only for those who may see the account."""
    await deps.delegation.require(who, _resource(acct), MANAGE, visible_with=READ)


@router.get("/billing-accounts/{billing_account_id}/delivery")
async def get_delivery(
    billing_account_id: uuid.UUID,
    who: CurrentPrincipal,
    deps: DepsDep,
    session: SessionDep,
) -> dict[str, Any]:
    acct = await service.account(session, deps, billing_account_id)
    await authorize_read(deps, who, acct)
    return await service.get_delivery(session, acct)


@router.put("/billing-accounts/{billing_account_id}/delivery/email", status_code=202)
async def choose_email(
    billing_account_id: uuid.UUID,
    body: EmailChannelIn,
    who: CurrentPrincipal,
    deps: DepsDep,
    session: SessionDep,
    response: Response,
) -> dict[str, Any]:
    """202 pending_confirmation: a confirmation mail goes to the address and the current
    channel stays in force until its link is used. 200 active when the address was
    already confirmed and only the alerts or mobile number changed."""
    acct = await service.account(session, deps, billing_account_id)
    await authorize_manage(deps, who, acct)
    view, pending = await service.request_email(
        session,
        deps,
        acct,
        email=body.email,
        mobile=body.mobile,
        alerts=list(body.alerts),
        locale=body.locale,
        requested_by=who.subject,
    )
    if not pending:
        response.status_code = 200
    return view


@router.post("/delivery/email/confirm")
async def confirm_email(body: ConfirmIn, deps: DepsDep, session: SessionDep) -> dict[str, Any]:
    """No bearer token: the token from the mail's link is the proof. 404 unknown link,
    409 already used, 410 expired or replaced by a newer request."""
    return await service.confirm_email(session, deps, body.token)


@router.put("/billing-accounts/{billing_account_id}/delivery/bank-app", status_code=202)
async def choose_bank_app(
    billing_account_id: uuid.UUID,
    body: BankAppIn,
    who: CurrentPrincipal,
    deps: DepsDep,
    session: SessionDep,
) -> dict[str, Any]:
    """202 pending_bank_acceptance: the bank invites the customer; the channel is active
    once the bank reports acceptance, for invoices from that billing cycle on."""
    acct = await service.account(session, deps, billing_account_id)
    await authorize_manage(deps, who, acct)
    return await service.request_bank_app(
        session, deps, acct, iban=body.iban, requested_by=who.subject
    )


@router.post("/bank-app/callbacks")
async def bank_callback(
    request: Request,
    deps: DepsDep,
    session: SessionDep,
    x_bank_signature: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
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


@router.delete("/billing-accounts/{billing_account_id}/delivery")
async def back_to_paper(
    billing_account_id: uuid.UUID,
    who: CurrentPrincipal,
    deps: DepsDep,
    session: SessionDep,
) -> dict[str, Any]:
    """Cancels the e-invoice channel (and any pending request): invoices go on paper.
    For a fixed account this ends the customer-wide e-mail channel of all fixed accounts."""
    acct = await service.account(session, deps, billing_account_id)
    await authorize_manage(deps, who, acct)
    return await service.cancel(session, deps, acct)


@router.get("/billing-accounts/{billing_account_id}/deliveries")
async def deliveries(
    billing_account_id: uuid.UUID,
    who: CurrentPrincipal,
    deps: DepsDep,
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> dict[str, Any]:
    acct = await service.account(session, deps, billing_account_id)
    await authorize_read(deps, who, acct)
    return await service.list_deliveries(session, acct, limit=limit, cursor=cursor)
