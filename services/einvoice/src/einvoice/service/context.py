"""What every use case needs: its collaborators, the account facts and event writing."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.einvoice import EinvoiceChannelChangedV1
from einvoice import domain
from einvoice import repository as repo
from einvoice.bank import BankAdapter
from einvoice.billing_client import BillingClient
from einvoice.models import BillingAccount, DeliveryChannel
from einvoice.settings import EinvoiceSettings
from servicekit.db import utcnow
from servicekit.outbox import Outbox
from servicekit.problems import NotFound, ServiceUnavailable

log = logging.getLogger(__name__)


@dataclass
class Context:
    outbox: Outbox
    billing: BillingClient
    bank: BankAdapter
    settings: EinvoiceSettings
    clock: Callable[[], datetime] = field(default=utcnow)

    def now(self) -> datetime:
        return self.clock()


async def account(
    ctx: Context,
    session: AsyncSession,
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
        facts = await ctx.billing.get_account(billing_account_id)
    except ServiceUnavailable:
        if row is not None:
            return row  # only the display name was missing: do without it
        raise
    if facts is None:
        if row is not None:
            return row
        raise NotFound("No such billing account")
    return await remember_account(
        ctx,
        session,
        billing_account_id=facts.billing_account_id,
        customer_id=facts.customer_id,
        kind=facts.kind,
        name=facts.name,
    )


async def remember_account(
    ctx: Context,
    session: AsyncSession,
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
        await _announce_customer_channel(ctx, session, row)
    return row


async def _announce_customer_channel(
    ctx: Context, session: AsyncSession, new_account: BillingAccount
) -> None:
    """A fixed account we learn of after the customer chose e-mail for all fixed accounts
    is covered too: tell consumers, who track channels per account."""
    key = domain.scope_key(
        domain.SCOPE_CUSTOMER_FIXED,
        customer_id=new_account.customer_id,
        billing_account_id=new_account.billing_account_id,
    )
    for record in await repo.in_scopes(session, [key], statuses=domain.LIVE):
        await publish(ctx, session, record, accounts=[new_account.billing_account_id])


async def covered_accounts(session: AsyncSession, record: DeliveryChannel) -> list[uuid.UUID]:
    """The accounts a record concerns: one, or every known fixed account of the customer."""
    if record.scope != domain.SCOPE_CUSTOMER_FIXED:
        return [record.billing_account_id]
    ids = await repo.fixed_account_ids(session, record.customer_id)
    if record.billing_account_id not in ids:
        ids.insert(0, record.billing_account_id)
    return ids


async def publish(
    ctx: Context,
    session: AsyncSession,
    record: DeliveryChannel,
    *,
    accounts: Iterable[uuid.UUID] | None = None,
) -> None:
    """``einvoice.channel.changed`` for the record's current status, one event per
    account it covers. Public: no address, no number, no IBAN."""
    targets = list(accounts) if accounts is not None else await covered_accounts(session, record)
    for billing_account_id in targets:
        await ctx.outbox.add(
            session,
            EinvoiceChannelChangedV1(
                customer_id=record.customer_id,
                billing_account_id=billing_account_id,
                channel=record.channel,  # type: ignore[arg-type]
                status=record.status,  # type: ignore[arg-type]
                alerts=list(record.alerts or []) if record.channel == "email" else [],
                changed_at=ctx.now(),
            ),
        )
