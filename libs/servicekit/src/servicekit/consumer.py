"""At-least-once Kafka consumer with an inbox, bounded retries and a dead-letter topic.

For each message: parse the CloudEvent, open one transaction, skip it if its id is in
the inbox, apply the effect, record the id, commit; only then is the offset committed
(once per partition batch). A redelivered event therefore has no second effect, and a
crash never loses one. Handlers that are idempotent by their own key declare it and skip
the inbox (``BatchHandler``, docs/adr/0029).

Handlers are declared by payload class (``EventHandlers``); the topics to subscribe to
come from the contracts catalogue.

Failures:
- a malformed or unknown event, or one whose payload class (schema version) this service
  has no handler for, goes to the dead-letter topic at once;
- the service's own database being unreachable is retried without limit (nothing is
  wrong with the event; it will apply once the database is back);
- anything else is retried ``max_attempts`` times with exponential backoff, then goes to
  ``dlq.<service>`` with the error in its headers and the partition moves on.
  ``portal-dlq replay`` puts dead letters back on their topic.

The subscriber is declared with FastStream (``EventConsumer.broker()``): a batch
subscriber per service with manual acknowledgement, whose handler is the policy above;
FastStream owns the connection, group membership, the poll loop and its AsyncAPI
description, servicekit owns what happens to each event and when offsets are committed
(docs/adr/0004).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, Protocol, cast

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import ARRAY, Insert, Select, String, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import EventPayload
from contracts.envelope import CloudEvent, InvalidEvent, parse_data, parse_event_as
from contracts.topics import CATALOGUE, KEEP_FOREVER, dead_letter_topic, topic_of
from servicekit.db import Database, utcnow
from servicekit.faults import is_database_unavailable
from servicekit.kafka import NO_SECURITY, KafkaSecurity
from servicekit.loop import LOOP_FAILURES, BackgroundLoop
from servicekit.telemetry import context_from_kafka_headers, tracer

log = logging.getLogger(__name__)


class _NoTopicCreationNotice(logging.Filter):
    """Topics are created by ``portal-topics ensure``, never by a subscriber: FastStream's
    warning that it will not create them is what we asked for, not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Auto create topics is disabled" not in record.getMessage()


_FASTSTREAM_LOG = logging.getLogger("servicekit.consumer.faststream")
_FASTSTREAM_LOG.addFilter(_NoTopicCreationNotice())


async def _records_as_they_are(message: Any) -> Any:
    """FastStream decoder: hand the handler the message itself (its records), decoding
    nothing; the handler parses each CloudEvent once."""
    return message


Handler = Callable[[AsyncSession, CloudEvent, Any], Awaitable[None]]
"""``async def on_x(session, event, payload: XV1) -> None``; the payload is of the class
the handler was declared for."""


class BatchHandler(Protocol):
    """A handler that can also apply several events at once (optional).

    ``apply_many(session, [(event, payload), ...])`` must have the same effect as calling
    the handler on each pair in order, in the same session (e.g. one ``executemany``
    instead of one statement per event). The consumer uses it for consecutive new events
    of one handler inside a batch's transaction (after the inbox check, before the inbox
    rows); retries, dead letters and the one-by-one fallback call the handler itself.
    The batch is traced as one ``<topic> process`` span linked to each event's trace.

    A handler may also declare ``idempotent = True``: applying an event it has already
    applied, in the same transaction as the check, has no second effect *by the
    handler's own key* (e.g. usage records by record id). Its events then skip the
    inbox: no look-up, no inbox row (docs/adr/0029). Redeliveries are absorbed by the
    handler instead and counted as ``processed``, not ``duplicate``.
    """

    async def __call__(self, session: AsyncSession, event: CloudEvent, payload: Any) -> None: ...

    async def apply_many(
        self, session: AsyncSession, items: Sequence[tuple[CloudEvent, Any]]
    ) -> None: ...


EVENTS = Counter(
    "consumer_events_total",
    "Events handled by outcome",
    ["service", "topic", "outcome"],
)
LAG = Gauge(
    "consumer_lag_events",
    "Events on the partition not yet applied by this service (high watermark - position)",
    ["service", "topic", "partition"],
)
LAST_COMMIT = Gauge(
    "consumer_last_commit_timestamp_seconds",
    "When this instance last committed an offset of the partition (Unix time)",
    ["service", "topic", "partition"],
)
DURATION = Histogram(
    "consumer_event_duration_seconds", "Time to apply one event", ["service", "topic"]
)


