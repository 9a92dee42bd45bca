"""Operator use cases over the delivery log: list, resend, retention."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from notifier import repository as repo
from notifier.deps import Deps
from notifier.domain import IN_PROGRESS, Channel, Status
from notifier.models import Notification
from notifier.schemas import BulkResendIn, BulkResendOut, NotificationOut
from notifier.service import log_notification, route
from notifier.templates import TemplateProblem
from servicekit.db import database_now
from servicekit.pagination import Page
from servicekit.problems import Conflict
from servicekit.telemetry import current_trace_headers

log = logging.getLogger(__name__)


# -- operator views ------------------------------------------------------------------------


async def list_notifications(
    session: AsyncSession,
    *,
    recipient: str | None,
    source_event_id: str | None,
    request_id: uuid.UUID | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page[NotificationOut]:
    """The delivery log, newest first; ``recipient`` is a user id or an address."""
    user_id, address = None, None
    if recipient is not None:
        try:
            user_id = uuid.UUID(recipient)
        except ValueError:
            address = recipient.strip()
            if address.isdigit():
                # "+32..." in a query string arrives as " 32..." unless the client
                # encoded the plus; phone numbers are stored in E.164.
                address = "+" + address
    found = await repo.list_notifications(
        session,
        recipient_user_id=user_id,
        address=address,
        source_event_id=source_event_id,
        request_id=request_id,
        status=status,
        cursor=cursor,
        limit=limit,
    )
    return Page(items=[NotificationOut.of(n) for n in found.items], next_cursor=found.next_cursor)


async def resend(session: AsyncSession, deps: Deps, original: Notification) -> NotificationOut:
    """A new notification for the same request, linked to the original (history stays).

    ``original`` is locked by the caller, so two resends of it cannot both pass."""
    if original.status in IN_PROGRESS:
        raise Conflict(
            f"The notification is still {original.status}; it can be resent once it is sent "
            "or failed"
        )
    if await repo.resend_in_progress(session, original.id):
        raise Conflict("A resend of this notification is already in progress")
    if original.params_purged_at is not None:
        try:
            deps.templates.check(
                original.template, cast(Channel, original.channel), original.params
            )
        except TemplateProblem:
            raise Conflict(
                "Its one-time link was removed after the retention period; the service that "
                "asked for it must request a new one"
            ) from None
    now = await database_now(session)  # due at once by the clock the claims use
    new_id = uuid.uuid4()
    n = Notification(
        id=new_id,
        dedupe_key=f"resend:{new_id}",
        request_id=original.request_id,
        source_event_id=original.source_event_id,
        source_event_type=original.source_event_type,
        resend_of=original.id,
        customer_id=original.customer_id,
        recipient_user_id=original.recipient_user_id,
        channel=original.channel,
        template=original.template,
        requested_locale=original.requested_locale,
        requested_email=original.requested_email,
        requested_mobile=original.requested_mobile,
        params=dict(original.params or {}),
        attachments=list(original.attachments or []),
        trace_headers=current_trace_headers() or None,
        status=Status.PENDING,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    session.add(n)
    # Resolved again: a directory address may have changed since the first send.
    await route(session, deps, n, now)
    await session.flush()
    log_notification(n, "notification resent", resend_of=str(original.id))
    return NotificationOut.of(n)


async def resend_failed(session: AsyncSession, deps: Deps, ask: BulkResendIn) -> BulkResendOut:
    """Send again, each as a new linked notification, the notifications that failed in a
    time range (e.g. during a provider outage). One already resent, or whose one-time link
    was removed by retention, is skipped and counted: resend those one by one."""
    failed = await repo.failed_between(
        session,
        ask.failed_since,
        ask.failed_until,
        channel=ask.channel,
        template=ask.template,
        limit=ask.limit,
    )
    done = await repo.resent_already(session, [n.id for n in failed])
    resent: list[uuid.UUID] = []
    skipped = 0
    for original in failed:
        if original.id in done:
            skipped += 1
            continue
        try:
            resent.append((await resend(session, deps, original)).notification_id)
        except Conflict:
            skipped += 1
    log.info("failed notifications resent", extra={"resent": len(resent), "skipped": skipped})
    return BulkResendOut(resent=resent, skipped=skipped)


# -- retention -----------------------------------------------------------------------------


async def apply_retention(session: AsyncSession, deps: Deps) -> tuple[int, int]:
    """Drop one-time links from finished notifications, then delete old finished ones.

    Returns (notifications whose links were removed, notifications deleted).
    """
    now = deps.now()
    s = deps.settings
    purged = 0
    link_cutoff = now - timedelta(days=s.link_retention_days)
    for n in await repo.links_to_purge(session, link_cutoff, limit=1000):
        n.params = {k: v for k, v in (n.params or {}).items() if not k.endswith("_url")}
        n.params_purged_at = now
        purged += 1
    deleted = await repo.delete_finished_before(session, now - timedelta(days=s.log_retention_days))
    await session.flush()
    if purged or deleted:
        log.info("retention applied", extra={"links_removed": purged, "deleted": deleted})
    return purged, deleted
