"""Every instance reads a topic in full, without a consumer group: for caches.

A consumer group shares a topic's partitions among a service's instances, so each event
reaches one of them. A cache that must forget what an event changed needs the event on
every instance (and in every worker process): ``BroadcastReader`` reads all partitions
of its topic from the end, as it is when the instance starts, commits nothing and applies
nothing to the database; it only calls ``on_event`` (which must not block). When it
(re)starts reading, ``on_reset`` lets the cache forget everything; while it cannot
read, the caches' own age limit is what bounds staleness. See ADR 0022.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer
from prometheus_client import Counter

from contracts.base import EventPayload
from contracts.envelope import CloudEvent, parse_data
from servicekit.kafka import NO_SECURITY, KafkaSecurity
from servicekit.loop import BackgroundLoop

log = logging.getLogger(__name__)

BROADCAST_EVENTS = Counter(
    "broadcast_events_total", "Events read by an instance's broadcast reader", ["service", "topic"]
)


class BroadcastReader:
    def __init__(
        self,
        *,
        service: str,
        topic: str,
        bootstrap: str,
        on_event: Callable[[EventPayload], None],
        on_reset: Callable[[], None] | None = None,
        fetch_max_wait_ms: int = 50,
        security: KafkaSecurity = NO_SECURITY,
    ) -> None:
        self.service = service
        self.security = security
        self.topic = topic
        self.bootstrap = bootstrap
        self.on_event = on_event
        self.on_reset = on_reset
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.ready = asyncio.Event()  # set once the reader holds its partitions
        self._stopping = asyncio.Event()
        self._loop = BackgroundLoop(
            f"broadcast-{topic}",
            self._run,
            interval_s=0.0,
            backoff_initial_s=0.5,
            backoff_max_s=5.0,
        )

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        self._stopping.set()
        await self._loop.stop(2.0)

    async def _run(self) -> bool:
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id=None,  # every instance gets every partition
            client_id=f"{self.service}-broadcast",
            enable_auto_commit=False,
            auto_offset_reset="latest",
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            **self.security.options(),
        )
        await consumer.start()
        try:
            while not consumer.assignment() and not self._stopping.is_set():
                await consumer.getmany(timeout_ms=100)  # lets the metadata arrive
            for tp in consumer.assignment():
                await consumer.position(tp)  # "the end" fixed now: later events are seen
            # What was published while this reader was not reading (start-up, a broker
            # outage) is unknown, so the caches forget everything.
            if self.on_reset is not None:
                self.on_reset()
            self.ready.set()
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    for record in records:
                        self._deliver(record.value)
        finally:
            await consumer.stop()
        return False

    def _deliver(self, raw: Any) -> None:
        try:
            payload = parse_data(CloudEvent.from_bytes(raw))
        except Exception:  # a version we do not know: nothing to forget from it
            log.warning("broadcast reader skipped an unreadable event", extra={"topic": self.topic})
            return
        BROADCAST_EVENTS.labels(self.service, self.topic).inc()
        try:
            self.on_event(payload)
        except Exception:
            log.exception("broadcast handler failed")
