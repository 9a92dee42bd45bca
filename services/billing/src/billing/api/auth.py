"""What a route may touch, declared in its signature (``account: ReadableAccount``).

Each dependency loads the object (404 if absent) and asks servicekit's one 404/403 rule,
``delegation.require``: 404 when the caller may not even see it, 403 when they may see
but not do this. Operators pass; a service's token only on the internal reads that admit
its scope (an account's facts, an invoice's PDF or UBL document). A terminated customer's data is no
longer available to its users, whatever rights remain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, TypeVar
from uuid import UUID

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from billing.deps import Deps, DepsDep
from billing.models import BillingAccount, Invoice
from billing.repository import accounts as accounts_repo
from billing.repository import invoices as invoices_repo
from billing.repository.accounts import AccountFacts
from contracts.actions import Action
from contracts.scopes import ServiceScope
from servicekit.app import SessionDep
from servicekit.auth import CurrentPrincipal, Principal, principal_or_service
from servicekit.delegation_client import Resource
from servicekit.problems import NotFound, Problem

log = logging.getLogger(__name__)


def account_resource(account: BillingAccount | AccountFacts) -> Resource:
    return Resource(
        "billing_account", account.id, account.customer_id, billing_account_id=account.id
    )


def invoice_resource(invoice: Invoice) -> Resource:
    return Resource(
        "invoice", invoice.id, invoice.customer_id, billing_account_id=invoice.billing_account_id
    )


# -- one billing account ------------------------------------------------------------------


_A = TypeVar("_A", BillingAccount, AccountFacts)


def _shown(account: _A | None, principal: Principal) -> _A:
    """The account, unless the caller may not know of it: absent, or a terminated
    customer's account asked by one of its users (operators still see it). 404 then."""
    if account is None or (account.status == "terminated" and principal.kind == "user"):
        raise NotFound("No such billing account")
    return account


async def _account(session: AsyncSession, principal: Principal, account_id: UUID) -> BillingAccount:
    return _shown(await accounts_repo.get_account(session, account_id), principal)


# Internal reads open to a peer's service token with the scope (docs/security.md).
AccountFactsReader = Annotated[
    Principal, Depends(principal_or_service(ServiceScope.BILLING_ACCOUNT_READ))
]
InvoicePdfReader = Annotated[
    Principal, Depends(principal_or_service(ServiceScope.INVOICE_PDF_READ))
]
InvoiceUblReader = Annotated[
    Principal, Depends(principal_or_service(ServiceScope.INVOICE_UBL_READ))
]


