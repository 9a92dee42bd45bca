"""The cross-customer matrix: every route of every service's OpenAPI document, called with
the token of ANOTHER customer's access owner on ids that belong to the first customer,
is refused (403 or 404) and writes or publishes nothing about either customer.

The routes come from each running service's ``/openapi.json``: a new route is covered
without editing this test. Path parameters are filled with the first customer's ids by
name (``customer_id``, ``billing_account_id``, ``invoice_id``, ``sim_id``, ``user_id``,
``assignment_id``, ``registration_id``; any other id is a fresh UUID, any other text a
word). The exceptions are rules, not a list of routes; each is named where it applies.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from portal_client import Portal, Sinks, last_month, run_billing, set_up_account, usage_records
from stack import SERVICES

from contracts.topics import CATALOGUE
from servicekit.kafka import admin_security

# Starting six services, two customers and a billing run outlast the default 300 s on a
# shared, loaded machine.
pytestmark = pytest.mark.timeout(1500)

REFUSED = {403, 404}
METHODS = ("get", "post", "put", "patch", "delete")
# Tables (and topics) that change by design on any request, the caller's or not: the audit
# trail records refusals (issue 6, item 11), and consumers' bookkeeping of events in flight.
# The outbox is not compared as a table (rows leave once published): what was published is
# read back from the topics instead.
BOOKKEEPING = re.compile(
    r"^(audit.*|customer_audit.*|inbox.*|dead_letter.*|dlq\..*|alembic_version|outbox.*)$"
)
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# The tests' own clients connect as the broker's admin (servicekit.kafka, ADR 24).
ADMIN = admin_security()


@pytest.fixture(scope="module")
def world(portal: Portal, sinks: Sinks) -> dict[str, Any]:
    """Customer A with a billing account, a SIM, an invoice; B's access owner."""
    owner = portal.onboard(sinks)
    stranger = portal.onboard(sinks)
    acct = set_up_account(portal, sinks, owner, alerts=["email"])
    period = last_month()
    portal.billing.post(
        "/v1/operator/usage",
        headers=portal.operator(),
        json={"records": usage_records(acct["account_id"], acct["msisdn"], period)[:1]},
    )
    run_billing(portal, period, [acct["account_id"]])
    [invoice] = portal.billing.get(
        f"/v1/billing-accounts/{acct['account_id']}/invoices", headers=owner["headers"]
    ).json()["items"]
    [assignment] = portal.delegation.get(
        f"/v1/customers/{owner['customer_id']}/assignments",
        headers=owner["headers"],
        params={"user_id": owner["user_id"]},
    ).json()["items"]
    ids = {
        "customer_id": owner["customer_id"],
        "billing_account_id": acct["account_id"],
        "invoice_id": invoice["invoice_id"],
        "sim_id": acct["sim_id"],
        "user_id": owner["user_id"],
        "assignment_id": assignment["assignment_id"],
        "registration_id": owner["registration_id"],
    }
    return {"ids": ids, "stranger": stranger, "owner": owner}


def routes(portal: Portal) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for service in SERVICES:
        document = portal.http[service].get("/openapi.json").json()
        for path, item in document["paths"].items():
            for method in METHODS:
                if method in item:
                    yield service, method, path, item[method]


def _value(name: str, schema: dict[str, Any], ids: dict[str, str]) -> str:
    """A's id for a known name; else the first allowed value, a fresh UUID, or a word."""
    if name in ids:
        return ids[name]
    for option in [schema, *schema.get("anyOf", [])]:
        if option.get("enum"):
            return str(option["enum"][0])
        if option.get("format") == "uuid":
            return str(uuid.uuid4())
    return "DATA_5GB"


