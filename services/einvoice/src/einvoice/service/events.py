"""``einvoice.channel.changed``: one event per billing account a channel record covers."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.einvoice import EinvoiceChannelChangedV1
from einvoice import domain
from einvoice import repository as repo
from einvoice.deps import Deps
from einvoice.models import DeliveryChannel


async def covered_accounts(session: AsyncSession, record: DeliveryChannel) -> list[uuid.UUID]:
    """The accounts a record concerns: one, or every known fixed account of the customer."""
    if record.scope != domain.SCOPE_CUSTOMER_FIXED:
        return [record.billing_account_id]
    ids = await repo.fixed_account_ids(session, record.customer_id)
    if record.billing_account_id not in ids:
        ids.insert(0, record.billing_account_id)
    return ids


async def publish(
    session: AsyncSession,
    deps: Deps,
    record: DeliveryChannel,
    *,
    accounts: Iterable[uuid.UUID] | None = None,
) -> None:
    """``einvoice.channel.changed`` for the record's current status, one event per
    account it covers. Public: no address, no number, no IBAN."""
    targets = list(accounts) if accounts is not None else await covered_accounts(session, record)
    for billing_account_id in targets:
        await deps.outbox.add(
            session,
            EinvoiceChannelChangedV1(
                customer_id=record.customer_id,
                billing_account_id=billing_account_id,
                channel=record.channel,
                status=record.status,
                alerts=list(record.alerts or []) if record.channel == "email" else [],
                changed_at=deps.now(),
            ),
        )
