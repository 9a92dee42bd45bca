"""Ingestion of usage records into billing: from the ``usage.records`` topic, or (--http)
through the operator's bulk route.

    uv run python bench/usage_ingestion.py [--records 50000] [--accounts 10000] [--processes 1]
        [--transactions T] [--relay]
    uv run python bench/usage_ingestion.py --http [--records 50000] [--batch 5000]

Billing's own handler (``billing.handlers.OnUsageRecords``) behind servicekit's
``EventConsumer``, on a fresh PostgreSQL database (``TEST_POSTGRES_URL``, else the local
one) built by billing's migrations and a fresh 12-partition topic
``bench.<id>.usage.records``: receive → parse → rate at the catalogue's standard prices →
insert the records (idempotent by record id, no inbox: ADR 29) → one ``usage.rated``
outbox row a batch of records (ADR 35) → commit → offset commit. Timed from the consumer's
first offset commit (with ``--processes`` > 1: from when the group is stable) until it has
committed every record (polled every 10 ms); then the stored records are counted and must
be all. The records are produced before the consumer starts. Also printed: the CPU time
of the consumer process(es) per record, and the machine's busy share and PostgreSQL's and
the broker's CPU per record over the timed window.

--relay: each instance also runs billing's outbox relay, as the service does, publishing
``usage.rated`` to ``bench.<id>.usage.rated``; printed: how many events were still in the
outbox when the last record was committed, and how long they took to go. Without it the
events stay in the outbox (ingestion alone).

--http: billing's app (``billing.main.create_app``, lifespan included: migrations, outbox
relay, which publishes to the local broker's real ``usage.rated``) on a fresh database,
served by uvicorn over TCP in a process of its own (``--in-process``: httpx's ASGI
transport, no socket), with ``POST /v1/operator/usage`` batches of ``--batch`` records,
``--in-flight`` at a time; then the first batch again, which must add nothing (idempotent
on record id).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import platform
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from proc import Window, cpu_seconds
from sqlalchemy import func, select

from billing.deps import Deps
from billing.domain.rating import ExclusionRules
from billing.handlers import OnUsageRecords
from billing.main import MIGRATIONS_DIR
from billing.models import Base, BillingAccount, UsageRecord
from billing.service.catalogue import publish_catalogue
from billing.settings import BillingSettings
from contracts.envelope import new_event
from contracts.events.billing import UsageRatedV1, UsageRecordV1
from servicekit.consumer import EventConsumer, EventHandlers
from servicekit.db import Database
from servicekit.kafka import admin_security
from servicekit.migrations import upgrade_to_head
from servicekit.outbox import Outbox, OutboxRelay
from servicekit.testing import FakeDelegation, drop_database, fresh_database_url, use_postgres

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# The tests' own clients connect as the broker's admin (servicekit.kafka, ADR 24).
ADMIN = admin_security()
TOPIC_SUFFIX = UsageRecordV1.event_type
KINDS = ("voice", "sms", "data")
PARTITIONS = 12


def payloads(n: int, accounts: list[uuid.UUID]) -> list[UsageRecordV1]:
    start = datetime.now(UTC) - timedelta(days=2)
    out = []
    for i in range(n):
        account = accounts[i % len(accounts)]
        kind = KINDS[i % 3]
        quantity = {"voice": {"duration_s": 30 + i % 600}, "sms": {"count": 1}}.get(
            kind, {"volume_bytes": 1_000_000 + i}
        )
        payload = UsageRecordV1(
            record_id=f"bench-{uuid.uuid4().hex}",
            billing_account_id=account,
            line=f"+32470{random.randrange(10**6):06d}",
            kind=kind,
            destination="internet" if kind == "data" else "+32475123456",
            started_at=start + timedelta(seconds=i),
            **quantity,
        )
        out.append(payload)
    return out


def records(n: int, accounts: list[uuid.UUID]) -> list[tuple[bytes, bytes]]:
    return [
        (str(p.billing_account_id).encode(), new_event(p, source="/network/bench").to_bytes())
        for p in payloads(n, accounts)
    ]


async def produce(topic: str, items: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, **ADMIN.options(), linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=v, key=k) for k, v in items]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def _deps(db: Database, url: str) -> Deps:
    return Deps(
        settings=BillingSettings(database_url=url),
        outbox=Outbox(db, source="/services/billing"),
        delegation=FakeDelegation(),
        rules=ExclusionRules(),
    )


def _consumer(db: Database, deps: Deps, prefix: str, group: str, tx: int) -> EventConsumer:
    return EventConsumer(
        db,
        service="billing",
        group_id=group,
        bootstrap=BOOTSTRAP,
        security=ADMIN,
        handlers=EventHandlers({UsageRecordV1: OnUsageRecords(deps)}, topic_prefix=prefix),
        transactions=tx,
    )


def _relay(db: Database, prefix: str) -> OutboxRelay:
    """Billing's outbox relay, publishing ``usage.rated`` to the benchmark's own topic."""
    return OutboxRelay(
        db, service="billing", bootstrap=BOOTSTRAP, security=ADMIN, topic_prefix=prefix
    )


async def consume(
    db: Database, deps: Deps, prefix: str, group: str, n: int, tx: int, relay: bool
) -> tuple[float, float]:
    """Consume ``n`` records in this process (with the outbox relay if ``relay``):
    (seconds from the first commit to the last, CPU seconds of this process from the
    consumer's start)."""
    consumer = _consumer(db, deps, prefix, group, tx)
    relays = [_relay(db, prefix)] if relay else []
    started, cpu = time.perf_counter(), time.process_time()
    for r in relays:
        await r.start()
    await consumer.start()
    # Progress from the consumer's committed offsets (the topic is new: offsets start at
    # 0): a record counts once its batch's transaction and offset commit are done, with
    # no count(*) on the growing table competing for the database.
    count, first_at, window = 0, None, Window()
    while count < n:
        await asyncio.sleep(0.01)
        count = sum(consumer.committed.values())
        if count and first_at is None:
            first_at, window = time.perf_counter(), Window()
    elapsed = time.perf_counter() - (first_at or started)
    cpu = time.process_time() - cpu
    print(f"from the first commit: {window.report(n)}")
    if relays:
        await drained(db, elapsed)
    await consumer.stop()
    for r in relays:
        await r.stop()
    return elapsed, cpu


async def drained(db: Database, elapsed: float) -> None:
    """With the relay: how many ``usage.rated`` rows were still waiting when the last
    record was committed, and how long they took to go (a relay that keeps up leaves about
    one pass's worth)."""

    async def waiting() -> int:
        async with db.sessions() as s:
            return (await s.execute(select(func.count()).select_from(db.outbox))).scalar() or 0

    at_end, since = await waiting(), time.perf_counter()
    left = at_end
    while left:
        await asyncio.sleep(0.05)
        left = await waiting()
    took = time.perf_counter() - since
    print(
        f"usage.rated: {at_end} events still in the outbox when the last record was "
        f"committed, published {took:.2f} s later (ingestion took {elapsed:.2f} s)"
    )


def _instance(url: str, prefix: str, group: str, tx: int, relay: bool, shared: Any) -> None:
    """One billing instance (a process of its own) in the group: its committed offsets
    written to ``shared`` (one slot per partition) and the number of partitions it holds
    (the last slot) until the parent sets the slot before that; then its CPU time into
    the slot before that one."""

    async def run() -> None:
        db = Database(url, Base.metadata)
        consumer = _consumer(db, _deps(db, url), prefix, group, tx)
        relays = [_relay(db, prefix)] if relay else []  # one at a time publishes (a lock)
        gc.collect()
        gc.freeze()
        cpu = time.process_time()
        for r in relays:
            await r.start()
        await consumer.start()
        while not shared[PARTITIONS + 1]:
            await asyncio.sleep(0.01)
            for tp, offset in consumer.committed.items():
                shared[tp.partition] = offset
            shared[PARTITIONS + 2] = len(consumer.partitions)
        shared[PARTITIONS] = int((time.process_time() - cpu) * 1e6)
        await consumer.stop()
        for r in relays:
            await r.stop()
        await db.dispose()

    asyncio.run(run())


async def _drained_at(url: str, elapsed: float) -> None:
    db = Database(url, Base.metadata)
    try:
        await drained(db, elapsed)
    finally:
        await db.dispose()


def run_instances(
    url: str, prefix: str, group: str, n: int, processes: int, tx: int, relay: bool
) -> tuple[float, float]:
    """Consume ``n`` records in ``processes`` billing instances (processes) of one group."""
    ctx = multiprocessing.get_context("spawn")
    slots = [ctx.Array("q", PARTITIONS + 3, lock=False) for _ in range(processes)]
    workers = [
        ctx.Process(target=_instance, args=(url, prefix, group, tx, relay, s)) for s in slots
    ]
    for worker in workers:
        worker.start()
    try:
        # Timed once every instance holds partitions and all are held (the group is
        # stable: the rebalances of instances joining one after the other are not the
        # steady state), over the records committed from then on. A partition that
        # moved is in its old owner's slots too: the highest offset counts.
        count, stable_at, at_stable = 0, None, 0
        while count < n:
            time.sleep(0.01)
            count = sum(max(slot[p] for slot in slots) for p in range(PARTITIONS))
            held = [slot[PARTITIONS + 2] for slot in slots]
            if stable_at is None and all(held) and sum(held) == PARTITIONS:
                stable_at, at_stable, window = time.perf_counter(), count, Window()
        assert stable_at is not None and at_stable < n, "the group was stable only at the end"
        elapsed = (time.perf_counter() - stable_at) * n / (n - at_stable)
        print(f"group stable after {at_stable} records; timed over the other {n - at_stable}")
        print(f"over that time: {window.report(n - at_stable)}")
        if relay:  # called from main's event loop: the wait runs on a loop of its own
            with ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, _drained_at(url, elapsed)).result()
    finally:
        for slot in slots:
            slot[PARTITIONS + 1] = 1
        for worker in workers:
            worker.join(60)
    return elapsed, sum(slot[PARTITIONS] for slot in slots) / 1e6


