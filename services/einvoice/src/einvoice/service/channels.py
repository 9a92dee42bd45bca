"""Use cases on delivery channels: choose, confirm, accept, cancel, expire."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.notification import NotificationRequestedV1, RecipientV1
from contracts.types import Locale
from einvoice import domain
from einvoice import repository as repo
from einvoice.deps import Deps
from einvoice.models import BillingAccount, DeliveryChannel
from einvoice.schemas import (
    BankDecisionOut,
    ChannelRequestOut,
    DeliveryOut,
    EmailConfirmedOut,
)
from einvoice.service.accounts import account
from einvoice.service.events import covered_accounts, publish
from einvoice.service.views import (
    bank_decision_view,
    channel_request,
    delivery_view,
    email_confirmed,
)
from servicekit.problems import Conflict, NotFound, Problem

log = logging.getLogger(__name__)

CONFIRMATION_TEMPLATE = "einvoice_email_confirmation"


class Gone(Problem):
    status, slug = 410, "gone"


def _scope_key(scope: str, acct: BillingAccount) -> str:
    return domain.scope_key(
        scope, customer_id=acct.customer_id, billing_account_id=acct.billing_account_id
    )


async def _flush(session: AsyncSession) -> None:
    """The partial unique indexes catch two concurrent changes of one scope; the loser
    gets a 409 instead of a 500 and may simply try again."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "Another change to this delivery channel happened at the same time; try again",
            slug="concurrent-change",
        ) from exc


def _end(record: DeliveryChannel, status: str, at: datetime) -> None:
    record.status = domain.transition(record.status, status)
    record.ended_at = at
    record.updated_at = at


async def get_delivery(session: AsyncSession, acct: BillingAccount) -> DeliveryOut:
    return delivery_view(acct, await repo.channels_for_account(session, acct))


# -- e-mail ---------------------------------------------------------------------------


async def request_email(
    session: AsyncSession,
    deps: Deps,
    acct: BillingAccount,
    *,
    email: str,
    mobile: str | None,
    alerts: list[str],
    locale: Locale,
    requested_by: str,
) -> ChannelRequestOut:
    """Ask for e-mail delivery: pending_confirmation, or active at once when only the
    alerts or mobile of an already confirmed address changed."""
    scope = domain.email_scope(acct.kind)
    key = _scope_key(scope, acct)
    now = deps.now()

    active = await repo.in_scopes(session, [key], statuses=[domain.ACTIVE], channel="email")
    same = next((r for r in active if (r.email or "").casefold() == email.casefold()), None)
    if same is not None:
        # The address was confirmed already: nothing new to prove, apply at once.
        same.mobile, same.alerts, same.locale, same.updated_at = mobile, alerts, locale, now
        await publish(session, deps, same)
        return channel_request(acct.billing_account_id, same)

    pending = await repo.in_scopes(
        session, [key], statuses=[domain.PENDING_CONFIRMATION], channel="email"
    )
    for old in pending:
        _end(old, domain.SUPERSEDED, deps.now())  # its link stops working
    await _flush(session)

    token = domain.new_confirmation_token()
    record = DeliveryChannel(
        id=uuid.uuid4(),
        customer_id=acct.customer_id,
        scope=scope,
        scope_key=key,
        billing_account_id=acct.billing_account_id,
        account_kind=acct.kind,
        channel="email",
        status=domain.PENDING_CONFIRMATION,
        email=email,
        mobile=mobile,
        alerts=alerts,
        locale=locale,
        token_hash=domain.token_digest(token),
        requested_by=requested_by,
        requested_at=now,
        expires_at=now + timedelta(days=deps.settings.confirmation_ttl_days),
        updated_at=now,
    )
    session.add(record)
    await _flush(session)

    named = await account(session, deps, acct.billing_account_id, want_name=True)
    confirm_url = f"{deps.settings.public_url.rstrip('/')}/v1/delivery/email/confirm?" + urlencode(
        {"token": token}
    )
    await deps.outbox.add(
        session,
        NotificationRequestedV1(
            request_id=record.id,
            customer_id=acct.customer_id,
            channel="email",
            template=CONFIRMATION_TEMPLATE,
            locale=locale,
            to=RecipientV1(email=email),
            params={
                "confirm_url": confirm_url,
                "billing_account_name": named.name or str(acct.billing_account_id),
            },
        ),
    )
    await publish(session, deps, record)
    return channel_request(acct.billing_account_id, record)


