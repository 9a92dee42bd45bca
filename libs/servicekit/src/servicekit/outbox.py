"""Transactional outbox: events are written in the caller's transaction and published
later by ``OutboxRelay`` with the idempotent producer.

Why: publishing to Kafka before the commit can announce a change that then rolls back;
publishing after it can lose the event if the process dies in between. Writing the
event as a row in the same transaction makes "state changed" and "event will be
published" one atomic fact.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import zlib
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import EventPayload
from contracts.envelope import CloudEvent, new_event
from servicekit.db import Database
from servicekit.loop import BackgroundLoop
from servicekit.telemetry import current_trace_headers

log = logging.getLogger(__name__)

RELAY_PUBLISHED = Counter(
    "outbox_relay_published_total", "Events published from the outbox", ["service", "topic"]
)
RELAY_ERRORS = Counter("outbox_relay_errors_total", "Failed publish attempts", ["service"])
RELAY_PENDING = Gauge("outbox_pending_events", "Events waiting in the outbox", ["service"])

# Postgres advisory lock key: only one relay per service database publishes at a time,
# which keeps per-key order when the service runs several instances.
_ADVISORY_LOCK_BASE = 0x0B0C_5000

# The broker (or the way to it) is away: wait it out with a fresh producer afterwards.
_BROKER_ERRORS: tuple[type[BaseException], ...] = (KafkaError, OSError, TimeoutError)


class Outbox:
    """Writes events into the outbox table of the current session (no I/O to Kafka)."""

    def __init__(self, db: Database, source: str) -> None:
        self.db = db
        self.source = source

    async def add(
        self,
        session: AsyncSession,
        payload: EventPayload,
        *,
        subject: str | None = None,
        event_id: uuid.UUID | None = None,
    ) -> CloudEvent:
        event = new_event(payload, source=self.source, subject=subject, event_id=event_id)
        await self.add_event(session, event, key=payload.key())
        return event

    async def add_event(self, session: AsyncSession, event: CloudEvent, *, key: str) -> None:
        headers = {"content-type": "application/cloudevents+json", **current_trace_headers()}
        await session.execute(
            self.db.outbox.insert().values(
                event_id=str(event.id),
                topic=event.type,
                key=key,
                value=event.to_bytes(),
                headers=headers,
            )
        )


def kafka_producer(bootstrap: str, *, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        enable_idempotence=True,  # implies acks=all; no duplicates from producer retries
        linger_ms=5,
        max_batch_size=256 * 1024,
        compression_type=None,
        request_timeout_ms=15000,
        retry_backoff_ms=200,
    )


class OutboxRelay:
    """Publishes committed outbox rows in insertion order, then deletes them.

    If the broker is unreachable the rows simply wait; the relay backs off and tries
    again, so events flow as soon as the broker is back. Delivery is at-least-once: a
    crash between Kafka's ack and the delete re-sends a batch, which consumers absorb
    through their inbox.
    """

    def __init__(
        self,
        db: Database,
        *,
        service: str,
        bootstrap: str,
        batch_size: int = 1000,
        poll_interval_s: float = 0.5,
    ) -> None:
        self.db = db
        self.service = service
        self.bootstrap = bootstrap
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self._producer: AIOKafkaProducer | None = None
        self.connected = False
        self._loop = BackgroundLoop(
            f"outbox-relay-{service}",
            self._publish_pass,
            interval_s=poll_interval_s,
            backoff_initial_s=0.5,
            backoff_max_s=10.0,
            expected_errors=_BROKER_ERRORS,
            on_error=self._publish_failed,
        )
        db.on_commit(self.wake)

    def wake(self) -> None:
        """Publish now (called after every commit); ignored while backing off after an
        error, so a broker outage is not hammered with a new producer per commit."""
        self._loop.wake()

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop(15.0)
        await self._close_producer()

    async def _close_producer(self) -> None:
        if self._producer is not None:
            try:
                await self._producer.stop()
            except Exception:  # closing a broken producer must not block shutdown
                log.warning("outbox producer did not stop cleanly", exc_info=True)
            self._producer = None
            self.connected = False

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = kafka_producer(self.bootstrap, client_id=f"{self.service}-relay")
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
            self.connected = True
        return self._producer

    async def _publish_pass(self) -> bool:
        # A full batch means more rows are probably waiting: go again without sleeping.
        return await self.publish_once() >= self.batch_size

    async def _publish_failed(self, exc: Exception) -> None:
        RELAY_ERRORS.labels(self.service).inc()
        if isinstance(exc, _BROKER_ERRORS):
            await self._close_producer()  # a fresh producer (and connection) next time

    async def publish_once(self) -> int:
        """Publish one batch of committed rows; returns how many were published."""
        outbox = self.db.outbox
        async with self.db.sessions() as session:
            if self.db.dialect == "postgresql":
                got = (
                    await session.execute(
                        text("SELECT pg_try_advisory_xact_lock(:k)"),
                        {"k": _ADVISORY_LOCK_BASE + (zlib.crc32(self.service.encode()) & 0xFFFF)},
                    )
                ).scalar()
                if not got:
                    return 0  # another instance is relaying
            rows = (
                await session.execute(
                    select(
                        outbox.c.seq, outbox.c.topic, outbox.c.key, outbox.c.value, outbox.c.headers
                    )
                    .order_by(outbox.c.seq)
                    .limit(self.batch_size)
                )
            ).all()
            if not rows:
                RELAY_PENDING.labels(self.service).set(0)
                await session.commit()
                return 0
            producer = await self._ensure_producer()
            futures: list[asyncio.Future[Any]] = []
            for row in rows:
                headers = [(k, str(v).encode()) for k, v in (row.headers or {}).items()]
                futures.append(
                    await producer.send(
                        row.topic,
                        value=row.value,
                        key=row.key.encode() if row.key else None,
                        headers=headers,
                    )
                )
            results = await asyncio.gather(*futures, return_exceptions=True)
            # Delete the longest prefix that was acknowledged: what follows a failure
            # stays, so per-key order holds when it is sent again.
            done_seqs: list[int] = []
            first_error: BaseException | None = None
            for row, result in zip(rows, results, strict=True):
                if isinstance(result, BaseException):
                    first_error = result
                    break
                done_seqs.append(row.seq)
                RELAY_PUBLISHED.labels(self.service, row.topic).inc()
            if done_seqs:
                await session.execute(delete(outbox).where(outbox.c.seq.in_(done_seqs)))
            await session.commit()
            if first_error is not None:
                raise first_error
            pending = (await session.execute(select(func.count()).select_from(outbox))).scalar()
            RELAY_PENDING.labels(self.service).set(pending or 0)
            return len(done_seqs)