async def main(
    n: int, n_accounts: int, transactions: int = 2, processes: int = 1, relay: bool = False
) -> None:
    prefix = f"bench.{uuid.uuid4().hex[:8]}."
    topic = prefix + TOPIC_SUFFIX
    rated = prefix + UsageRatedV1.event_type
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, **ADMIN.options())
    await admin.start()
    await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in (topic, rated)])
    url = await fresh_database_url("bench_usage")
    db = Database(url, Base.metadata)
    try:
        # The schema as the service builds it at start-up (its migrations).
        await asyncio.to_thread(upgrade_to_head, url, MIGRATIONS_DIR)
        accounts = [uuid.uuid4() for _ in range(n_accounts)]
        deps = _deps(db, url)
        async with db.transaction() as session:
            for a in accounts:
                session.add(
                    BillingAccount(
                        id=a, customer_id=uuid.uuid4(), kind="mobile", name="bench", status="active"
                    )
                )
            await publish_catalogue(session, deps)
        items = records(n, accounts)
        await produce(topic, items)
        print(f"produced {n} records on {topic}")
        del items
        # As the service does once started (servicekit.app's lifespan; --http runs it).
        gc.collect()
        gc.freeze()

        group = f"bench-{uuid.uuid4().hex}"
        if processes > 1:
            elapsed, cpu = run_instances(url, prefix, group, n, processes, transactions, relay)
        else:
            elapsed, cpu = await consume(db, deps, prefix, group, n, transactions, relay)
        async with db.sessions() as s:
            stored = (await s.execute(select(func.count()).select_from(UsageRecord))).scalar()
        assert stored == n, f"{stored} records stored of {n}"
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        python = platform.python_version()
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {python}")
        rate = f"{processes} instance(s), {transactions} transaction(s) a poll"
        rate += ", with the outbox relay: " if relay else ": "
        rate += f"{n} records in {elapsed:.2f} s = {n / elapsed:,.0f} records/s"
        rate += f"; CPU of the consumer process(es) {cpu:.2f} s = {cpu / n * 1e6:.0f} us/record"
        print(f"usage.records -> billing (postgres): {rate}")
    finally:
        await db.dispose()
        await drop_database(url)
        await admin.delete_topics([topic, rated])
        await admin.close()


