"""Keeping the consumer's inbox bounded.

The inbox holds the id of every event a service applied, so a redelivery has no second
effect. A redelivery can only come from the topic itself, and Kafka forgets an event
after the topic's retention; past that its inbox entry protects nothing. Entries older
than the longest retention of the topics the service consumes (plus a day of margin) are
deleted in bounded batches, each its own short transaction, so the purge never holds
locks for long nor competes with the consumer's own transactions. At 2,000 events/s that
is what keeps the table at a week of entries instead of growing by ~170 M rows a day.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from prometheus_client import Counter
from sqlalchemy import delete, select

from contracts.topics import CATALOGUE, DAY_MS, DEFAULT_RETENTION_MS
from servicekit.db import Database

log = logging.getLogger(__name__)

INBOX_PURGED = Counter(
    "inbox_purged_entries_total", "Inbox entries deleted after their topics' retention", ["service"]
)
MARGIN = timedelta(days=1)


def inbox_retention(topics: Iterable[str]) -> timedelta:
    """How long an applied event's id must be kept: the longest retention of ``topics``
    (a topic outside the catalogue, e.g. a test's, counts as the default), plus a margin."""
    longest = max(
        (CATALOGUE[t].retention_ms if t in CATALOGUE else DEFAULT_RETENTION_MS for t in topics),
        default=DEFAULT_RETENTION_MS,
    )
    return timedelta(milliseconds=max(longest, DAY_MS)) + MARGIN


async def purge_inbox(
    db: Database, *, older_than: datetime, batch_size: int = 5000, max_batches: int = 200
) -> int:
    """Delete entries processed before ``older_than``, ``batch_size`` at a time; returns
    how many. Stops after ``max_batches`` (the next run goes on) so one run stays short."""
    inbox = db.inbox
    total = 0
    for _ in range(max_batches):
        async with db.transaction() as session:
            keys = (
                await session.execute(
                    select(inbox.c.consumer, inbox.c.event_id)
                    .where(inbox.c.processed_at < older_than)
                    .limit(batch_size)
                )
            ).all()
            if not keys:
                break
            for consumer in {k.consumer for k in keys}:
                ids = [k.event_id for k in keys if k.consumer == consumer]
                await session.execute(
                    delete(inbox).where(inbox.c.consumer == consumer, inbox.c.event_id.in_(ids))
                )
        total += len(keys)
        if len(keys) < batch_size:
            break
    return total