async def confirm_email(session: AsyncSession, deps: Deps, token: str) -> EmailConfirmedOut:
    record = await repo.by_token_digest(session, domain.token_digest(token))
    if record is None:
        raise NotFound("Unknown confirmation link", slug="unknown-confirmation")
    if record.activated_at is not None:
        raise Conflict("This link was already used", slug="confirmation-used")
    expired = record.status == domain.EXPIRED or (
        record.status == domain.PENDING_CONFIRMATION
        and record.expires_at is not None
        and record.expires_at <= deps.now()
    )
    if expired:
        raise Gone(
            "This link has expired; choose e-mail delivery again", slug="confirmation-expired"
        )
    if record.status != domain.PENDING_CONFIRMATION:
        raise Gone(
            "This link was replaced by a newer request or cancelled",
            slug="confirmation-withdrawn",
        )
    await _activate(session, deps, record)
    return email_confirmed(record, await covered_accounts(session, record))


async def _activate(session: AsyncSession, deps: Deps, record: DeliveryChannel) -> None:
    """Make a record the account's (or the customer's fixed accounts') channel: what was
    active in the same place is superseded, so exactly one channel delivers."""
    keys = [record.scope_key]
    if record.scope == domain.SCOPE_CUSTOMER_FIXED:
        # One activation covers every fixed account, including their own bank-app choice.
        keys += [
            domain.scope_key(
                domain.SCOPE_ACCOUNT, customer_id=record.customer_id, billing_account_id=a
            )
            for a in await repo.fixed_account_ids(session, record.customer_id)
        ]
    for old in await repo.in_scopes(session, keys, statuses=[domain.ACTIVE]):
        _end(old, domain.SUPERSEDED, deps.now())
    await _flush(session)
    record.status = domain.transition(record.status, domain.ACTIVE)
    record.activated_at = record.updated_at = deps.now()
    await _flush(session)
    await publish(session, deps, record)


# -- Peppol ---------------------------------------------------------------------------


async def choose_peppol(
    session: AsyncSession, deps: Deps, acct: BillingAccount, *, requested_by: str
) -> ChannelRequestOut:
    """Peppol is active at once: the customer's participant ``0208:<enterprise number>``
    is the enterprise number it registered with, nothing to confirm. Choosing it again
    changes nothing."""
    key = _scope_key(domain.SCOPE_ACCOUNT, acct)
    active = await repo.in_scopes(session, [key], statuses=[domain.ACTIVE], channel="peppol")
    if active:
        return channel_request(acct.billing_account_id, active[0])
    now = deps.now()
    record = DeliveryChannel(
        id=uuid.uuid4(),
        customer_id=acct.customer_id,
        scope=domain.SCOPE_ACCOUNT,
        scope_key=key,
        billing_account_id=acct.billing_account_id,
        account_kind=acct.kind,
        channel="peppol",
        status=domain.ACTIVE,
        alerts=[],
        requested_by=requested_by,
        requested_at=now,
        activated_at=now,
        updated_at=now,
    )
    # What was active on this account (or, for a fixed account, the customer-wide e-mail
    # channel, which stays for the customer's other fixed accounts) gives way to Peppol.
    for old in await repo.in_scopes(session, [key], statuses=[domain.ACTIVE]):
        _end(old, domain.SUPERSEDED, now)
    await _flush(session)
    session.add(record)
    await _flush(session)
    await publish(session, deps, record)
    return channel_request(acct.billing_account_id, record)