async def readable_account(
    billing_account_id: UUID, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> BillingAccount:
    account = await _account(session, principal, billing_account_id)
    await deps.delegation.require(principal, account_resource(account), Action.INVOICE_READ)
    return account


async def readable(principal: Principal, deps: Deps, facts: AccountFacts | None) -> AccountFacts:
    """``readable_account`` for the invoice list's fast lane (``api.fast``): the same rule,
    on the account's facts read without the ORM (None: no such account)."""
    facts = _shown(facts, principal)
    await deps.delegation.require(principal, account_resource(facts), Action.INVOICE_READ)
    return facts


async def account_with_facts(
    billing_account_id: UUID, principal: AccountFactsReader, session: SessionDep, deps: DepsDep
) -> BillingAccount:
    """The account's own facts: for its readers, and for peers with the scope (delegation
    checks a grant's scope ids, einvoice learns an account's customer and kind)."""
    return await readable_account(billing_account_id, principal, session, deps)


ReadableAccount = Annotated[BillingAccount, Depends(readable_account)]
AccountWithFacts = Annotated[BillingAccount, Depends(account_with_facts)]


@dataclass(frozen=True)
class UsageScope:
    """The account whose usage the caller reads, and which of its lines (None = all)."""

    account: BillingAccount
    lines: list[str] | None


async def usage_scope(
    billing_account_id: UUID, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> UsageScope:
    """A user who may not read the account's usage but may read the usage of some of its
    SIMs (a service user and their own SIM, SPEC 8.6) sees those lines only."""
    try:
        account = await _account(session, principal, billing_account_id)
        await deps.delegation.require(principal, account_resource(account), Action.USAGE_READ)
    except NotFound:
        if principal.kind != "user":
            raise
        return await _own_lines(session, deps, principal, billing_account_id)
    return UsageScope(account, None)


async def _own_lines(
    session: AsyncSession, deps: Deps, principal: Principal, account_id: UUID
) -> UsageScope:
    account = await accounts_repo.get_account(session, account_id)
    if account is None or account.status != "active":
        raise NotFound("No such billing account")
    visible = await deps.delegation.visible(principal.subject, "sim", Action.USAGE_READ)
    lines = await accounts_repo.msisdns_of_sims(session, account.id, set(visible.ids))
    if not lines:
        raise NotFound("No such billing account")
    return UsageScope(account, lines)


UsageReadableAccount = Annotated[UsageScope, Depends(usage_scope)]


# -- one invoice --------------------------------------------------------------------------


async def _invoice(
    session: AsyncSession, deps: Deps, principal: Principal, invoice_id: UUID, action: Action
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


async def readable_invoice(
    invoice_id: UUID, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> Invoice:
    return await _invoice(session, deps, principal, invoice_id, Action.INVOICE_READ)


async def usage_readable_invoice(
    invoice_id: UUID, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> Invoice:
    return await _invoice(session, deps, principal, invoice_id, Action.USAGE_READ)


async def objectable_invoice(
    invoice_id: UUID, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> Invoice:
    return await _invoice(session, deps, principal, invoice_id, Action.INVOICE_OBJECT)


async def pdf_readable_invoice(
    invoice_id: UUID, principal: InvoicePdfReader, session: SessionDep, deps: DepsDep
) -> Invoice:
    return await _invoice(session, deps, principal, invoice_id, Action.INVOICE_READ)


ReadableInvoice = Annotated[Invoice, Depends(readable_invoice)]
PdfReadableInvoice = Annotated[Invoice, Depends(pdf_readable_invoice)]


async def ubl_readable_invoice(
    invoice_id: UUID, principal: InvoiceUblReader, session: SessionDep, deps: DepsDep
) -> Invoice:
    return await _invoice(session, deps, principal, invoice_id, Action.INVOICE_READ)


UblReadableInvoice = Annotated[Invoice, Depends(ubl_readable_invoice)]
UsageReadableInvoice = Annotated[Invoice, Depends(usage_readable_invoice)]
ObjectableInvoice = Annotated[Invoice, Depends(objectable_invoice)]


# -- lists of a customer's accounts ----------------------------------------------------------


@dataclass(frozen=True)
class AccountFilter:
    """Which of a customer's accounts a list shows: ``ids`` None = all of them."""

    ids: frozenset[UUID] | None = None
    active_only: bool = False


async def _outsider_sees_nothing(
    session: AsyncSession, principal: Principal, customer_id: UUID, ids: frozenset[UUID]
) -> None:
    """A list of another customer the caller may see nothing of is a 404 (as for one of
    its objects), never an empty page: the customer's own users know it exists, and a
    third party sees the accounts delegated to it."""
    if principal.customer_id == customer_id:
        return
    accounts = await accounts_repo.existing_account_ids(session, ids)
    if not any(a.customer_id == customer_id for a in accounts.values()):
        raise NotFound("No such customer")


async def listable_accounts(
    customer_id: UUID, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> AccountFilter:
    """Users: the active accounts they may read invoices of. Administrators (who grant
    rights per billing account) see the whole list even when they may not read the
    invoices themselves (an access manager, SPEC 8.4)."""
    if principal.kind != "user":
        return AccountFilter()
    visible = await deps.delegation.visible(
        principal.subject, "billing_account", Action.INVOICE_READ
    )
    if str(customer_id) in visible.customer_ids:
        return AccountFilter(active_only=True)
    readable = AccountFilter(frozenset(UUID(i) for i in visible.ids), active_only=True)
    try:
        admin = await deps.delegation.check(
            principal.subject, Action.ROLE_GRANT, Resource("customer", customer_id, customer_id)
        )
    except Problem:
        # Only widens the list; without an answer the user sees what they may read.
        log.warning("role.grant check failed; listing readable billing accounts only")
        admin = None
    if admin is not None and admin.allowed:
        return AccountFilter(active_only=True)
    await _outsider_sees_nothing(session, principal, customer_id, readable.ids or frozenset())
    return readable


ListableAccounts = Annotated[AccountFilter, Depends(listable_accounts)]


async def invoice_readable_accounts(
    customer_id: UUID, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> AccountFilter:
    """The accounts whose invoices the caller reads (insights): users per their rights."""
    if principal.kind != "user":
        return AccountFilter()
    visible = await deps.delegation.visible(
        principal.subject, "billing_account", Action.INVOICE_READ
    )
    if str(customer_id) in visible.customer_ids:
        return AccountFilter()
    ids = frozenset(UUID(i) for i in visible.ids)
    await _outsider_sees_nothing(session, principal, customer_id, ids)
    return AccountFilter(ids)


InvoiceReadableAccounts = Annotated[AccountFilter, Depends(invoice_readable_accounts)]