def observe_many(histogram: Histogram, amount: float, count: int) -> None:
    """``histogram.observe(amount)`` ``count`` times, in one step: a batch's events share
    one duration, and 2,000 observe() calls a poll cost ~1.5 us an event. Uses the
    histogram's own fields the way its observe() does (prometheus_client 0.2x); a unit
    test holds it to the same samples as the calls one by one."""
    histogram._raise_if_not_observable()  # type: ignore[attr-defined]
    histogram._sum.inc(amount * count)  # type: ignore[attr-defined]
    for i, bound in enumerate(histogram._upper_bounds):  # type: ignore[attr-defined]
        if amount <= bound:
            histogram._buckets[i].inc(count)  # type: ignore[attr-defined]
            break


def _split(
    batches: Mapping[TopicPartition, list[ConsumerRecord[Any, Any]]], groups: int
) -> list[dict[TopicPartition, list[ConsumerRecord[Any, Any]]]]:
    """Partitions in at most ``groups`` groups of about equal numbers of records (the
    largest partition first into the smallest group); each partition in one group."""
    if groups <= 1 or len(batches) <= 1:
        return [dict(batches)]
    split: list[dict[TopicPartition, list[ConsumerRecord[Any, Any]]]] = [
        {} for _ in range(min(groups, len(batches)))
    ]
    sizes = [0] * len(split)
    for tp, records in sorted(batches.items(), key=lambda item: -len(item[1])):
        smallest = sizes.index(min(sizes))
        split[smallest][tp] = records
        sizes[smallest] += len(records)
    return split


def _idempotent(handler: Handler) -> bool:
    """Whether the handler absorbs redeliveries itself (``idempotent = True``)."""
    return getattr(handler, "idempotent", False) is True


class PermanentError(Exception):
    """The event can never be applied: dead-letter it without retrying."""


class RetryableError(Exception):
    """A transient failure outside our database (e.g. a peer service): retry, bounded."""


class EventHandlers(Mapping[str, Handler]):
    """A service's event handlers, declared by payload class::

        EventHandlers({InvoiceClosedV1: on_invoice_closed, UserCreatedV1: on_user_created})

    Each class's topic comes from the contracts catalogue (``topic_of``); a class the
    catalogue does not know fails here, at start-up. Several classes (schema versions)
    of one topic each get their own handler.

    As a mapping it is ``topic -> handler``: its keys are the topics to subscribe to, and
    ``handlers[topic]`` dispatches on the payload's class. ``handler_for`` is the one
    check of the payload version: a payload class nobody handles on that topic raises
    PermanentError (the event is dead-lettered, replayable once a handler exists).

    ``topic_prefix`` subscribes to ``<prefix><topic>`` instead (tests and benchmarks on
    throwaway topics).
    """

    def __init__(
        self,
        handlers: Mapping[type[EventPayload], Handler] | None = None,
        *,
        topic_prefix: str = "",
    ) -> None:
        self.topic_prefix = topic_prefix
        self._routes: dict[str, dict[type[EventPayload], Handler]] = {}
        if handlers:
            self.add(handlers)

    def add(self, handlers: Mapping[type[EventPayload], Handler]) -> None:
        """Add handlers; UnknownTopic/TypeError for a class outside the catalogue,
        ValueError if a class already has a handler."""
        for payload_cls, handler in handlers.items():
            spec = topic_of(payload_cls)
            if not callable(handler):
                raise TypeError(f"the handler of {payload_cls.__name__} is not callable")
            routes = self._routes.setdefault(self.topic_prefix + spec.name, {})
            if payload_cls in routes:
                raise ValueError(f"{payload_cls.__name__} already has a handler")
            routes[payload_cls] = handler

    def by_payload(self) -> dict[type[EventPayload], Handler]:
        """The declaration: every handler by its payload class."""
        return {cls: h for routes in self._routes.values() for cls, h in routes.items()}

    def with_topic_prefix(self, prefix: str) -> EventHandlers:
        """The same handlers subscribed to ``<prefix><topic>``."""
        return EventHandlers(self.by_payload(), topic_prefix=prefix)

    @property
    def topics(self) -> list[str]:
        return list(self._routes)

    def only_class(self, topic: str) -> tuple[type[EventPayload], Handler] | None:
        """The payload class and handler of a topic handled for one class (one schema
        version) only; None for a topic with several, or none."""
        routes = self._routes.get(topic)
        if routes is None or len(routes) != 1:
            return None
        return next(iter(routes.items()))

    def handler_for(self, topic: str, payload: EventPayload) -> Handler:
        """The handler of this payload's class on this topic; PermanentError if none."""
        routes = self._routes.get(topic)
        if routes is None:
            raise PermanentError(f"not subscribed to topic {topic!r}")
        handler = routes.get(type(payload))
        if handler is None:
            handled = ", ".join(f"{cls.__name__} (v{cls.version})" for cls in routes)
            raise PermanentError(
                f"no handler for {type(payload).__name__} ({payload.dataschema()}) on "
                f"{topic}; this service handles {handled}"
            )
        return handler

    def __getitem__(self, topic: str) -> Handler:
        if topic not in self._routes:
            raise KeyError(topic)

        async def dispatch(session: AsyncSession, event: CloudEvent, payload: Any) -> None:
            await self.handler_for(topic, payload)(session, event, payload)

        return dispatch

    def __iter__(self) -> Iterator[str]:
        return iter(self._routes)

    def __len__(self) -> int:
        return len(self._routes)

    def __repr__(self) -> str:
        declared = ", ".join(cls.__name__ for cls in self.by_payload())
        return f"EventHandlers({declared})"