def _http_settings(url: str, port: int = 0) -> BillingSettings:
    return BillingSettings(
        database_url=url,
        environment="test",
        host="127.0.0.1",
        port=port or 8003,
        consumer_enabled=False,
        billing_worker_enabled=False,
        billing_schedule_enabled=False,
        retention_enabled=False,
    )


def _http_app(url: str, jwks: dict[str, Any], port: int = 0) -> Any:
    from billing.main import create_app
    from servicekit.auth import TokenVerifier

    async def keys() -> dict[str, Any]:
        return jwks

    return create_app(
        _http_settings(url, port),
        verifier=TokenVerifier(
            keys, issuer="portal-identity", audience="portal", service="billing"
        ),
        delegation=FakeDelegation(),
    )


def _serve(url: str, jwks: dict[str, Any], port: int) -> None:
    """Billing as the service runs it (servicekit.app.serve: uvicorn, one process)."""
    from servicekit.app import serve

    serve(lambda: _http_app(url, jwks, port), _http_settings(url, port))


async def http_main(n: int, n_accounts: int, batch: int, in_process: bool, in_flight: int) -> None:
    import httpx

    from servicekit.testing import TokenFactory, running

    url = await fresh_database_url("bench_usage_http")
    tokens = TokenFactory()
    operator = tokens.headers(uuid.uuid4(), kind="operator")
    server = None
    try:
        if in_process:
            app = _http_app(url, tokens.jwks)
            client_cm: Any = running(app)
        else:
            port = 19_593
            server = multiprocessing.get_context("spawn").Process(
                target=_serve, args=(url, tokens.jwks, port)
            )
            server.start()
            client_cm = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60)
        async with client_cm as client:
            deadline = time.monotonic() + 60
            while not in_process:  # migrations run at start-up
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "billing did not start"
                await asyncio.sleep(0.2)
            db = Database(url, Base.metadata)
            accounts = [uuid.uuid4() for _ in range(n_accounts)]
            async with db.transaction() as session:
                for a in accounts:
                    account = BillingAccount(id=a, customer_id=uuid.uuid4(), kind="mobile")
                    session.add(account)
                    account.name, account.status = "bench", "active"
            bodies = []
            items = [p.model_dump(mode="json") for p in payloads(n, accounts)]
            for i in range(0, n, batch):
                bodies.append(json.dumps({"records": items[i : i + batch]}).encode())
            headers = {**operator, "content-type": "application/json"}
            pending = list(bodies)
            accepted = 0

            async def sender() -> None:
                nonlocal accepted
                while pending:
                    body = pending.pop(0)
                    r = await client.post("/v1/operator/usage", content=body, headers=headers)
                    assert r.status_code == 202, r.text
                    accepted += r.json()["accepted"]

            pid = server.pid if server is not None and server.pid else os.getpid()
            started, cpu = time.perf_counter(), cpu_seconds([pid])
            await asyncio.gather(*(sender() for _ in range(in_flight)))
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds([pid]) - cpu
            again = await client.post("/v1/operator/usage", content=bodies[0], headers=headers)
            async with db.sessions() as s:
                stored = (await s.execute(select(func.count()).select_from(UsageRecord))).scalar()
            await db.dispose()
            print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            python = platform.python_version()
            print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {python}")
            how = "in-process ASGI" if in_process else "uvicorn over TCP"
            rate = f"{n} records in {elapsed:.2f} s = {n / elapsed:,.0f} records/s"
            rate += f"; CPU of billing's process {cpu:.2f} s = {cpu / n * 1e6:.0f} us/record"
            print(
                f"POST /v1/operator/usage x{len(bodies)} of {batch}, {in_flight} in flight, "
                f"{how} (postgres): {rate}"
            )
            print(f"accepted {accepted}, stored {stored}; the first batch again: {again.json()}")
            assert accepted == stored == n, "every record accepted and stored once"
            assert again.json()["accepted"] == 0
    finally:
        if server is not None:
            server.terminate()  # SIGTERM: the service stops gracefully
            server.join(30)
        await drop_database(url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    default = BillingSettings.model_fields["consumer_transactions"].default
    parser.add_argument(
        "--transactions", type=int, default=default, help="concurrent per poll (billing's default)"
    )
    parser.add_argument("--processes", type=int, default=1, help="billing instances, one group")
    parser.add_argument(
        "--relay",
        action="store_true",
        help="run billing's outbox relay in each instance, publishing usage.rated as it goes",
    )
    parser.add_argument("--http", action="store_true", help="the bulk route, not the topic")
    parser.add_argument("--batch", type=int, default=5_000, help="records per request (--http)")
    parser.add_argument("--in-flight", type=int, default=2, help="requests at once (--http)")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="--http through httpx's ASGI transport in this process, not uvicorn over TCP",
    )
    args = parser.parse_args()
    if args.http:
        use_postgres()
        asyncio.run(
            http_main(args.records, args.accounts, args.batch, args.in_process, args.in_flight)
        )
    else:
        use_postgres()
        asyncio.run(
            main(args.records, args.accounts, args.transactions, args.processes, args.relay)
        )
