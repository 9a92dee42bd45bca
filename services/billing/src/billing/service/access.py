"""Loading an object and checking the caller may see it, in one step (404 otherwise)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from billing.deps import Deps
from billing.models import BillingAccount, Invoice
from billing.repository import accounts as accounts_repo
from billing.repository import invoices as invoices_repo
from contracts.actions import Action
from servicekit.auth import Principal
from servicekit.delegation_client import Resource
from servicekit.problems import NotFound


def account_resource(account: BillingAccount) -> Resource:
    return Resource(
        "billing_account", account.id, account.customer_id, billing_account_id=account.id
    )


def invoice_resource(invoice: Invoice) -> Resource:
    return Resource(
        "invoice", invoice.id, invoice.customer_id, billing_account_id=invoice.billing_account_id
    )


async def visible_account(
    session: AsyncSession, deps: Deps, principal: Principal, account_id: uuid.UUID, action: Action
) -> BillingAccount:
    account = await accounts_repo.get_account(session, account_id)
    if account is None:
        raise NotFound("No such billing account")
    if account.status == "terminated" and principal.kind == "user":
        # A terminated customer's data is no longer available to its users.
        raise NotFound("No such billing account")
    await deps.delegation.require(principal, account_resource(account), action)
    return account


async def visible_invoice(
    session: AsyncSession,
    deps: Deps,
    principal: Principal,
    invoice_id: uuid.UUID,
    action: Action,
) -> Invoice:
    invoice = await invoices_repo.get_invoice(session, invoice_id)
    if invoice is None:
        raise NotFound("No such invoice")
    if principal.kind == "user":
        account = await accounts_repo.get_account(session, invoice.billing_account_id)
        if account is None or account.status == "terminated":
            raise NotFound("No such invoice")
    # 404 if the caller cannot even read it, 403 if it can read but not do this.
    await deps.delegation.require(
        principal, invoice_resource(invoice), action, visible_with=Action.INVOICE_READ
    )
    return invoice
