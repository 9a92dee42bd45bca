"""Every query of the einvoice service."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from einvoice import domain
from einvoice.models import BankDelivery, BillingAccount, Delivery, DeliveryChannel, PeppolDelivery
from servicekit.pagination import Keyset, Page

# -- billing accounts ---------------------------------------------------------------


async def get_account(
    session: AsyncSession, billing_account_id: uuid.UUID
) -> BillingAccount | None:
    return await session.get(BillingAccount, billing_account_id)


async def insert_account_if_absent(
    session: AsyncSession,
    *,
    billing_account_id: uuid.UUID,
    customer_id: uuid.UUID,
    kind: str,
    name: str | None,
) -> bool:
    """True when this call inserted it (concurrent requests for a new account race)."""
    values = {
        "billing_account_id": billing_account_id,
        "customer_id": customer_id,
        "kind": kind,
        "name": name,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(BillingAccount).values(**values).on_conflict_do_nothing()
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


async def fixed_account_ids(session: AsyncSession, customer_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(BillingAccount.billing_account_id)
        .where(BillingAccount.customer_id == customer_id, BillingAccount.kind == "fixed")
        .order_by(BillingAccount.first_seen_at, BillingAccount.billing_account_id)
    )
    return list(rows)


async def fixed_accounts(session: AsyncSession, customer_id: uuid.UUID) -> list[BillingAccount]:
    rows = await session.scalars(
        select(BillingAccount)
        .where(BillingAccount.customer_id == customer_id, BillingAccount.kind == "fixed")
        .order_by(BillingAccount.first_seen_at, BillingAccount.billing_account_id)
    )
    return list(rows)


# -- channel records ----------------------------------------------------------------


def scope_keys_of(account: BillingAccount) -> list[str]:
    """Scopes whose records concern this account."""
    keys = [
        domain.scope_key(
            domain.SCOPE_ACCOUNT,
            customer_id=account.customer_id,
            billing_account_id=account.billing_account_id,
        )
    ]
    if account.kind == "fixed":
        keys.append(
            domain.scope_key(
                domain.SCOPE_CUSTOMER_FIXED,
                customer_id=account.customer_id,
                billing_account_id=account.billing_account_id,
            )
        )
    return keys


async def channels_for_account(
    session: AsyncSession, account: BillingAccount, *, for_update: bool = False
) -> list[DeliveryChannel]:
    stmt = (
        select(DeliveryChannel)
        .where(DeliveryChannel.scope_key.in_(scope_keys_of(account)))
        .order_by(DeliveryChannel.requested_at, DeliveryChannel.id)
    )
    if for_update:
        stmt = stmt.with_for_update()
    return list(await session.scalars(stmt))


async def in_scopes(
    session: AsyncSession,
    scope_keys: Collection[str],
    *,
    statuses: Collection[str],
    channel: str | None = None,
) -> list[DeliveryChannel]:
    """Records of these scopes in these statuses, locked for the caller's transaction."""
    if not scope_keys:
        return []
    stmt = select(DeliveryChannel).where(
        DeliveryChannel.scope_key.in_(list(scope_keys)),
        DeliveryChannel.status.in_(list(statuses)),
    )
    if channel is not None:
        stmt = stmt.where(DeliveryChannel.channel == channel)
    return list(
        await session.scalars(stmt.order_by(DeliveryChannel.requested_at).with_for_update())
    )


async def live_of_customer(session: AsyncSession, customer_id: uuid.UUID) -> list[DeliveryChannel]:
    stmt = (
        select(DeliveryChannel)
        .where(
            DeliveryChannel.customer_id == customer_id,
            DeliveryChannel.status.in_(list(domain.LIVE)),
        )
        .order_by(DeliveryChannel.requested_at)
        .with_for_update()
    )
    return list(await session.scalars(stmt))


async def by_token_digest(session: AsyncSession, digest: str) -> DeliveryChannel | None:
    stmt = select(DeliveryChannel).where(DeliveryChannel.token_hash == digest).with_for_update()
    return (await session.scalars(stmt)).first()


async def by_bank_reference(session: AsyncSession, reference: str) -> DeliveryChannel | None:
    stmt = (
        select(DeliveryChannel).where(DeliveryChannel.bank_reference == reference).with_for_update()
    )
    return (await session.scalars(stmt)).first()


async def due_for_expiry(
    session: AsyncSession, now: datetime, *, limit: int
) -> Sequence[DeliveryChannel]:
    # SKIP LOCKED: several instances run the job; each takes rows the others don't hold.
    stmt = (
        select(DeliveryChannel)
        .where(
            DeliveryChannel.status == domain.PENDING_CONFIRMATION,
            DeliveryChannel.expires_at <= now,
        )
        .order_by(DeliveryChannel.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(await session.scalars(stmt))


# -- delivery log -------------------------------------------------------------------


async def delivery_of(
    session: AsyncSession, invoice_id: uuid.UUID, channel: str
) -> Delivery | None:
    stmt = select(Delivery).where(Delivery.invoice_id == invoice_id, Delivery.channel == channel)
    return (await session.scalars(stmt)).first()


async def due_peppol_deliveries(
    session: AsyncSession, now: datetime, limit: int
) -> Sequence[PeppolDelivery]:
    """Peppol deliveries whose time has come, locked; other instances skip them."""
    stmt = (
        select(PeppolDelivery)
        .where(PeppolDelivery.next_attempt_at <= now)
        .order_by(PeppolDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(stmt)).all()


async def due_bank_deliveries(
    session: AsyncSession, now: datetime, limit: int
) -> Sequence[BankDelivery]:
    """Bank deliveries whose time has come, locked; other instances skip them."""
    stmt = (
        select(BankDelivery)
        .where(BankDelivery.next_attempt_at <= now)
        .order_by(BankDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(stmt)).all()


DELIVERIES_NEWEST_FIRST = Keyset(Delivery.delivered_at, Delivery.id)


async def deliveries_page(
    session: AsyncSession, billing_account_id: uuid.UUID, *, cursor: str | None, limit: int
) -> Page[Delivery]:
    stmt = DELIVERIES_NEWEST_FIRST.apply(
        select(Delivery).where(Delivery.billing_account_id == billing_account_id), cursor, limit
    )
    return DELIVERIES_NEWEST_FIRST.page(list(await session.scalars(stmt)), limit)
