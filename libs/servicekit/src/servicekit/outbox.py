"""Transactional outbox: events are written in the caller's transaction and published
later by ``OutboxRelay`` with the idempotent producer.

Why: publishing to Kafka before the commit can announce a change that then rolls back;
publishing after it can lose the event if the process dies in between. Writing the
event as a row in the same transaction makes "state changed" and "event will be
published" one atomic fact.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import time
import uuid
import zlib
from collections.abc import Sequence
from typing import Any, overload

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
)
from aiokafka.partitioner import murmur2
from prometheus_client import Counter, Gauge
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Insert,
    LargeBinary,
    String,
    Text,
    bindparam,
    cast,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import EventPayload
from contracts.envelope import CLOUDEVENTS_JSON, CloudEvent, encode_events, new_event
from servicekit.db import Database, utcnow
from servicekit.kafka import NO_SECURITY, KafkaSecurity
from servicekit.loop import BackgroundLoop
from servicekit.problems import Problem
from servicekit.telemetry import current_trace_headers

log = logging.getLogger(__name__)

RELAY_PUBLISHED = Counter(
    "outbox_relay_published_total", "Events published from the outbox", ["service", "topic"]
)
RELAY_ERRORS = Counter("outbox_relay_errors_total", "Failed publish attempts", ["service"])
RELAY_PENDING = Gauge("outbox_pending_events", "Events waiting in the outbox", ["service"])
RELAY_OLDEST_AGE = Gauge(
    "outbox_oldest_event_age_seconds",
    "Age of the oldest unpublished event (0 when none); set on every relay pass, "
    "also while the broker is away",
    ["service"],
)
RELAY_PARKED = Counter(
    "outbox_events_parked_total",
    "Events set aside in outbox_parked because they can never be published",
    ["service", "topic"],
)
RELAY_PARKED_NOW = Gauge(
    "outbox_parked_events", "Events waiting in outbox_parked for an operator", ["service"]
)

# What a broker refuses for the record itself, however often it is sent: the record goes
# to outbox_parked (with an alert) instead of blocking every event after it.
_UNPUBLISHABLE: tuple[type[BaseException], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
    TopicAuthorizationFailedError,
)
# Largest message (key and value) the relay's producer sends: its ``max_request_size``,
# the broker's default message.max.bytes.
MAX_REQUEST_BYTES = 1_048_576
# Largest event accepted into the outbox: below the broker's default message.max.bytes
# (1 MiB) and the producer's max_request_size, with room for key and headers.
MAX_EVENT_BYTES = 900_000
# How long the relay trusts its list of the broker's topics before asking again.
_TOPICS_TTL_S = 30.0
_COUNT_EVERY_S = 1.0  # the pending/parked counts scan their tables: at most once a second

# Postgres advisory lock key: only one relay per service database publishes at a time,
# which keeps per-key order when the service runs several instances.
_ADVISORY_LOCK_BASE = 0x0B0C_5000

# The broker (or the way to it) is away: wait it out with a fresh producer afterwards.
_BROKER_ERRORS: tuple[type[BaseException], ...] = (KafkaError, OSError, TimeoutError)


class EventTooLarge(Problem):
    """The change would produce an event the broker cannot carry: refused at the source,
    so nothing is changed, rather than blocking the relay later."""

    status, slug = 422, "event-too-large"


class Outbox:
    """Writes events into the outbox table of the current session (no I/O to Kafka)."""

    def __init__(
        self, db: Database, source: str, *, max_event_bytes: int = MAX_EVENT_BYTES
    ) -> None:
        self.db = db
        self.source = source
        self.max_event_bytes = max_event_bytes
        self._array_insert: Insert | None = None

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
            self.db.outbox.insert().values(**self._row(event, key=key, headers=headers))
        )

    async def add_many(
        self, session: AsyncSession, payloads: Sequence[EventPayload]
    ) -> Sequence[CloudEvent]:
        """Like ``add`` for each payload, in order, in one statement (a consumer or a bulk
        route writing an event per item: one statement instead of one per event).

        The events' JSON is built by ``contracts.envelope.encode_events`` (the bytes
        ``new_event(...).to_bytes()`` gives, without a CloudEvent model per event; one
        ``time`` for the batch). On PostgreSQL the rows go in as four array parameters
        (``INSERT ... SELECT FROM unnest(...) WITH ORDINALITY ORDER BY``: ``seq`` follows
        the payloads' order), elsewhere as an ``executemany``. The returned events are
        parsed from the rows' bytes only when read."""
        if not payloads:
            return []
        headers = {"content-type": CLOUDEVENTS_JSON, **current_trace_headers()}
        encoded = encode_events(payloads, source=self.source)
        for (_, value), payload in zip(encoded, payloads, strict=True):
            if len(value) > self.max_event_bytes:
                raise self._too_large(payload.event_type, len(value))
        keys = [p.key() for p in payloads]
        if self.db.dialect == "postgresql":
            await session.execute(
                self._insert_from_arrays(),
                {
                    "event_ids": [event_id for event_id, _ in encoded],
                    "topics": [p.event_type for p in payloads],
                    "keys": keys,
                    "values": [value for _, value in encoded],
                    "headers": headers,
                    "created_at": utcnow(),
                },
            )
        else:
            rows = [
                {
                    "event_id": event_id,
                    "topic": p.event_type,
                    "key": key,
                    "value": value,
                    "headers": headers,
                }
                for (event_id, value), p, key in zip(encoded, payloads, keys, strict=True)
            ]
            await session.execute(self.db.outbox.insert(), rows)
        return _ParsedOnRead([value for _, value in encoded])

    def _insert_from_arrays(self) -> Insert:
        """PostgreSQL: the outbox rows from arrays of ids, topics, keys and values (one
        bind each instead of five parameters a row), headers and time shared."""
        if self._array_insert is None:
            outbox = self.db.outbox
            new = (
                func.unnest(
                    bindparam("event_ids", type_=ARRAY(String)),
                    bindparam("topics", type_=ARRAY(String)),
                    bindparam("keys", type_=ARRAY(String)),
                    bindparam("values", type_=ARRAY(LargeBinary)),
                )
                .table_valued("event_id", "topic", "key", "value", with_ordinality="n")
                .render_derived()
            )
            self._array_insert = outbox.insert().from_select(
                ["event_id", "topic", "key", "value", "headers", "created_at"],
                select(
                    new.c.event_id,
                    new.c.topic,
                    new.c.key,
                    new.c.value,
                    bindparam("headers", type_=outbox.c.headers.type),
                    bindparam("created_at", type_=outbox.c.created_at.type),
                ).order_by(new.c.n),
            )
        return self._array_insert

    def _too_large(self, event_type: str, size: int) -> EventTooLarge:
        return EventTooLarge(
            f"The {event_type} event would be {size} bytes; at most "
            f"{self.max_event_bytes} can be published. Nothing was changed.",
            event_type=event_type,
            size=size,
            limit=self.max_event_bytes,
        )

    def _row(self, event: CloudEvent, *, key: str, headers: dict[str, str]) -> dict[str, Any]:
        value = event.to_bytes()
        if len(value) > self.max_event_bytes:
            raise self._too_large(event.type, len(value))
        return {
            "event_id": str(event.id),
            "topic": event.type,
            "key": key,
            "value": value,
            "headers": headers,
        }


class _ParsedOnRead(Sequence[CloudEvent]):
    """``add_many``'s events, each parsed from its row's bytes when first read (most
    callers never read them: building a model per event cost more than writing it)."""

    def __init__(self, values: list[bytes]) -> None:
        self._values = values
        self._events: dict[int, CloudEvent] = {}

    def __len__(self) -> int:
        return len(self._values)

    @overload
    def __getitem__(self, index: int) -> CloudEvent: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[CloudEvent]: ...
    def __getitem__(self, index: int | slice) -> CloudEvent | Sequence[CloudEvent]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self._values))[index]]
        i = range(len(self._values))[index]  # IndexError, negative indexes
        event = self._events.get(i)
        if event is None:
            event = self._events[i] = CloudEvent.from_bytes(self._values[i])
        return event


