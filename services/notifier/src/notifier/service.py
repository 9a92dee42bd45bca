"""Use cases of the notifier. They add and flush; the entry point commits.

The life of a notification::

    notification.requested ──► pending ──(sender claims)──► sending ──► sent
                        │         ▲                            │
                        │         └──── transient failure ─────┤ (backoff, bounded)
                        ├─► waiting_for_recipient ─(user.created)─► pending
                        └─► failed ◄── permanent failure / attempts exhausted / wait expired

Every move to ``sent`` or ``failed`` writes notification.sent / notification.failed to
the outbox in the same transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import CloudEvent
from contracts.events.identity import UserCreatedV1, UserDeactivatedV1
from contracts.events.notification import (
    NotificationFailedV1,
    NotificationRequestedV1,
    NotificationSentV1,
)
from notifier import repository as repo
from notifier.deps import Deps
from notifier.domain import (
    Channel,
    DeliveryError,
    DirectoryEntry,
    GiveUp,
    Resolved,
    Status,
    Unreachable,
    Waiting,
    after_failure,
    dedupe_key,
    recipient_key,
    resolve_recipient,
    scrub_error,
)
from notifier.models import Notification, Recipient
from notifier.templates import TemplateProblem
from servicekit.db import database_now
from servicekit.telemetry import current_trace_headers

log = logging.getLogger(__name__)


def log_notification(n: Notification, message: str, **fields: Any) -> None:
    # Ids, template and status only: never the address, the params or the body.
    log.info(
        message,
        extra={
            "notification_id": str(n.id),
            "request_id": str(n.request_id) if n.request_id else None,
            "channel": n.channel,
            "template": n.template,
            "status": n.status,
            "attempts": n.attempts,
            **fields,
        },
    )


# -- requests ------------------------------------------------------------------------------


async def request_notification(
    session: AsyncSession, deps: Deps, event: CloudEvent, payload: NotificationRequestedV1
) -> Notification | None:
    """Record one notification for the request; None when it was already recorded.

    Times that decide when a row is due (``next_attempt_at``) come from the database's
    clock, like the claims: an instance whose clock runs ahead would otherwise hold back
    what it records until the database's clock catches up."""
    now = await database_now(session)
    to = payload.to
    explicit = to.email if payload.channel == "email" else to.mobile
    key = dedupe_key(
        payload.request_id, payload.channel, recipient_key(payload.channel, to.user_id, explicit)
    )
    existing = await repo.find_by_dedupe_key(session, key)
    if existing is not None:
        log_notification(existing, "notification already requested; ignoring the repeat")
        return None
    n = Notification(
        id=uuid.uuid4(),
        dedupe_key=key,
        request_id=payload.request_id,
        source_event_id=event.id,
        source_event_type=event.type,
        customer_id=payload.customer_id,
        recipient_user_id=to.user_id,
        channel=payload.channel,
        template=payload.template,
        requested_locale=payload.locale,
        requested_email=to.email,
        requested_mobile=to.mobile,
        params=dict(payload.params),
        attachments=[a.model_dump(mode="json") for a in payload.attachments],
        trace_headers=current_trace_headers() or None,
        status=Status.PENDING,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    session.add(n)
    await route(session, deps, n, now)
    await session.flush()
    log_notification(n, "notification recorded")
    return n


async def route(session: AsyncSession, deps: Deps, n: Notification, now: datetime) -> None:
    """Decide what happens to a new (or newly resolvable) notification."""
    try:
        deps.templates.check(n.template, cast(Channel, n.channel), n.params)
    except TemplateProblem as exc:
        await fail(session, deps, n, str(exc), now)
        return
    entry = None
    if n.recipient_user_id is not None:
        rec = await repo.get_recipient(session, n.recipient_user_id)
        if rec is not None:
            entry = DirectoryEntry(rec.email, rec.mobile, rec.locale, rec.active)
    resolution = resolve_recipient(
        channel=cast(Channel, n.channel),
        template=n.template,
        requested_locale=n.requested_locale,
        email=n.requested_email,
        mobile=n.requested_mobile,
        user_id=n.recipient_user_id,
        entry=entry,
    )
    if isinstance(resolution, Resolved):
        n.to_address = resolution.address
        n.locale = resolution.locale
        n.status = Status.PENDING
        n.next_attempt_at = now
    elif isinstance(resolution, Waiting):
        # user.created travels on another topic and may come later: wait for it rather
        # than failing or dead-lettering the request.
        n.status = Status.WAITING_FOR_RECIPIENT
        n.next_attempt_at = now + timedelta(seconds=deps.settings.recipient_wait_s)
    elif isinstance(resolution, Unreachable):
        await fail(session, deps, n, resolution.reason, now)


async def fail(
    session: AsyncSession, deps: Deps, n: Notification, reason: str, now: datetime
) -> None:
    n.status = Status.FAILED
    n.last_error = scrub_error(reason)
    n.failed_at = now
    n.next_attempt_at = None
    n.claimed_at = None
    await deps.outbox.add(
        session,
        NotificationFailedV1(
            notification_id=n.id,
            request_id=n.request_id,
            source_event_id=n.source_event_id,
            source_event_type=n.source_event_type,
            customer_id=n.customer_id,
            recipient_user_id=n.recipient_user_id,
            channel=cast(Channel, n.channel),
            template=n.template,
            attempts=n.attempts,
            error=n.last_error,
            failed_at=now,
        ),
    )
    log_notification(n, "notification failed", error=n.last_error)


# -- the recipient directory ---------------------------------------------------------------


async def upsert_recipient(session: AsyncSession, deps: Deps, payload: UserCreatedV1) -> None:
    """Remember where to reach the user, and release what was waiting for them."""
    rec = await repo.get_recipient(session, payload.user_id)
    if rec is None:
        rec = Recipient(user_id=payload.user_id, active=True)
        session.add(rec)
    # A user.deactivated that overtook this event keeps the user inactive.
    rec.customer_id = payload.customer_id
    rec.email = payload.email
    rec.mobile = payload.mobile
    rec.locale = payload.locale
    rec.updated_at = deps.now()
    await session.flush()
    now = await database_now(session)
    for n in await repo.waiting_for(session, payload.user_id):
        await route(session, deps, n, now)
        log_notification(n, "recipient known; notification released")
    await session.flush()


async def deactivate_recipient(
    session: AsyncSession, deps: Deps, payload: UserDeactivatedV1
) -> None:
    rec = await repo.get_recipient(session, payload.user_id)
    if rec is None:
        # Deactivated before we saw it created (other topic): remember it as inactive.
        rec = Recipient(user_id=payload.user_id, customer_id=payload.customer_id, locale="nl")
        session.add(rec)
    rec.active = False
    rec.deactivated_at = payload.deactivated_at
    rec.updated_at = deps.now()
    await session.flush()


# -- the sender's steps --------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """A claimed notification, detached from the session for the send."""

    id: uuid.UUID
    channel: Channel
    template: str
    locale: str
    to_address: str
    params: dict[str, str]
    attachments: list[dict[str, Any]]
    attempts: int
    trace_headers: dict[str, str]


async def claim_due(
    session: AsyncSession, deps: Deps, channels: Collection[str] = ("email", "sms")
) -> list[Job]:
    """Mark due rows "sending" and count the attempt; committed before anything is sent.

    Claims and their leases are timed by the database's clock, not this instance's: an
    instance whose clock runs ahead must not take over rows another is still sending.
    """
    now = await database_now(session)
    s = deps.settings
    for n in await repo.stale_sending(
        session, now - timedelta(seconds=s.sending_lease_s), s.sender_batch_size
    ):
        if n.attempts >= s.max_attempts:
            # Each claim of it ended with the process dying mid-send (a message that
            # crashes the sender, say): stop before it takes the sender down for good.
            await fail(
                session,
                deps,
                n,
                f"interrupted while sending on each of its {n.attempts} attempts; not sent "
                "again (resend it from the delivery log once the cause is fixed)",
                now,
            )
            continue
        n.status = Status.PENDING
        n.next_attempt_at = now
        n.claimed_at = None
        n.last_error = "interrupted while sending; sent again with the same message id"
        log_notification(n, "notification abandoned mid-send; sending again")
    for n in await repo.expired_waits(session, now, s.sender_batch_size):
        await fail(session, deps, n, "recipient unknown: no user.created arrived in time", now)
    jobs = []
    for n in await repo.claim_due(session, now, s.sender_batch_size, channels):
        if not n.to_address:  # cannot happen for pending rows; never send blind
            await fail(session, deps, n, "no address", now)
            continue
        n.status = Status.SENDING
        n.attempts += 1
        n.claimed_at = now
        jobs.append(
            Job(
                id=n.id,
                channel=cast(Channel, n.channel),
                template=n.template,
                locale=n.locale or n.requested_locale,
                to_address=n.to_address,
                params=dict(n.params or {}),
                attachments=list(n.attachments or []),
                attempts=n.attempts,
                trace_headers=dict(n.trace_headers or {}),
            )
        )
    await session.flush()
    return jobs


async def record_sent(
    session: AsyncSession, deps: Deps, job: Job, provider_message_id: str
) -> None:
    now = await database_now(session)
    n = await repo.get_notification(session, job.id, for_update=True)
    if n is None or n.status == Status.SENT:
        return
    n.status = Status.SENT
    n.sent_at = now
    n.provider_message_id = provider_message_id or None
    n.next_attempt_at = None
    n.claimed_at = None
    await deps.outbox.add(
        session,
        NotificationSentV1(
            notification_id=n.id,
            request_id=n.request_id,
            source_event_id=n.source_event_id,
            source_event_type=n.source_event_type,
            customer_id=n.customer_id,
            recipient_user_id=n.recipient_user_id,
            channel=cast(Channel, n.channel),
            template=n.template,
            attempts=max(n.attempts, 1),
            sent_at=now,
        ),
    )
    log_notification(n, "notification sent")


async def record_failure(session: AsyncSession, deps: Deps, job: Job, error: DeliveryError) -> None:
    now = await database_now(session)
    n = await repo.get_notification(session, job.id, for_update=True)
    if n is None or n.status != Status.SENDING:
        return  # another instance took over after our lease ran out
    s = deps.settings
    if error.spends_no_attempt:
        # The provider or a service of ours failed, not this message: the attempt is given
        # back, so an outage of the mail server or a restart of billing never uses up
        # messages' attempts (the sender's circuit breaker keeps a provider outage short).
        n.attempts = max(n.attempts - 1, 0)
        n.status = Status.PENDING
        n.next_attempt_at = now + timedelta(seconds=s.outage_retry_s)
        n.claimed_at = None
        n.last_error = error.reason
        what = "provider" if error.outage else "dependency"
        log_notification(n, f"{what} unavailable; notification will be retried", error=error.reason)
        return
    decision = after_failure(
        error,
        attempts=n.attempts,
        max_attempts=s.max_attempts,
        now=now,
        initial_s=s.retry_initial_s,
        max_s=s.retry_max_s,
    )
    if isinstance(decision, GiveUp):
        await fail(session, deps, n, decision.reason, now)
        return
    n.status = Status.PENDING
    n.next_attempt_at = decision.at
    n.claimed_at = None
    n.last_error = error.reason
    log_notification(
        n, "notification will be retried", error=error.reason, retry_at=decision.at.isoformat()
    )
