"""The customers' audit trails on real PostgreSQL and Kafka: what every service records on
audit.recorded is chained once per customer, served to the access owner only, and cannot
be edited without ``portal-audit verify`` naming the link."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from contracts.envelope import CLOUDEVENTS_JSON, CloudEvent, new_event
from contracts.events.audit import AuditAction, AuditActorV1, AuditRecordedV1
from identity import audit_cli
from identity.models import CustomerAuditEvent
from identity.service import audit_trail
from servicekit.kafka import admin_security, bootstrap_from_env

from .conftest import Stack, StackFactory
from .factories import (
    INVITEE_PASSWORD,
    admin_of_new_customer,
    confirmed_invitee,
    register_and_accept,
    service_token,
)

pytestmark = pytest.mark.integration

TOPIC = "audit.recorded"
AT = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def recorded(customer_id: uuid.UUID | str, **over: Any) -> AuditRecordedV1:
    values: dict[str, Any] = {
        "audit_id": uuid.uuid4(),
        "customer_id": customer_id,
        "source": "delegation",
        "actor": AuditActorV1(kind="user", id=str(uuid.uuid4())),
        "action": AuditAction.ASSIGNMENT_GRANTED,
        "target": {"assignment_id": str(uuid.uuid4())},
        "details": {"profile": "portal_user"},
        "occurred_at": AT,
    }
    values.update(over)
    return AuditRecordedV1(**values)


async def trail(stack: Stack, customer_id: uuid.UUID | str) -> list[CustomerAuditEvent]:
    async with stack.db.sessions() as session:
        stmt = (
            select(CustomerAuditEvent)
            .where(CustomerAuditEvent.customer_id == uuid.UUID(str(customer_id)))
            .order_by(CustomerAuditEvent.seq)
        )
        return list(await session.scalars(stmt))


async def until(probe: Callable[[], Awaitable[bool]], what: str, within_s: float = 20) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await probe():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def group_at_end(bootstrap: str, group: str) -> None:
    """Commit the topic's end offsets for a new group, so identity's consumer reads what
    this test publishes and none of the backlog other tests left on the shared broker."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, **admin_security().options()
    )
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(TOPIC, p) for p in consumer.partitions_for_topic(TOPIC) or []]
        assert tps, f"{TOPIC} does not exist: run `portal-topics ensure`"
        consumer.assign(tps)
        await consumer.commit(dict((await consumer.end_offsets(tps)).items()))
    finally:
        await consumer.stop()


async def send(bootstrap: str, events: list[CloudEvent], key: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, **admin_security().options()
    )
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                TOPIC,
                value=event.to_bytes(),
                key=key.encode(),
                headers=[("content-type", CLOUDEVENTS_JSON.encode())],
            )
    finally:
        await producer.stop()


async def test_recorded_events_reach_the_chain_once_even_when_delivered_twice(
    make_stack: StackFactory,
) -> None:
    group = f"identity-audit-it-{uuid.uuid4().hex[:8]}"
    bootstrap = bootstrap_from_env()  # the broker the stack uses, not always 9092
    await group_at_end(bootstrap, group)
    stack = await make_stack(relay_enabled=True, consumer_enabled=True, consumer_group=group)

    # Identity's own record, through its outbox, the broker and its consumer.
    _, created = await register_and_accept(stack)
    customer = created["customer_id"]

    async def accepted_is_chained() -> bool:
        return len(await trail(stack, customer)) == 1

    await until(accepted_is_chained, "the accepted registration in the trail")

    # Another service's record, delivered twice, then re-sent under a new envelope.
    grant = recorded(customer)
    event = new_event(grant, source="/services/delegation")
    resent = new_event(grant, source="/services/delegation")
    last = recorded(customer, action=AuditAction.ASSIGNMENT_REVOKED)
    await send(
        bootstrap,
        [event, event, resent, new_event(last, source="/services/delegation")],
        key=customer,
    )

    async def last_is_chained() -> bool:
        return any(r.audit_id == last.audit_id for r in await trail(stack, customer))

    await until(last_is_chained, "the last event in the trail")  # same partition: in order
    rows = await trail(stack, customer)
    assert [(r.seq, r.action) for r in rows] == [
        (1, "registration.accepted"),
        (2, "assignment.granted"),
        (3, "assignment.revoked"),
    ]
    assert rows[0].source == "identity" and rows[0].actor_kind == "operator"
    assert rows[1].audit_id == grant.audit_id and rows[1].prev_hash == rows[0].hash
    async with stack.db.sessions() as session:
        check = await audit_trail.verify_trail(session, uuid.UUID(customer))
    assert check.ok and check.checked == 3


async def _append(stack: Stack, payload: AuditRecordedV1) -> None:
    async with stack.db.transaction() as session:
        await audit_trail.append_audit_event(session, stack.app.state.deps, payload)


async def test_concurrent_appends_to_one_customer_never_fork_the_chain(stack: Stack) -> None:
    """Two identity instances (here: two transactions) appending at once: the
    per-customer lock serialises them, so both land, one after the other."""
    customer = uuid.uuid4()
    await asyncio.gather(*(_append(stack, recorded(customer)) for _ in range(4)))
    rows = await trail(stack, customer)
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]