def kafka_producer(
    bootstrap: str, *, client_id: str, security: KafkaSecurity = NO_SECURITY
) -> AIOKafkaProducer:
    # Idempotence needs no IDEMPOTENT_WRITE ACL: since Kafka 3.0 (KIP-679) WRITE on any
    # topic allows InitProducerId; the relay's principal has WRITE on the topics it owns.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        **security.options(),
        acks="all",  # acknowledged once min.insync.replicas hold it (2 of 3 in production)
        enable_idempotence=True,  # no duplicates from producer retries
        linger_ms=5,
        max_batch_size=256 * 1024,
        max_request_size=MAX_REQUEST_BYTES,
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
        security: KafkaSecurity = NO_SECURITY,
        topic_prefix: str = "",
    ) -> None:
        self.db = db
        self.service = service
        self.bootstrap = bootstrap
        # Publishes an event of topic T to <prefix>T (tests and benchmarks on a shared
        # broker, like EventHandlers' topic_prefix); the service itself uses none.
        self.topic_prefix = topic_prefix
        self.security = security
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self._producer: AIOKafkaProducer | None = None
        self._topics: set[str] = set()
        self._topics_at = float("-inf")
        self._alone_until = 0  # rows up to this seq are sent one per batch (_RecordBatches)
        self._again = False  # the pass left rows to send again at once
        self._counted_at = float("-inf")
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
        db.on_write_commit(self.wake)  # an outbox row is written only by a writing commit

    def wake(self) -> None:
        """Publish now (called after every commit that wrote); ignored while backing off after an
        error, so a broker outage is not hammered with a new producer per commit."""
        self._loop.wake()

    async def start(self) -> None:
        self._loop.start()

    async def stop(self, deadline_s: float = 15.0) -> None:
        await self._loop.stop(deadline_s)
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
            producer = kafka_producer(
                self.bootstrap, client_id=f"{self.service}-relay", security=self.security
            )
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
            self.connected = True
        return self._producer

    async def _publish_pass(self) -> bool:
        # A full batch means more rows are probably waiting, and a refused batch is to be
        # sent again row by row: go again without sleeping.
        self._again = False
        return await self.publish_once() >= self.batch_size or self._again

    async def _publish_failed(self, exc: Exception) -> None:
        RELAY_ERRORS.labels(self.service).inc()
        if isinstance(exc, _BROKER_ERRORS):
            await self._close_producer()  # a fresh producer (and connection) next time

    async def _broker_topics(self, producer: AIOKafkaProducer, wanted: set[str]) -> set[str]:
        """The broker's topics, refreshed when older than a TTL or missing one we need."""
        now = time.monotonic()
        if now - self._topics_at > _TOPICS_TTL_S or not wanted <= self._topics:
            metadata = await producer.client.fetch_all_metadata()
            self._topics = set(metadata.topics())
            self._topics_at = now
        return self._topics

    def _delete_stmt(self, outbox: Any) -> Any:
        """Delete the published rows ``:seqs``: on PostgreSQL one array parameter
        (``seq = ANY(:seqs)``) rather than an ``IN`` list of up to ``batch_size``
        parameters rendered per batch; elsewhere the expanding ``IN``."""
        if self.db.dialect == "postgresql":
            return delete(outbox).where(
                outbox.c.seq == func.any(bindparam("seqs", type_=ARRAY(BigInteger)))
            )
        return delete(outbox).where(outbox.c.seq.in_(bindparam("seqs", expanding=True)))

    async def _park(self, session: AsyncSession, rows: list[Any], errors: dict[int, str]) -> None:
        """Move rows that can never be published aside, with why, for an operator."""
        parked = self.db.outbox_parked
        outbox = self.db.outbox
        for row in rows:
            await session.execute(
                insert(parked).values(
                    seq=row.seq,
                    event_id=row.event_id,
                    topic=row.topic,
                    key=row.key,
                    value=row.value,
                    headers=json.loads(row.headers) if row.headers else {},
                    created_at=row.created_at,
                    parked_at=utcnow(),
                    error=errors[row.seq][:1000],
                )
            )
            RELAY_PARKED.labels(self.service, row.topic).inc()
            log.error(
                "outbox event %s (%s, %d bytes) can never be published and was set aside in "
                "outbox_parked: %s",
                row.event_id,
                row.topic,
                len(row.value),
                errors[row.seq],
            )
        await session.execute(delete(outbox).where(outbox.c.seq.in_([r.seq for r in rows])))

    async def _observe(self, session: AsyncSession) -> None:
        """Backlog gauges, also when publishing failed: the oldest row's age on every pass
        (one primary-key lookup: the lowest ``seq`` is the row waiting longest), the
        pending and parked counts at most once a second (each scans its table, which
        during a broker outage holds the whole backlog)."""
        outbox, parked = self.db.outbox, self.db.outbox_parked
        oldest = (
            await session.execute(select(outbox.c.created_at).order_by(outbox.c.seq).limit(1))
        ).scalar()
        age = 0.0 if oldest is None else max(0.0, (utcnow() - oldest).total_seconds())
        RELAY_OLDEST_AGE.labels(self.service).set(age)
        now = time.monotonic()
        if oldest is not None and now - self._counted_at < _COUNT_EVERY_S:
            return
        self._counted_at = now
        pending = (await session.execute(select(func.count()).select_from(outbox))).scalar()
        RELAY_PENDING.labels(self.service).set(pending or 0)
        waiting = (await session.execute(select(func.count()).select_from(parked))).scalar()
        RELAY_PARKED_NOW.labels(self.service).set(waiting or 0)

    async def observe(self) -> None:
        async with self.db.sessions() as session:
            await self._observe(session)

    async def publish_once(self) -> int:
        """Publish one batch of committed rows; returns how many were published.

        Rows are deleted once acknowledged, in order, up to the first row the broker
        could not take *for now* (it stays, and so does everything after it, so per-key
        order holds when they are sent again). A row the broker refuses for itself — too
        large, or for a topic that does not exist — is moved to ``outbox_parked`` with an
        alert instead of blocking the service's events forever; its key's later events
        go on (an operator republishes it with ``portal-outbox``).
        """
        outbox = self.db.outbox
        try:
            return await self._publish_batch(outbox)
        finally:
            with contextlib.suppress(Exception):  # gauges must not hide the real error
                await self.observe()

    async def _publish_batch(self, outbox: Any) -> int:
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
                        outbox.c.seq,
                        outbox.c.event_id,
                        outbox.c.topic,
                        outbox.c.key,
                        outbox.c.value,
                        # The stored JSON text: rows written together share it, and it is
                        # turned into Kafka headers once per distinct text (_RecordBatches).
                        cast(outbox.c.headers, Text).label("headers"),
                        outbox.c.created_at,
                    )
                    .order_by(outbox.c.seq)
                    .limit(self.batch_size)
                )
            ).all()
            if not rows:
                await session.commit()
                return 0
            producer = await self._ensure_producer()
            prefix = self.topic_prefix
            topics = await self._broker_topics(producer, {prefix + row.topic for row in rows})
            batches = _RecordBatches(producer, alone_until=self._alone_until, prefix=prefix)
            for row in rows:
                if prefix + row.topic not in topics:
                    # Metadata lists only the topics this principal may describe.
                    batches.refused[row.seq] = (
                        f"topic {prefix + row.topic!r} does not exist on the broker "
                        "(or this service's principal may not write it)"
                    )
                else:
                    await batches.add(row)
            results = await batches.send()
            # Walk in order: acknowledged rows are deleted, unpublishable ones parked, and
            # the first transient failure stops the walk. A batch of several rows refused
            # for its size or topic is sent again row by row (each row its own batch), so
            # that only the row at fault is parked.
            done: list[int] = []
            to_park: list[Any] = []
            first_error: BaseException | None = None
            published: dict[str, int] = {}
            for row in rows:
                result = results.get(row.seq)
                if row.seq in batches.refused:
                    to_park.append(row)
                elif isinstance(result, _UNPUBLISHABLE) and batches.alone(row.seq):
                    batches.refused[row.seq] = f"{type(result).__name__}: {result}"
                    to_park.append(row)
                elif isinstance(result, _UNPUBLISHABLE):
                    self._alone_until = max(self._alone_until, batches.last_of(row.seq))
                    first_error = result
                    break
                elif isinstance(result, BaseException):
                    first_error = result
                    break
                else:
                    done.append(row.seq)
                    published[row.topic] = published.get(row.topic, 0) + 1
            for topic, count in published.items():
                RELAY_PUBLISHED.labels(self.service, topic).inc(count)
            if done:
                await session.execute(self._delete_stmt(outbox), {"seqs": done})
            if to_park:
                await self._park(session, to_park, batches.refused)
            await session.commit()
            if any(isinstance(r, _UNPUBLISHABLE) for r in results.values()):
                # The idempotent producer numbers each partition's batches; one the broker
                # refused leaves a gap, and every later batch would be refused as out of
                # order. A fresh producer starts a new sequence; what failed after the
                # refusal is sent again in the next pass, not treated as an outage.
                await self._close_producer()
                self._again = True
            elif first_error is not None:
                raise first_error
            return len(done) + len(to_park)


