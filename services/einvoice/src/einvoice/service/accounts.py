"""The billing accounts einvoice knows: their facts come from billing once, then from our
own copy (``billing_accounts``)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from einvoice import domain
from einvoice import repository as repo
from einvoice.deps import Deps
from einvoice.models import BillingAccount
from einvoice.service.events import publish
from servicekit.problems import NotFound, ServiceUnavailable


async def account(
    session: AsyncSession,
    deps: Deps,
    billing_account_id: uuid.UUID,
    *,
    want_name: bool = False,
) -> BillingAccount:
    """The account's facts: from our copy, else from billing (404 if billing doesn't
    know it, 503 if billing can't answer)."""
    row = await repo.get_account(session, billing_account_id)
    if row is not None and not (want_name and row.name is None):
        return row
    try:
        facts = await deps.billing.get_account(billing_account_id)
    except ServiceUnavailable:
        if row is not None:
            return row  # only the display name was missing: do without it
        raise
    if facts is None:
        if row is not None:
            return row
        raise NotFound("No such billing account")
    return await remember_account(
        session,
        deps,
        billing_account_id=facts.billing_account_id,
        customer_id=facts.customer_id,
        kind=facts.kind,
        name=facts.name,
    )


async def remember_account(
    session: AsyncSession,
    deps: Deps,
    *,
    billing_account_id: uuid.UUID,
    customer_id: uuid.UUID,
    kind: str,
    name: str | None,
) -> BillingAccount:
    inserted = await repo.insert_account_if_absent(
        session,
        billing_account_id=billing_account_id,
        customer_id=customer_id,
        kind=kind,
        name=name,
    )
    row = await repo.get_account(session, billing_account_id)
    assert row is not None
    if not inserted and name and row.name != name:
        row.name = name
    if inserted and kind == "fixed":
        await _announce_customer_channel(session, deps, row)
    return row


async def _announce_customer_channel(
    session: AsyncSession, deps: Deps, new_account: BillingAccount
) -> None:
    """A fixed account we learn of after the customer chose e-mail for all fixed accounts
    is covered too: tell consumers, who track channels per account."""
    key = domain.scope_key(
        domain.SCOPE_CUSTOMER_FIXED,
        customer_id=new_account.customer_id,
        billing_account_id=new_account.billing_account_id,
    )
    for record in await repo.in_scopes(session, [key], statuses=domain.LIVE):
        await publish(session, deps, record, accounts=[new_account.billing_account_id])


async def fixed_accounts_of(session: AsyncSession, customer_id: uuid.UUID) -> list[BillingAccount]:
    """The customer's fixed-line accounts known here: those its fixed channel delivers for."""
    return await repo.fixed_accounts(session, customer_id)
