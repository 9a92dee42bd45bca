"""Create the catalogue's topics with their declared partition counts and retention.

``portal-topics ensure`` (or ``python -m servicekit.topics ensure``) is idempotent and is
run at deploy time as the broker's admin (``KAFKA_ADMIN_USERNAME`` / ``KAFKA_ADMIN_PASSWORD``),
before the services start: a topic created implicitly by a client
would get the broker default partition count, not the one the catalogue declares.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts.topics import CATALOGUE
from servicekit.kafka import KafkaSecurity, admin_security


def durability_configs(replication_factor: int) -> dict[str, str]:
    """With three replicas, a write (acks=all, as the relay sends) is acknowledged once two
    hold it: one broker may fail without losing an acknowledged event or stopping writes.
    A single-broker development cluster has nothing to require."""
    if replication_factor >= 3:
        return {"min.insync.replicas": "2"}
    return {}


async def ensure_topics(
    bootstrap: str, *, replication_factor: int = 1, security: KafkaSecurity | None = None
) -> list[str]:
    """Creates the missing topics as the broker's admin (``KAFKA_ADMIN_*`` by default)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=10000,
        **(security or admin_security()).options(),
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for name, spec in CATALOGUE.items() if name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(
                        name=spec.name,
                        num_partitions=spec.partitions,
                        replication_factor=replication_factor,
                        topic_configs={**spec.configs, **durability_configs(replication_factor)},
                    )
                    for spec in missing
                ]
            )
        return [spec.name for spec in missing]
    finally:
        await admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="portal-topics")
    parser.add_argument("command", choices=["ensure", "list"])
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    parser.add_argument(
        "--replication-factor",
        type=int,
        default=int(os.environ.get("KAFKA_REPLICATION_FACTOR", "1")),
    )
    args = parser.parse_args(argv)
    if args.command == "list":
        for spec in CATALOGUE.values():
            print(f"{spec.name}\tpartitions={spec.partitions}\tretention_ms={spec.retention_ms}")
        return 0
    created = asyncio.run(ensure_topics(args.bootstrap, replication_factor=args.replication_factor))
    print(
        f"topics: {len(CATALOGUE)} declared, {len(created)} created"
        + (f" ({', '.join(created)})" if created else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