async def test_only_the_access_owner_reads_the_trail_and_filters_are_checked(
    stack: Stack,
) -> None:
    owners: dict[str, str] = {}
    managers: dict[str, str] = {}

    def rule(subject: str, action: str, resource: Any) -> bool:
        customer = str(resource.customer_id)
        if owners.get(subject) == customer:
            return True
        return managers.get(subject) == customer and action == "user.manage"

    stack.delegation.rule = rule
    owner, customer, owner_id = await admin_of_new_customer(stack, owners)
    manager_email, manager_id = await confirmed_invitee(
        stack, owner, customer, profile="access_manager", subprofiles=[]
    )
    managers[manager_id] = customer
    manager = await stack.bearer(manager_email, INVITEE_PASSWORD)
    stranger, _, _ = await admin_of_new_customer(stack, owners)

    by_owner = AuditActorV1(kind="user", id=owner_id)
    await _append(stack, recorded(customer, actor=by_owner))
    await _append(stack, recorded(customer, occurred_at=AT + timedelta(days=2)))
    await _append(stack, recorded(customer, actor=by_owner, action=AuditAction.ASSIGNMENT_REVOKED))
    url = f"/v1/customers/{customer}/audit-events"

    resp = await stack.client.get(url, headers=owner)
    assert resp.status_code == 200, resp.text
    items = resp.json()["items"]
    assert [i["seq"] for i in items] == [1, 2, 3]
    assert set(items[0]) == {
        "seq", "audit_id", "at", "source", "actor", "action", "target", "details", "hash",
        "prev_hash",
    }  # fmt: skip
    assert items[1]["prev_hash"] == items[0]["hash"]
    assert items[0]["actor"] == {"kind": "user", "id": owner_id}

    async def seqs(**params: str) -> list[int]:
        r = await stack.client.get(url, headers=owner, params=params)
        assert r.status_code == 200, r.text
        return [i["seq"] for i in r.json()["items"]]

    assert await seqs(action="assignment.revoked") == [3]
    assert await seqs(actor=owner_id) == [1, 3]
    assert await seqs(**{"from": (AT + timedelta(days=1)).isoformat()}) == [2]
    assert await seqs(to=(AT + timedelta(days=1)).isoformat()) == [1, 3]
    first = (await stack.client.get(url, headers=owner, params={"limit": 2})).json()
    assert [i["seq"] for i in first["items"]] == [1, 2] and first["next_cursor"]
    assert await seqs(cursor=first["next_cursor"]) == [3]

    assert (await stack.client.get(url, headers=manager)).status_code == 403
    assert (await stack.client.get(url, headers=stranger)).status_code == 404
    # No service token names identity as its audience (ADR 19): 401.
    assert (await stack.client.get(url, headers=await service_token(stack))).status_code == 401
    assert (await stack.client.get(url)).status_code == 401

    for params in (
        {"from": "yesterday"},
        {"from": "2026-11-20T08:00:00"},  # no offset: which 8 o'clock?
        {"from": "2026-11-21T00:00:00Z", "to": "2026-11-20T00:00:00Z"},
        {"action": "password.changed"},
        {"actor": "ann@acme.example"},
    ):
        bad = await stack.client.get(url, headers=owner, params=params)
        assert bad.status_code == 422, params
        assert bad.headers["content-type"].startswith("application/problem+json")
    bad_cursor = await stack.client.get(url, headers=owner, params={"cursor": "bm90LWEtY3Vyc29y"})
    assert bad_cursor.status_code == 400


async def test_postgresql_refuses_edits_and_verify_names_the_tampered_link(
    make_stack: StackFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = await make_stack()  # its own database: this test breaks a chain on purpose
    customer = uuid.uuid4()
    for _ in range(3):
        await _append(stack, recorded(customer))
    for statement in (
        "UPDATE customer_audit_events SET action = 'user.invited'",
        "DELETE FROM customer_audit_events",
        "TRUNCATE customer_audit_events",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with stack.db.transaction() as session:
                await session.execute(text(statement))
    assert len(await trail(stack, customer)) == 3

    # Someone with DDL rights gets round the trigger; the chain still tells.
    stored = (await trail(stack, customer))[1].hash
    async with stack.db.transaction() as session:
        await session.execute(
            text(
                "ALTER TABLE customer_audit_events DISABLE TRIGGER customer_audit_events_no_change"
            )
        )
        await session.execute(
            text(
                'UPDATE customer_audit_events SET details = \'{"profile": "access_owner"}\' '
                "WHERE customer_id = :c AND seq = 2"
            ),
            {"c": customer},
        )
    url = stack.settings.database_url
    args = ["verify", "--database-url", url, "--customer", str(customer)]
    assert await asyncio.to_thread(audit_cli.main, args) == 1
    out = capsys.readouterr().out
    assert f"customer {customer}: BROKEN at seq 2: entry content altered" in out
    assert f"found {stored}" in out