def fill(path: str, operation: dict[str, Any], ids: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The path with its parameters filled, and the required query parameters."""
    query: dict[str, str] = {}
    for param in operation.get("parameters", []):
        name, schema = param["name"], param.get("schema", {})
        if param["in"] == "path":
            path = path.replace("{" + name + "}", _value(name, schema, ids))
        elif param["in"] == "query" and param.get("required"):
            query[name] = _value(name, schema, ids)
    return path, query


def _patterns(world: dict[str, Any]) -> list[str]:
    """Every id of customer A and of B's caller: rows and events naming none of them are
    other flows (earlier tests on the same stack, retries still due) and are left out."""
    stranger = world["stranger"]
    ids = [*world["ids"].values(), stranger["customer_id"], stranger["user_id"]]
    return [f"%{i}%" for i in ids]


def snapshot(stack: Any, patterns: list[str]) -> dict[str, str]:
    """Per service database and table, a digest of the rows that name A or B."""
    import asyncpg

    async def take() -> dict[str, str]:
        out: dict[str, str] = {}
        for service in SERVICES:
            url = stack.service_env[service][f"{service.upper()}_DATABASE_URL"]
            conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
            try:
                tables = [
                    r["tablename"]
                    for r in await conn.fetch(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    )
                ]
                for table in sorted(t for t in tables if not BOOKKEEPING.match(t)):
                    query = (
                        f"SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), ''))"
                        f' FROM "{table}" t WHERE t::text LIKE ANY($1::text[])'
                    )
                    out[f"{service}.{table}"] = str(await conn.fetchval(query, patterns))
            finally:
                await conn.close()
        return out

    return asyncio.run(take())


async def _drained(stack: Any) -> bool:
    """Every service's outbox is empty and every consumer group of the stack has committed
    up to the end of every partition it reads: no event is on its way anywhere."""
    import asyncpg

    for service in SERVICES:
        url = stack.service_env[service][f"{service.upper()}_DATABASE_URL"]
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            if await conn.fetchval("SELECT count(*) FROM outbox"):
                return False
        finally:
            await conn.close()
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, **ADMIN.options())
    reader = _reader()
    await admin.start()
    await reader.start()
    try:
        for service in SERVICES:
            group = stack.service_env[service][f"{service.upper()}_CONSUMER_GROUP"]
            committed = await admin.list_consumer_group_offsets(group)
            if not committed:
                continue
            ends = await reader.end_offsets(list(committed))
            if any(meta.offset >= 0 and meta.offset < ends[tp] for tp, meta in committed.items()):
                return False
        return True
    finally:
        await reader.stop()
        await admin.close()


def settled(stack: Any, patterns: list[str], quiet_rounds: int = 3) -> dict[str, str]:
    """Wait until the onboarding's events have worked through every consumer: nothing in
    any outbox, every consumer group at the end of its partitions, and the same snapshot,
    ``quiet_rounds`` times in a row. (A snapshot that merely stays the same proves
    nothing: a consumer backing off after the fault tests is quiet too.)"""
    previous, same = snapshot(stack, patterns), 0
    for _ in range(240):
        time.sleep(0.5)
        drained = asyncio.run(_drained(stack))
        current = snapshot(stack, patterns)
        same = same + 1 if drained and current == previous else 0
        if same >= quiet_rounds:
            return current
        previous = current
    raise AssertionError("the system never settled")


def _reader() -> AIOKafkaConsumer:
    # A throw-away group: aiokafka 0.14's group-less consumer raises CancelledError on stop.
    return AIOKafkaConsumer(
        bootstrap_servers=BOOTSTRAP,
        **ADMIN.options(),
        group_id=f"e2e-matrix-{uuid.uuid4().hex}",
        enable_auto_commit=False,
    )


async def _end_offsets() -> dict[TopicPartition, int]:
    consumer = _reader()
    await consumer.start()
    try:
        existing = await consumer.topics()  # also loads every topic's partitions
        partitions = [
            TopicPartition(topic, p)
            for topic in CATALOGUE
            if topic in existing
            for p in (consumer.partitions_for_topic(topic) or set())
        ]
        consumer.assign(partitions)
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def _published_since(start: dict[TopicPartition, int], needles: list[str]) -> list[str]:
    """Events written to any topic after ``start`` that name A or B (audit excepted)."""
    found: list[str] = []
    consumer = _reader()
    await consumer.start()
    try:
        partitions = [tp for tp in start if not BOOKKEEPING.match(tp.topic)]
        consumer.assign(partitions)
        end = await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, start[tp])
        pending = {tp for tp in partitions if end[tp] > start[tp]}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    text = (record.value or b"").decode("utf-8", "replace")
                    found += [f"{tp.topic}: {n}" for n in needles if n in text]
                if records and records[-1].offset + 1 >= end[tp]:
                    pending.discard(tp)
            if not batches:
                break
    finally:
        await consumer.stop()
    return found


def allowed_exception(
    service: str, method: str, path: str, op: dict[str, Any], status: int
) -> bool:
    """The rules under which an answer other than 403/404 reveals and changes nothing."""
    params = [p for p in op.get("parameters", []) if p["in"] == "path"]
    # Rule 1: a route with a required body validates it before anything else (delegation's
    # dependencies declare the body, see its api/auth.py); an empty body is a 422 that
    # reads no customer data. Writes are still checked below.
    if status == 422 and op.get("requestBody", {}).get("required"):
        return True
    # Rule 2: a route without path parameters names no object of customer A: it answers
    # for the caller's own customer (e.g. /v1/me) or for nobody (public catalogue,
    # registration, token). Its answer is checked for A's ids instead.
    if not params:
        return True
    # Rule 3: a route that authenticates by signature, not bearer token (the bank's
    # callback), refuses a bearer caller with 401 before it reads anything.
    return status == 401 and "callback" in path


def test_another_customers_owner_is_refused_on_every_route_and_writes_nothing(
    stack: Any, portal: Portal, world: dict[str, Any]
) -> None:
    ids, stranger = world["ids"], world["stranger"]
    patterns = _patterns(world)
    before = settled(stack, patterns)
    offsets = asyncio.run(_end_offsets())
    seen, wrong = 0, []
    for service, method, path, op in routes(portal):
        url, query = fill(path, op, ids)
        kwargs: dict[str, Any] = {"headers": stranger["headers"], "params": query}
        if method in ("post", "put", "patch"):
            kwargs["json"] = {}
        resp = portal.http[service].request(method.upper(), url, **kwargs)
        for _ in range(3):
            # 503 is "try again" (an overloaded peer, fail closed): ask again for the answer.
            if resp.status_code != 503:
                break
            resp = portal.http[service].request(method.upper(), url, **kwargs)
        seen += 1
        # An id the caller sent may come back (a problem's ``instance`` is the path);
        # any other of A's ids in the answer is a leak.
        leaked = [name for name, value in ids.items() if value in resp.text and value not in url]
        if resp.status_code in REFUSED:
            continue
        if allowed_exception(service, method, path, op, resp.status_code) and not leaked:
            continue
        wrong.append((service, method.upper(), path, resp.status_code, leaked))
    time.sleep(2)  # anything a refused request set off has had time to be written
    after = snapshot(stack, patterns)
    published = asyncio.run(_published_since(offsets, [p.strip("%") for p in patterns]))
    assert seen > 60  # the six documents were read
    assert wrong == [], "\n".join(map(str, wrong))
    changed = {
        k: (before.get(k), after.get(k))
        for k in before.keys() | after.keys()
        if before.get(k) != after.get(k)
    }
    assert changed == {}
    assert published == [], published