# -- bank app -------------------------------------------------------------------------


async def request_bank_app(
    session: AsyncSession, deps: Deps, acct: BillingAccount, *, iban: str, requested_by: str
) -> ChannelRequestOut:
    key = _scope_key(domain.SCOPE_ACCOUNT, acct)
    now = deps.now()
    for old in await repo.in_scopes(
        session, [key], statuses=[domain.PENDING_BANK_ACCEPTANCE], channel="bank_app"
    ):
        _end(old, domain.SUPERSEDED, deps.now())
    await _flush(session)
    record = DeliveryChannel(
        id=uuid.uuid4(),
        customer_id=acct.customer_id,
        scope=domain.SCOPE_ACCOUNT,
        scope_key=key,
        billing_account_id=acct.billing_account_id,
        account_kind=acct.kind,
        channel="bank_app",
        status=domain.PENDING_BANK_ACCEPTANCE,
        alerts=[],
        iban=iban,
        bank_reference=uuid.uuid4().hex,
        requested_by=requested_by,
        requested_at=now,
        updated_at=now,
    )
    session.add(record)
    await _flush(session)
    assert record.bank_reference is not None
    await deps.bank.invite(
        billing_account_id=acct.billing_account_id, reference=record.bank_reference
    )
    await publish(session, deps, record)
    return channel_request(acct.billing_account_id, record)


async def bank_decision(
    session: AsyncSession,
    deps: Deps,
    *,
    billing_account_id: uuid.UUID,
    reference: str,
    accepted: bool,
) -> BankDecisionOut:
    """The bank's answer to an invitation. Repeating an answer is harmless (banks retry
    callbacks); contradicting one, or answering a withdrawn request, is a conflict."""
    record = await repo.by_bank_reference(session, reference)
    if record is None or record.billing_account_id != billing_account_id:
        raise NotFound("No such bank-app request")
    if record.status == domain.PENDING_BANK_ACCEPTANCE:
        if accepted:
            record.effective_from_period = domain.bank_effective_period(deps.now())
            await _activate(session, deps, record)
        else:
            _end(record, domain.REFUSED, deps.now())
            await _flush(session)
            await publish(session, deps, record)
    else:
        was_accepted = record.activated_at is not None
        repeated = was_accepted if accepted else record.status == domain.REFUSED
        if not repeated:
            raise Conflict(f"This request is already {record.status}", slug="bank-request-decided")
    return bank_decision_view(record)


# -- back to paper --------------------------------------------------------------------


async def cancel(session: AsyncSession, deps: Deps, acct: BillingAccount) -> DeliveryOut:
    """Back to paper: the account's own channels end, and for a fixed account the
    customer-wide e-mail channel too (it is what serves the account)."""
    live = await repo.in_scopes(session, repo.scope_keys_of(acct), statuses=domain.LIVE)
    await _cancel_all(session, deps, live)
    return await get_delivery(session, acct)


async def terminate_customer(session: AsyncSession, deps: Deps, customer_id: uuid.UUID) -> int:
    live = await repo.live_of_customer(session, customer_id)
    await _cancel_all(session, deps, live)
    return len(live)


async def _cancel_all(session: AsyncSession, deps: Deps, records: list[DeliveryChannel]) -> None:
    for record in records:
        _end(record, domain.CANCELLED, deps.now())
    await _flush(session)
    for record in records:
        await publish(session, deps, record)


async def expire_due(session: AsyncSession, deps: Deps, *, limit: int = 200) -> int:
    """Unconfirmed e-mail requests past their time become "expired" (a mailbox nobody
    reads never activates); returns how many."""
    due = await repo.due_for_expiry(session, deps.now(), limit=limit)
    for record in due:
        _end(record, domain.EXPIRED, deps.now())
    await _flush(session)
    for record in due:
        await publish(session, deps, record)
    if due:
        log.info("expired unconfirmed e-mail requests", extra={"count": len(due)})
    return len(due)
