"""Delivering closed invoices on the account's channel, and the delivery log."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.billing import InvoiceClosedV1
from contracts.events.notification import (
    AttachmentRefV1,
    NotificationRequestedV1,
    RecipientV1,
)
from contracts.types import Locale
from einvoice import domain
from einvoice import repository as repo
from einvoice.deps import Deps
from einvoice.models import BankDelivery, BillingAccount, Delivery, DeliveryChannel, PeppolDelivery
from einvoice.peppol import NotAPeppolDocument, participants
from einvoice.schemas import DeliveryItemOut
from einvoice.service.accounts import remember_account
from einvoice.service.views import delivery_item
from servicekit.consumer import PermanentError
from servicekit.db import database_now
from servicekit.pagination import Page

log = logging.getLogger(__name__)


async def deliver_invoice(session: AsyncSession, deps: Deps, invoice: InvoiceClosedV1) -> None:
    """Send one closed invoice on the channel in force for its period; at most once per
    invoice and channel, whatever the number of times the event arrives."""
    acct = await remember_account(
        session,
        deps,
        billing_account_id=invoice.billing_account_id,
        customer_id=invoice.customer_id,
        kind=invoice.billing_account_kind,
        name=None,
    )
    if acct.customer_id != invoice.customer_id:
        raise PermanentError("invoice.closed names another customer than billing told us")
    records = await repo.channels_for_account(session, acct)
    chosen = domain.in_force(records, period=invoice.period)
    channel = chosen.channel if chosen is not None else "paper"
    if await repo.delivery_of(session, invoice.invoice_id, channel) is not None:
        return  # delivered already, e.g. billing announced the invoice twice

    request_ids: list[str] = []
    status = domain.DELIVERY_STATUS[channel]
    if chosen is not None and chosen.channel == "email":
        request_ids = await _request_invoice_mail(session, deps, acct, chosen, invoice)
    elif chosen is not None and chosen.channel == "bank_app":
        assert chosen.bank_reference is not None
        # Recorded here, handed to the bank by the bank-delivery job: the bank is never
        # called from the consumer's transaction (a rolled-back batch or a rebalance
        # would call it again).
        session.add(
            BankDelivery(
                invoice_id=invoice.invoice_id,
                billing_account_id=acct.billing_account_id,
                reference=chosen.bank_reference,
                attempts=0,
                next_attempt_at=deps.now(),
            )
        )
        status = domain.QUEUED_FOR_BANK
    elif chosen is not None and chosen.channel == "peppol":
        # Likewise sent by the Peppol-delivery job, never from the consumer.
        session.add(
            PeppolDelivery(
                invoice_id=invoice.invoice_id,
                billing_account_id=acct.billing_account_id,
                attempts=0,
                next_attempt_at=deps.now(),
            )
        )
        status = domain.QUEUED_FOR_ACCESS_POINT
    session.add(
        Delivery(
            id=uuid.uuid4(),
            invoice_id=invoice.invoice_id,
            invoice_number=invoice.number,
            billing_account_id=acct.billing_account_id,
            customer_id=acct.customer_id,
            period=invoice.period,
            channel=channel,
            status=status,
            channel_id=chosen.id if chosen is not None else None,
            notification_request_ids=request_ids,
            delivered_at=deps.now(),
        )
    )
    await session.flush()
    log.info(
        "invoice delivered",
        extra={
            "invoice_id": str(invoice.invoice_id),
            "billing_account_id": str(acct.billing_account_id),
            "channel": channel,
        },
    )


async def hand_due_to_bank(session: AsyncSession, deps: Deps) -> int:
    """Hand the due bank deliveries to the bank adapter; returns how many were due.

    The rows stay locked (``SKIP LOCKED``: other instances take others) while the bank is
    called, and the outcome is committed with them. A crash before that commit leaves the
    row due, so the bank may be asked twice for one invoice: the adapter passes the
    invoice id, by which the bank network de-duplicates.
    """
    now = await database_now(session)
    s = deps.settings
    due = await repo.due_bank_deliveries(session, now, s.bank_batch_size)
    for queued in due:
        try:
            await deps.bank.deliver(
                billing_account_id=queued.billing_account_id,
                reference=queued.reference,
                invoice_id=queued.invoice_id,
            )
        except Exception as exc:  # the bank is at the edge: any failure is retried
            queued.attempts += 1
            delay = min(s.bank_retry_initial_s * 2 ** (queued.attempts - 1), s.bank_retry_max_s)
            queued.next_attempt_at = now + timedelta(seconds=delay)
            queued.last_error = f"{type(exc).__name__}: {exc}"[:500]
            log.warning(
                "bank delivery failed; retrying",
                extra={"invoice_id": str(queued.invoice_id), "attempts": queued.attempts},
            )
            continue
        delivery = await repo.delivery_of(session, queued.invoice_id, "bank_app")
        if delivery is not None:
            delivery.status = domain.DELIVERY_STATUS["bank_app"]
        await session.delete(queued)
        log.info("invoice handed to the bank", extra={"invoice_id": str(queued.invoice_id)})
    await session.flush()
    return len(due)


async def send_due_to_peppol(session: AsyncSession, deps: Deps) -> int:
    """Send the due Peppol deliveries: billing's UBL document of the invoice, to the
    customer's participant named in it, through the access point. Locked and retried like
    bank deliveries; the access point de-duplicates by invoice id."""
    now = await database_now(session)
    s = deps.settings
    due = await repo.due_peppol_deliveries(session, now, s.peppol_batch_size)
    for queued in due:
        try:
            document = await deps.billing.get_ubl(queued.invoice_id)
            if document is None:
                raise NotAPeppolDocument("billing has no UBL document for this invoice")
            sender, receiver = participants(document)
            await deps.access_point.send(
                invoice_id=queued.invoice_id, sender=sender, receiver=receiver, document=document
            )
        except Exception as exc:  # billing and the access point are at the edge: retry
            queued.attempts += 1
            delay = min(s.peppol_retry_initial_s * 2 ** (queued.attempts - 1), s.peppol_retry_max_s)
            queued.next_attempt_at = now + timedelta(seconds=delay)
            queued.last_error = f"{type(exc).__name__}: {exc}"[:500]
            log.warning(
                "Peppol delivery failed; retrying",
                extra={"invoice_id": str(queued.invoice_id), "attempts": queued.attempts},
            )
            continue
        delivery = await repo.delivery_of(session, queued.invoice_id, "peppol")
        if delivery is not None:
            delivery.status = domain.DELIVERY_STATUS["peppol"]
        await session.delete(queued)
        log.info("invoice sent over Peppol", extra={"invoice_id": str(queued.invoice_id)})
    await session.flush()
    return len(due)


async def _request_invoice_mail(
    session: AsyncSession,
    deps: Deps,
    acct: BillingAccount,
    record: DeliveryChannel,
    invoice: InvoiceClosedV1,
) -> list[str]:
    total = format(invoice.totals.total_incl_vat, "f")
    due = invoice.due_date.isoformat()
    locale: Locale = record.locale  # type: ignore[assignment]  # only what EmailChannelIn took
    requests = [
        NotificationRequestedV1(
            request_id=domain.notification_request_id(invoice.invoice_id, "email"),
            customer_id=acct.customer_id,
            channel="email",
            template="invoice_available",
            locale=locale,
            to=RecipientV1(email=record.email),
            params={
                "invoice_number": invoice.number,
                "period": invoice.period,
                "total_incl_vat": total,
                "due_date": due,
                **({"billing_account_name": acct.name} if acct.name else {}),
            },
            attachments=[AttachmentRefV1(kind="invoice_pdf", invoice_id=invoice.invoice_id)],
        )
    ]
    if "sms" in (record.alerts or []) and record.mobile:
        requests.append(
            NotificationRequestedV1(
                request_id=domain.notification_request_id(invoice.invoice_id, "sms"),
                customer_id=acct.customer_id,
                channel="sms",
                template="invoice_available_sms",
                locale=locale,
                to=RecipientV1(mobile=record.mobile),
                params={"invoice_number": invoice.number, "total_incl_vat": total, "due_date": due},
            )
        )
    for request in requests:
        await deps.outbox.add(session, request)
    return [str(r.request_id) for r in requests]


async def list_deliveries(
    session: AsyncSession, acct: BillingAccount, *, limit: int, cursor: str | None
) -> Page[DeliveryItemOut]:
    """The delivery log, newest first."""
    page = await repo.deliveries_page(session, acct.billing_account_id, cursor=cursor, limit=limit)
    return Page(items=[delivery_item(row) for row in page.items], next_cursor=page.next_cursor)
