"""Inspect and replay a service's dead-letter topic.

    portal-dlq list   --service notifier
    portal-dlq replay --service notifier [--max 100]

Both run as the broker's admin (``KAFKA_ADMIN_USERNAME`` / ``KAFKA_ADMIN_PASSWORD``, see
``servicekit.kafka``). Replay puts each dead letter back on its original topic with its
original key and headers (the ``dlq.*`` diagnostics removed) and commits its position in
the dead-letter topic, so each letter is replayed once. The consumer's inbox makes a replay
of an event that did apply in the meantime harmless.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from contracts.topics import dead_letter_topic
from servicekit.kafka import KafkaSecurity, admin_security
from servicekit.outbox import kafka_producer

Record: TypeAlias = "ConsumerRecord[Any, Any]"


async def _read(
    service: str,
    bootstrap: str,
    *,
    group: str | None,
    max_records: int,
    security: KafkaSecurity,
    idle_s: float = 3.0,
) -> tuple[AIOKafkaConsumer, list[Record]]:
    consumer = AIOKafkaConsumer(
        dead_letter_topic(service),
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **security.options(),
    )
    await consumer.start()
    records: list[Record] = []
    while len(records) < max_records:
        batch = await consumer.getmany(
            timeout_ms=int(idle_s * 1000), max_records=max_records - len(records)
        )
        if not batch:
            break
        for recs in batch.values():
            records.extend(recs)
    return consumer, records


def _describe(record: Record) -> dict[str, object]:
    headers = {k: v.decode(errors="replace") for k, v in record.headers or []}
    return {
        "partition": record.partition,
        "offset": record.offset,
        "original_topic": headers.get("dlq.original_topic"),
        "error_type": headers.get("dlq.error_type"),
        "error": headers.get("dlq.error"),
        "attempts": headers.get("dlq.attempts"),
        "failed_at": headers.get("dlq.failed_at"),
    }


async def list_dead_letters(
    service: str, bootstrap: str, max_records: int = 1000, *, security: KafkaSecurity | None = None
) -> list[dict[str, object]]:
    consumer, records = await _read(
        service,
        bootstrap,
        group=None,
        max_records=max_records,
        security=security or admin_security(),
    )
    await consumer.stop()
    return [_describe(r) for r in records]


async def replay(
    service: str,
    bootstrap: str,
    max_records: int = 10_000,
    *,
    group: str | None = None,
    security: KafkaSecurity | None = None,
) -> int:
    """An operator's action, as the broker's admin by default (``KAFKA_ADMIN_*``): it puts
    letters back on topics that other services own, which no service principal may write."""
    security = security or admin_security()
    consumer, records = await _read(
        service,
        bootstrap,
        group=group or f"dlq-replay-{service}",
        max_records=max_records,
        security=security,
    )
    producer = kafka_producer(bootstrap, client_id=f"{service}-dlq-replay", security=security)
    await producer.start()
    try:
        for record in records:
            headers = [(k, v) for k, v in record.headers or [] if not k.startswith("dlq.")]
            original = dict(record.headers or []).get("dlq.original_topic")
            if not original:
                continue
            await producer.send_and_wait(
                original.decode(),
                value=record.value,
                key=record.key,
                headers=[*headers, ("dlq.replayed", b"1")],
            )
        if records:
            offsets: dict[TopicPartition, int] = {}
            for r in records:
                tp = TopicPartition(r.topic, r.partition)
                offsets[tp] = max(offsets.get(tp, 0), r.offset + 1)
            await consumer.commit(offsets)
    finally:
        await producer.stop()
        await consumer.stop()
    return len(records)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="portal-dlq")
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("--service", required=True)
    parser.add_argument("--max", type=int, default=1000)
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    args = parser.parse_args(argv)
    if args.command == "list":
        for item in asyncio.run(list_dead_letters(args.service, args.bootstrap, args.max)):
            print(json.dumps(item))
        return 0
    n = asyncio.run(replay(args.service, args.bootstrap, args.max))
    print(f"replayed {n} dead letter(s) of {args.service}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