class _RecordBatches:
    """One pass's rows as Kafka record batches, one open batch per topic partition, filled
    in the rows' order and handed to the producer whole (``send_batch``): a future per
    batch instead of a ``send`` and a future per row, which was most of the relay's time.
    Each row goes to the partition the producer's default partitioner would pick for its
    key (``_key_hash``); rows without a key to a random partition, as with ``send``.

    A row larger than a request can carry is refused here (as ``send`` would refuse it);
    rows up to ``alone_until`` (those of a batch the broker refused, sent again) each get
    a batch of their own."""

    def __init__(self, producer: AIOKafkaProducer, *, alone_until: int, prefix: str) -> None:
        self.producer = producer
        self.prefix = prefix
        self.alone_until = alone_until
        self.refused: dict[int, str] = {}
        self._open: dict[tuple[str, int], tuple[Any, list[int]]] = {}
        self._closed: list[tuple[tuple[str, int], Any, list[int]]] = []
        self._batch_of: dict[int, list[int]] = {}  # row seq -> the seqs of its batch
        self._partitions: dict[str, int] = {}
        self._headers: dict[str | None, list[tuple[str, bytes]]] = {}

    async def add(self, row: Any) -> None:
        key = row.key.encode() if row.key else None
        size = len(row.value) + (len(key) if key else 0)
        if size > MAX_REQUEST_BYTES:
            self.refused[row.seq] = (
                f"MessageSizeTooLargeError: the message is {size} bytes, more than the "
                f"{MAX_REQUEST_BYTES} bytes a request may carry"
            )
            return
        topic = self.prefix + row.topic
        count = self._partitions.get(topic)
        if count is None:
            count = self._partitions[topic] = len(await self.producer.partitions_for(topic))
        partition = random.randrange(count) if key is None else _key_hash(key) % count
        headers = self._headers.get(row.headers)
        if headers is None:
            parsed = json.loads(row.headers) if row.headers else {}
            headers = self._headers[row.headers] = [(k, str(v).encode()) for k, v in parsed.items()]
        tp = (topic, partition)
        current = self._open.get(tp)
        if current is not None and (
            row.seq <= self.alone_until
            or current[0].append(timestamp=None, key=key, value=row.value, headers=headers) is None
        ):
            self._closed.append((tp, *current))
            current = None
        if current is None:
            builder = self.producer.create_batch()
            builder.append(timestamp=None, key=key, value=row.value, headers=headers)
            current = self._open[tp] = (builder, [])
        current[1].append(row.seq)
        self._batch_of[row.seq] = current[1]
        if row.seq <= self.alone_until:
            self._closed.append((tp, *self._open.pop(tp)))

    def alone(self, seq: int) -> bool:
        return len(self._batch_of[seq]) == 1

    def last_of(self, seq: int) -> int:
        return self._batch_of[seq][-1]

    async def send(self) -> dict[int, Any]:
        """Send every batch (a partition's batches in the order they were filled) and wait
        for each; the outcome of each row: its batch's metadata or exception."""
        batches = self._closed + [(tp, *batch) for tp, batch in self._open.items()]
        futures = []
        for (topic, partition), builder, _ in batches:
            builder.close()
            futures.append(await self.producer.send_batch(builder, topic, partition=partition))
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        return {
            seq: outcome
            for (_, _, seqs), outcome in zip(batches, outcomes, strict=True)
            for seq in seqs
        }


@functools.lru_cache(maxsize=100_000)
def _key_hash(key: bytes) -> int:
    """The partition hash aiokafka's default partitioner (and the Java client) uses for a
    key: murmur2, positive; remembered per key (keys are customer ids, which repeat, and
    the pure-Python murmur2 was a third of the relay's time)."""
    return int(murmur2(key)) & 0x7FFFFFFF