_Parsed = tuple[ConsumerRecord[Any, Any], CloudEvent, EventPayload, Handler]


DEFAULT_MAX_BATCH = 2000  # events per poll, applied in one transaction


class EventConsumer:
    def __init__(
        self,
        db: Database,
        *,
        service: str,
        group_id: str,
        bootstrap: str,
        handlers: EventHandlers | Mapping[type[EventPayload], Handler],
        max_attempts: int = 5,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 5.0,
        max_batch: int = DEFAULT_MAX_BATCH,
        offset_reset: str = "earliest",
        security: KafkaSecurity = NO_SECURITY,
        transactions: int = 1,
    ) -> None:
        self.db = db
        self.service = service
        self.group_id = group_id
        self.bootstrap = bootstrap
        self.security = security
        self.handlers = handlers if isinstance(handlers, EventHandlers) else EventHandlers(handlers)
        self.max_attempts = max_attempts
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.max_batch = max_batch
        self.offset_reset = offset_reset
        # A poll's partitions are applied in up to this many concurrent transactions.
        self.transactions = max(1, transactions)
        self.dlq_topic = dead_letter_topic(service)
        # A proxy until tracing is configured, then the real tracer (looked up once).
        self._tracer = tracer()
        self._seen_stmt: Select[str] | None = None
        self._record_stmt: Insert | None = None
        self._broker: KafkaBroker | None = None
        self._subscriber: Any = None
        self._idle = asyncio.Event()  # no batch in hand
        self._idle.set()
        self._failures = 0  # consecutive failed batches (backoff)
        # Offsets applied (effects committed) but not yet committed to Kafka, and the
        # last ones committed, per partition.
        self._applied: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._settled = False  # the last assignment's start positions are fixed
        # Only the start/reconnect loop: one pass is one consumer session (a started
        # FastStream broker), ended by stop(), or by a failed start (backoff, then anew).
        self._loop = BackgroundLoop(
            f"consumer-{group_id}",
            self._session,
            interval_s=1.0,  # unused: a session returns only when stopping
            backoff_initial_s=1.0,
            backoff_max_s=15.0,
            expected_errors=(KafkaError, OSError),
            on_error=self._session_failed,
        )

    @property
    def _stopping(self) -> asyncio.Event:
        return self._loop.stopping

    @property
    def _consumer(self) -> AIOKafkaConsumer | None:
        """The subscriber's aiokafka consumer while a session runs."""
        return self._subscriber.consumer if self._subscriber is not None else None

    @property
    def committed(self) -> Mapping[TopicPartition, int]:
        """The offsets this instance last committed to Kafka, per partition (a view)."""
        return MappingProxyType(self._committed)

    @property
    def partitions(self) -> frozenset[TopicPartition]:
        """The partitions this instance holds now (none between sessions)."""
        consumer = self._consumer
        return frozenset(consumer.assignment()) if consumer is not None else frozenset()

    @property
    def assigned(self) -> bool:
        """Whether this instance holds partitions, their start positions fixed (readiness
        reports it)."""
        return self._settled and bool(self.partitions)

    # -- the FastStream subscriber -----------------------------------------------------

    def broker(self) -> KafkaBroker:
        """A FastStream broker with this service's one subscriber declared: a batch
        subscriber on every topic it handles, in its consumer group, offsets committed
        by hand (``AckPolicy.MANUAL``) after the batch's effects are committed, with the
        rebalance listener that commits what was applied before partitions go. Its
        handler is ``_on_batch``: the inbox, retry and dead-letter policy below.

        Topics are never created by the subscriber (``portal-topics ensure`` creates them
        with their declared partitions, ADR 4); message bodies are not decoded by
        FastStream (the handler parses CloudEvents itself, once)."""
        broker = KafkaBroker(
            self.bootstrap,
            security=self.security.faststream(),  # the service's own principal (ADR 24)
            client_id=f"{self.service}-{self.group_id}",
            allow_auto_create_topics=False,
            apply_types=False,
            logger=_FASTSTREAM_LOG,
            log_level=logging.DEBUG,  # "Received"/"Processed" per batch; errors stay ERROR
            graceful_timeout=None,  # stop() waits for the batch in hand itself
        )
        self._subscriber = broker.subscriber(
            *self.handlers.topics,
            group_id=self.group_id,
            batch=True,
            max_records=self.max_batch,
            batch_timeout_ms=500,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset=cast(Literal["earliest", "latest", "none"], self.offset_reset),
            listener=_CommitOnRevoke(self),
            max_poll_interval_ms=900_000,
            session_timeout_ms=15_000,
            heartbeat_interval_ms=3_000,
            decoder=_records_as_they_are,
            title=f"{self.service}:{self.group_id}",
            description=f"Events {self.service} applies (inbox, retries, dead letters)",
        )
        self._subscriber(self._on_batch)
        return broker

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        self._loop.start()

    async def stop(self, deadline_s: float = 10.0) -> None:
        """Finish the batch in hand within ``deadline_s`` (its offsets are committed),
        else abandon it uncommitted: the next owner re-reads it, the inbox absorbs it."""
        started = time.monotonic()
        await self._loop.stop(deadline_s)
        left = deadline_s - (time.monotonic() - started)
        if not self._idle.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), max(left, 0.0))
        await self._close()

    async def _close(self) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            try:
                await broker.stop()  # cancels a batch still in hand: rolled back
            except Exception:
                log.warning("kafka consumer did not stop cleanly", exc_info=True)
        self._subscriber = None

    async def _session(self) -> bool:
        """One consumer session: the broker started, kept until stop(). FastStream's
        subscriber rides out broker outages on the same consumer; a failed start (broker
        unreachable) ends the session and the loop starts a new one after a backoff."""
        self._applied.clear()
        self._settled = False
        self._broker = self.broker()
        await self._broker.start()
        self._loop.reset_backoff()  # connected: the next outage starts backing off anew
        await self._stopping.wait()
        return False

    async def _session_failed(self, exc: Exception) -> None:
        await self._close()  # the next session starts with fresh clients

    async def _sleep(self, seconds: float) -> None:
        await self._loop.sleep(seconds)

    async def _on_batch(self, message: Any) -> None:
        """The subscriber's handler: one poll's records, applied and committed.

        Nothing escapes it: FastStream would log the error and read on past the batch.
        A batch that fails outside the per-event policy (the offset commit, a dead letter
        that cannot be written) is rewound to what was not committed and read again after
        a backoff, as a new consumer session would; the inbox absorbs what was applied."""
        records: tuple[ConsumerRecord[Any, Any], ...] = message.raw_message
        if not records or self._stopping.is_set():
            self._rewind(records)
            return
        batches: dict[TopicPartition, list[ConsumerRecord[Any, Any]]] = {}
        for record in records:
            batches.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
        self._idle.clear()
        try:
            await self._handle_poll(batches)
            # One commit for everything this poll returned, after every effect is
            # committed: at-least-once without a broker round trip per partition.
            await self._commit(set(batches))
            self._failures = 0
            # The lag of the partitions still ours (a rebalance may have taken some while
            # the batch was applied; aiokafka asserts on those).
            held = self.partitions
            consumer = self._consumer
            for tp in batches if consumer is not None else ():
                if tp not in held:
                    continue
                highwater = consumer.highwater(tp)  # type: ignore[union-attr]
                if highwater is not None:
                    LAG.labels(self.service, tp.topic, str(tp.partition)).set(
                        max(highwater - (self._committed.get(tp) or 0), 0)
                    )
        except _Stopping:
            self._rewind(records)  # abandoned uncommitted on shutdown
        except Exception as exc:
            self._failures += 1
            LOOP_FAILURES.labels(f"consumer-{self.group_id}").inc()
            delay = min(1.0 * 2 ** (self._failures - 1), 15.0)
            log.warning(
                "batch of %d events failed, read again in %.1fs: %r", len(records), delay, exc
            )
            self._rewind(records)
            await self._sleep(delay)
        finally:
            self._idle.set()

    def _rewind(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        """Seek each partition of ``records`` back to its first offset not committed, so
        the subscriber reads it again instead of moving past it."""
        consumer = self._consumer
        if consumer is None:
            return
        first: dict[TopicPartition, int] = {}
        for record in records:
            first.setdefault(TopicPartition(record.topic, record.partition), record.offset)
        for tp, offset in first.items():
            resume = self._applied.pop(tp, None)  # applied but not committed: from there
            with contextlib.suppress(IllegalStateError, AssertionError, KafkaError):
                consumer.seek(tp, offset if resume is None else resume)

    async def _commit(self, partitions: set[TopicPartition]) -> None:
        """Commit the applied offsets of ``partitions`` (those still ours)."""
        consumer = self._consumer
        offsets = {tp: self._applied[tp] for tp in partitions if tp in self._applied}
        if consumer is None or not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The partitions moved to another member during a rebalance (or are no
            # longer assigned); it re-reads from the last commit and the inbox absorbs
            # the repeats. Nothing is lost.
            log.warning("offset commit refused after a rebalance: %s", type(exc).__name__)
            for tp in offsets:
                self._applied.pop(tp, None)
            return
        now = time.time()
        for tp, offset in offsets.items():
            self._committed[tp] = offset
            self._applied.pop(tp, None)
            LAST_COMMIT.labels(self.service, tp.topic, str(tp.partition)).set(now)

    # -- one record ----------------------------------------------------------------

    def _span(self, record: ConsumerRecord[Any, Any]) -> Any:
        return self._tracer.start_as_current_span(
            f"{record.topic} process",
            context=context_from_kafka_headers(record.headers),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": record.topic,
                "messaging.consumer.group.name": self.group_id,
                "messaging.kafka.offset": record.offset,
            },
        )

    async def _handle_poll(
        self, batches: Mapping[TopicPartition, list[ConsumerRecord[Any, Any]]]
    ) -> None:
        """Apply everything one poll returned, then mark every partition applied.

        The poll's partitions are split into at most ``transactions`` groups of about
        equal size, applied concurrently: while one group's transaction waits on the
        database, the next group is parsed and prepared. A partition is always in one
        group, so its events keep their order. Each group goes in ONE transaction
        (inbox rows included); if that fails, it is rolled back and each of its
        partitions is applied on its own (``_apply_parsed``: one transaction per
        partition, then one per event), so only the failing event is retried or
        dead-lettered. Groups that succeeded stay applied when another fails.
        """
        groups = _split(batches, self.transactions)
        if len(groups) == 1:
            await self._handle_group(groups[0])
            return
        outcomes = await asyncio.gather(
            *(self._handle_group(group) for group in groups), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _handle_group(
        self, batches: Mapping[TopicPartition, list[ConsumerRecord[Any, Any]]]
    ) -> None:
        parsed = {tp: await self._parse(records) for tp, records in batches.items()}
        together = [p for ps in parsed.values() for p in ps]
        if len(parsed) > 1 and len(together) > 1:
            try:
                await self._apply_batch(together)
            except Exception:
                if self._stopping.is_set():
                    raise _Stopping() from None
                log.warning(
                    "poll of %d events failed, applying its partitions one by one", len(together)
                )
            else:
                for tp, records in batches.items():
                    self._applied[tp] = records[-1].offset + 1
                return
        for tp, records in batches.items():
            await self._apply_parsed(parsed[tp])
            # Applied (its transaction committed): from here a rebalance commits it.
            self._applied[tp] = records[-1].offset + 1

    async def _handle_batch(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        """Apply a partition's batch in ONE transaction (inbox rows included).

        One commit per batch instead of per event is what makes the consumer fast; if
        any event of the batch fails, the batch is rolled back and its events are
        applied one at a time, so only the failing one is retried or dead-lettered.
        """
        await self._apply_parsed(await self._parse(records))

    async def _parse(self, records: list[ConsumerRecord[Any, Any]]) -> list[_Parsed]:
        """Parse and route a partition's records; dead-letter those that cannot be."""
        parsed: list[_Parsed] = []
        only = self.handlers.only_class(records[0].topic) if records else None
        for record in records:
            if only is not None and isinstance(record.value, bytes | bytearray):
                # The one class this topic is handled for: one pass (contracts'
                # parse_event_as); anything else is read below, which says why.
                read = parse_event_as(record.value, only[0])
                if read is not None:
                    parsed.append((record, read[0], read[1], only[1]))
                    continue
            try:
                event = CloudEvent.from_bytes(record.value)
                payload = parse_data(event)
                handler = self.handlers.handler_for(record.topic, payload)
            except (InvalidEvent, PermanentError) as exc:
                with self._span(record):
                    await self._dead_letter(record, exc, attempts=0)
                continue
            parsed.append((record, event, payload, handler))
        return parsed

    async def _apply_parsed(self, parsed: list[_Parsed]) -> None:
        if len(parsed) > 1:
            try:
                await self._apply_batch(parsed)
                return
            except Exception:
                if self._stopping.is_set():
                    raise _Stopping() from None
                log.warning("batch of %d failed, applying its events one by one", len(parsed))
        for record, event, payload, handler in parsed:
            with self._span(record):
                await self._process(record, event, payload, handler)

    async def _apply_batch(self, parsed: list[_Parsed]) -> None:
        outcomes: list[tuple[str, str]] = []
        started = time.perf_counter()
        async with self.db.transaction() as session:
            ids = [event.id for _, event, _, handler in parsed if not _idempotent(handler)]
            seen = (
                set((await session.execute(self._seen_query(), {"ids": ids})).scalars())
                if ids
                else set()
            )
            rows = []
            # Consecutive new events of one batch handler, applied together (in order).
            run: list[_Parsed] = []
            for item in parsed:
                record, event, payload, handler = item
                if event.id in seen:
                    outcomes.append((record.topic, "duplicate"))
                    continue
                if getattr(handler, "apply_many", None) is not None:
                    if run and run[-1][3] is not handler:
                        await self._apply_run(session, run)
                        run = []
                    run.append(item)
                else:
                    if run:
                        await self._apply_run(session, run)
                        run = []
                    with self._span(record):
                        await handler(session, event, payload)
                if not _idempotent(handler):
                    seen.add(event.id)
                    rows.append(
                        {"consumer": self.group_id, "event_id": event.id, "topic": record.topic}
                    )
                outcomes.append((record.topic, "processed"))
            if run:
                await self._apply_run(session, run)
            if rows:
                await self._record_inbox(session, rows)
        per_event = (time.perf_counter() - started) / len(parsed)
        # The same samples as one inc()/observe() per event, one label lookup per kind.
        for (topic, outcome), count in collections.Counter(outcomes).items():
            EVENTS.labels(self.service, topic, outcome).inc(count)
            observe_many(DURATION.labels(self.service, topic), per_event, count)

    def _seen_query(self) -> Select[str]:
        """Which of the ids ``:ids`` this consumer's inbox already holds (one query per
        batch). On PostgreSQL the ids are one array parameter joined to the inbox's
        primary key: an ``IN`` list of hundreds of parameters gets a generic plan after
        five executions, which on a young (unanalyzed) inbox is a sequential scan
        comparing every row with every id (measured 90-400 ms per batch)."""
        if self._seen_stmt is None:
            inbox = self.db.inbox
            if self.db.dialect == "postgresql":
                ids = (
                    func.unnest(bindparam("ids", type_=ARRAY(String)))
                    .table_valued("id")
                    .render_derived()
                )
                self._seen_stmt = (
                    select(inbox.c.event_id)
                    .select_from(ids)
                    .join(inbox, inbox.c.event_id == ids.c.id)
                    .where(inbox.c.consumer == self.group_id)
                )
            else:
                self._seen_stmt = select(inbox.c.event_id).where(
                    inbox.c.consumer == self.group_id,
                    inbox.c.event_id.in_(bindparam("ids", expanding=True)),
                )
        return self._seen_stmt

    async def _record_inbox(self, session: AsyncSession, rows: list[dict[str, str]]) -> None:
        """Insert a batch's inbox entries. On PostgreSQL one statement takes the ids and
        topics as two array parameters (``INSERT ... SELECT unnest(...)``): a batch of
        2,000 costs one bind instead of 6,000 parameters built in Python."""
        if self.db.dialect != "postgresql":
            await session.execute(self.db.inbox.insert(), rows)
            return
        if self._record_stmt is None:
            inbox = self.db.inbox
            new = (
                func.unnest(
                    bindparam("ids", type_=ARRAY(String)), bindparam("topics", type_=ARRAY(String))
                )
                .table_valued("event_id", "topic")
                .render_derived()
            )
            self._record_stmt = inbox.insert().from_select(
                ["consumer", "event_id", "topic", "processed_at"],
                select(
                    bindparam("consumer", type_=String),
                    new.c.event_id,
                    new.c.topic,
                    bindparam("at", type_=inbox.c.processed_at.type),
                ),
            )
        await session.execute(
            self._record_stmt,
            {
                "consumer": self.group_id,
                "ids": [r["event_id"] for r in rows],
                "topics": [r["topic"] for r in rows],
                "at": utcnow(),
            },
        )

    async def _apply_run(self, session: AsyncSession, run: list[_Parsed]) -> None:
        apply_many = run[0][3].apply_many  # type: ignore[attr-defined]
        links = []
        for record, _, _, _ in run:
            if record.headers:
                ctx = trace.get_current_span(
                    context_from_kafka_headers(record.headers)
                ).get_span_context()
                if ctx.is_valid:
                    links.append(trace.Link(ctx))
        with self._tracer.start_as_current_span(
            f"{run[0][0].topic} process",
            kind=trace.SpanKind.CONSUMER,
            links=links,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": run[0][0].topic,
                "messaging.consumer.group.name": self.group_id,
                "messaging.batch.message_count": len(run),
            },
        ):
            await apply_many(session, [(event, payload) for _, event, payload, _ in run])

    async def _process(
        self,
        record: ConsumerRecord[Any, Any],
        event: CloudEvent,
        payload: EventPayload,
        handler: Handler,
    ) -> None:
        """One event in its own transaction, with bounded retries, then dead letter."""
        topic = record.topic
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                outcome = await self._apply(handler, event, payload, topic)
                EVENTS.labels(self.service, topic, outcome).inc()
                DURATION.labels(self.service, topic).observe(time.perf_counter() - started)
                return
            except PermanentError as exc:
                await self._dead_letter(record, exc, attempts=attempt)
                return
            except Exception as exc:
                if self._stopping.is_set():
                    raise _Stopping() from exc
                if is_database_unavailable(exc):
                    delay = self._delay(attempt)
                    log.warning(
                        "database unavailable while applying %s, retry in %.1fs", topic, delay
                    )
                    await self._sleep(delay)
                    continue
                if attempt >= self.max_attempts:
                    log.exception(
                        "giving up on %s event %s after %d attempts", topic, event.id, attempt
                    )
                    await self._dead_letter(record, exc, attempts=attempt)
                    return
                EVENTS.labels(self.service, topic, "retried").inc()
                delay = self._delay(attempt)
                log.warning(
                    "applying %s event %s failed (attempt %d), retry in %.1fs: %s",
                    topic,
                    event.id,
                    attempt,
                    delay,
                    exc,
                )
                await self._sleep(delay)

    def _delay(self, attempt: int) -> float:
        return min(self.backoff_initial_s * 2 ** (attempt - 1), self.backoff_max_s)

    async def _apply(
        self, handler: Handler, event: CloudEvent, payload: EventPayload, topic: str
    ) -> str:
        inbox = self.db.inbox
        if _idempotent(handler):
            async with self.db.transaction() as session:
                await handler(session, event, payload)
            return "processed"
        try:
            async with self.db.transaction() as session:
                seen = (
                    await session.execute(
                        select(inbox.c.event_id).where(
                            inbox.c.consumer == self.group_id, inbox.c.event_id == str(event.id)
                        )
                    )
                ).first()
                if seen:
                    return "duplicate"
                await handler(session, event, payload)
                await session.execute(
                    inbox.insert().values(
                        consumer=self.group_id, event_id=str(event.id), topic=topic
                    )
                )
        except IntegrityError as exc:
            if "inbox" in str(exc.orig).lower() or "pk_inbox" in str(exc):
                return "duplicate"  # another instance applied it concurrently
            raise
        return "processed"

    async def _dead_letter(
        self, record: ConsumerRecord[Any, Any], exc: BaseException, *, attempts: int
    ) -> None:
        headers = [(k, v) for k, v in (record.headers or []) if not k.startswith("dlq.")]
        headers += [
            ("dlq.error", str(exc)[:1000].encode()),
            ("dlq.error_type", type(exc).__name__.encode()),
            ("dlq.original_topic", record.topic.encode()),
            ("dlq.original_partition", str(record.partition).encode()),
            ("dlq.original_offset", str(record.offset).encode()),
            ("dlq.consumer", self.group_id.encode()),
            ("dlq.attempts", str(attempts).encode()),
            ("dlq.failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        # Written to the service's outbox, not sent from here: the partition never waits
        # on the broker for a dead letter, and one the broker can never take (too large,
        # say) is parked by the relay with an alert instead of retried forever.
        row = {
            "event_id": str(uuid.uuid4()),
            "topic": self.dlq_topic,
            "key": record.key.decode("utf-8", "replace")[:200] if record.key else None,
            "value": record.value or b"",
            "headers": {k: v.decode("utf-8", "replace") for k, v in headers},
        }
        delay = 0.5
        while True:
            try:
                async with self.db.transaction() as session:
                    await session.execute(self.db.outbox.insert().values(**row))
                break
            except Exception as failure:
                if self._stopping.is_set():
                    raise _Stopping() from failure
                if not is_database_unavailable(failure):
                    raise
                log.warning("database unavailable writing a dead letter, retry in %.1fs", delay)
                await self._sleep(delay)
                delay = min(delay * 2, 10.0)
        EVENTS.labels(self.service, record.topic, "dead_lettered").inc()
        log.error(
            "event dead-lettered",
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "error_type": type(exc).__name__,
                "dead_letter_topic": self.dlq_topic,
            },
        )


class _CommitOnRevoke(ConsumerRebalanceListener):
    """Before partitions are taken away, commit what was applied from them, so the next
    owner does not apply it again (the inbox would absorb it, at a cost)."""

    def __init__(self, owner: EventConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.owner._settled = False
        try:
            await self.owner._commit(set(revoked))
        except Exception:  # a failed commit here only means some events are re-read
            log.warning("commit on partition revocation failed", exc_info=True)
        for tp in revoked:
            self.owner._committed.pop(tp, None)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        """Fix where the group starts on each partition it never committed on.

        A topic kept forever carries state (every version of a document), not a stream:
        the group reads it from the start, whatever ``consumer_offset_reset`` says (e.g.
        ``catalogue.published``, ADR 14). On the others the reset policy's position is
        committed at once: "latest" then means "from when the group first held the
        partition", and an event published while the partition moves between members
        (one left, the next not yet assigned) is read by the next one instead of being
        skipped because "latest" moved on (ADR 31)."""
        try:
            await self._fix_starts(assigned)
        finally:
            self.owner._settled = True

    async def _fix_starts(self, assigned: Any) -> None:
        owner = self.owner
        consumer = owner._consumer
        if consumer is None:
            return
        prefix = owner.handlers.topic_prefix
        tps = list(assigned)
        committed = await asyncio.gather(*(consumer.committed(tp) for tp in tps))
        fresh = [tp for tp, offset in zip(tps, committed, strict=True) if offset is None]
        for tp in fresh:
            spec = CATALOGUE.get(tp.topic.removeprefix(prefix))
            if spec is not None and spec.retention_ms == KEEP_FOREVER:
                await consumer.seek_to_beginning(tp)
        if not fresh:
            return
        starts = {tp: await consumer.position(tp) for tp in fresh}
        try:
            await consumer.commit(starts)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            # Another rebalance began: the next assignment pins these partitions again.
            log.warning("could not fix the group's start positions: %s", type(exc).__name__)
            return
        owner._committed.update(starts)


class _Stopping(Exception):
    """Raised inside the loop to abandon the current record on shutdown (not committed)."""


GROUP_LAG = Gauge(
    "consumer_group_lag_events",
    "Broker's view of the group's lag: end offset - committed offset, per partition; "
    "probed in the background, so it grows while the consumer is stuck or gone",
    ["service", "topic", "partition"],
)


class GroupLagProbe:
    """How far a group's committed offsets trail the partitions' ends, asked over
    long-lived connections (a new admin client and consumer per probe meant two new
    SASL/SCRAM handshakes on the event loop every 30 s); reconnects after a failure."""

    def __init__(
        self, bootstrap: str, group_id: str, service: str, *, security: KafkaSecurity = NO_SECURITY
    ) -> None:
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.service = service
        self.security = security
        self._admin: AIOKafkaAdminClient | None = None
        self._reader: AIOKafkaConsumer | None = None

    async def __call__(self) -> dict[str, int]:
        """Sets ``consumer_group_lag_events`` and returns ``{"topic/partition": lag}``."""
        try:
            return await self._probe()
        except BaseException:
            await self.close()
            raise

    async def _probe(self) -> dict[str, int]:
        options = self.security.options()
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap, request_timeout_ms=5000, **options
            )
            self._admin = admin
            await admin.start()
        committed = await self._admin.list_consumer_group_offsets(self.group_id)
        positions = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
        if not positions:
            return {}
        if self._reader is None:
            reader = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap, enable_auto_commit=False, **options
            )
            self._reader = reader
            await reader.start()
        ends = await self._reader.end_offsets(list(positions))
        lags: dict[str, int] = {}
        for tp, offset in positions.items():
            lag = max(ends.get(tp, offset) - offset, 0)
            GROUP_LAG.labels(self.service, tp.topic, str(tp.partition)).set(lag)
            lags[f"{tp.topic}/{tp.partition}"] = lag
        return lags

    async def close(self) -> None:
        admin, reader, self._admin, self._reader = self._admin, self._reader, None, None
        if admin is not None:
            await admin.close()
        if reader is not None:
            await reader.stop()


async def probe_group_lag(
    bootstrap: str, group_id: str, service: str, *, security: KafkaSecurity = NO_SECURITY
) -> dict[str, int]:
    """One probe of a group's lag (``GroupLagProbe``), its connections closed after."""
    probe = GroupLagProbe(bootstrap, group_id, service, security=security)
    try:
        return await probe()
    finally:
        await probe.close()


__all__ = [
    "BatchHandler",
    "EventConsumer",
    "EventHandlers",
    "GroupLagProbe",
    "Handler",
    "PermanentError",
    "RetryableError",
    "probe_group_lag",
]
