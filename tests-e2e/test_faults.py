"""Faults during steady traffic, counted against a ledger of what each request must cause.

Each test keeps a ledger of the requests the system accepted and counts their effects
afterwards (mails, grants, dead letters): lost and duplicated effects must both be zero.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from portal_client import Portal, Sinks, eventually, unique_email
from stack import SERVICES, Stack

from contracts.topics import dead_letter_topic, topic
from servicekit.kafka import admin_security

pytestmark = pytest.mark.e2e
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# The tests' own clients connect as the broker's admin (servicekit.kafka, ADR 24).
ADMIN = admin_security()
INFRA = Path(__file__).resolve().parents[1] / "deploy" / "local" / "infra.sh"


def infra(command: str) -> None:
    subprocess.run([str(INFRA), command], check=True)


async def _dead_letter_ends() -> dict[TopicPartition, int]:
    reader = AIOKafkaConsumer(
        bootstrap_servers=BOOTSTRAP, **ADMIN.options(), enable_auto_commit=False
    )
    await reader.start()
    try:
        parts = [
            TopicPartition(name, p)
            for name in (dead_letter_topic(s) for s in SERVICES)
            for p in range(topic(name).partitions)
        ]
        return dict(await reader.end_offsets(parts))
    finally:
        await reader.stop()


async def _dead_lettered_since(start: dict[TopicPartition, int], groups: set[str]) -> list[str]:
    """The dead letters this stack's consumers wrote after ``start``. The dead-letter
    topics are shared by every stack on the broker (other suites, benchmarks), so each
    is told by the ``dlq.consumer`` header its consumer writes."""
    end = await _dead_letter_ends()
    reader = AIOKafkaConsumer(  # a throw-away group: a group-less reader fails on stop
        bootstrap_servers=BOOTSTRAP,
        **ADMIN.options(),
        group_id=f"e2e-faults-{uuid.uuid4().hex}",
        enable_auto_commit=False,
    )
    await reader.start()
    found: list[str] = []
    try:
        pending = [tp for tp, offset in end.items() if offset > start.get(tp, 0)]
        if not pending:
            return found
        reader.assign(pending)
        for tp in pending:
            reader.seek(tp, start.get(tp, 0))
        while pending:
            batches = await reader.getmany(*pending, timeout_ms=2000)
            if not batches:
                raise AssertionError(f"dead-letter partitions not read to their end: {pending}")
            for tp, records in batches.items():
                for record in records:
                    consumer = dict(record.headers or []).get("dlq.consumer", b"").decode()
                    if consumer in groups:
                        found.append(f"{tp.topic}[{tp.partition}]@{record.offset} ({consumer})")
                if records and records[-1].offset + 1 >= end[tp]:
                    pending.remove(tp)
        return found
    finally:
        await reader.stop()


def dead_letter_ends() -> dict[TopicPartition, int]:
    return asyncio.run(_dead_letter_ends())


def dead_lettered_since(start: dict[TopicPartition, int], stack: Stack) -> list[str]:
    groups = {stack.service_env[s][f"{s.upper()}_CONSUMER_GROUP"] for s in SERVICES}
    return asyncio.run(_dead_lettered_since(start, groups))


def _until_not_503(call: Any, what: str) -> Any:
    def attempt() -> Any:
        resp = call()
        assert resp.status_code != 500, resp.text
        return None if resp.status_code == 503 else resp

    return eventually(attempt, timeout_s=90, what=what)


def _confirmation_mails(sinks: Sinks, email: str) -> int:
    return len(sinks.mails(email))


def test_database_stopped_during_traffic_answers_503_never_500_and_loses_nothing(
    portal: Portal, sinks: Sinks, stack: Stack
) -> None:
    op = portal.operator()  # verified offline: works while identity's database is down
    dead_letters_from = dead_letter_ends()
    accepted: list[dict[str, Any]] = []  # the ledger: registrations the API took (201)
    refused: list[dict[str, Any]] = []  # answered 503: must have changed nothing
    statuses: Counter[int] = Counter()

    infra("postgres-stop")
    try:
        started = time.monotonic()
        while time.monotonic() - started < 15:
            draft = portal.register_body()
            resp = portal.identity.post("/v1/registrations", json=draft["body"])
            statuses[resp.status_code] += 1
            assert resp.status_code in (201, 503), f"{resp.status_code}: {resp.text}"
            if resp.status_code == 503:
                assert resp.headers["content-type"] == "application/problem+json"
                assert int(resp.headers["retry-after"]) > 0
                refused.append(draft)
            else:
                accepted.append({**draft, **resp.json()})
            time.sleep(0.5)
    finally:
        infra("postgres-start")
    assert statuses[503] > 0, f"the outage was never seen: {statuses}"

    # A refused request changed nothing: the very same registration is now accepted.
    for draft in refused[:3]:
        resp = _until_not_503(
            lambda d=draft: portal.identity.post("/v1/registrations", json=d["body"]),
            "registration after the outage",
        )
        assert resp.status_code == 201, resp.text
        accepted.append({**draft, **resp.json()})
    for reg in accepted:
        resp = _until_not_503(
            lambda r=reg: portal.identity.post(
                f"/v1/operator/registrations/{r['registration_id']}/accept", headers=op
            ),
            "acceptance after the outage",
        )
        assert resp.status_code == 200, resp.text

    # Effects: one confirmation mail per accepted registration — none lost, none doubled.
    eventually(
        lambda: all(_confirmation_mails(sinks, r["email"]) >= 1 for r in accepted),
        timeout_s=120,
        what="a confirmation mail for every accepted registration",
    )
    time.sleep(3)  # a duplicate would be sent right behind the first
    mails = {r["email"]: _confirmation_mails(sinks, r["email"]) for r in accepted}
    assert [e for e, n in mails.items() if n != 1] == [], mails
    # The outage was waited out, never taken for a bad event.
    assert dead_lettered_since(dead_letters_from, stack) == []


def test_broker_stopped_keeps_every_service_ready_and_taking_writes(
    portal: Portal, sinks: Sinks, stack: Stack
) -> None:
    op = portal.operator()
    accepted: list[dict[str, Any]] = []
    infra("kafka-stop")
    try:
        started = time.monotonic()
        while time.monotonic() - started < 30:
            reg = portal.register()  # asserts 201: writes succeed, events wait
            portal.accept(reg["registration_id"])
            accepted.append(reg)
            # Readiness is about the instance's own database: all stay in rotation.
            assert all(stack.ready(s) for s in SERVICES), "a service left rotation"
            time.sleep(3)
    finally:
        infra("kafka-start")
    for reg in accepted:
        sinks.wait_mail(reg["email"], timeout_s=120)
    time.sleep(3)
    assert {r["email"]: len(sinks.mails(r["email"])) for r in accepted} == {
        r["email"]: 1 for r in accepted
    }
    for reg in accepted:
        users = portal.identity.get(f"/v1/customers/{reg['customer_id']}/users", headers=op)
        assert users.status_code == 200, users.text
        [user] = [u for u in users.json()["items"] if u["email"] == reg["email"]]
        resource = {"type": "customer", "id": reg["customer_id"], "customer_id": reg["customer_id"]}
        eventually(
            lambda u=user, r=resource: portal.check(op, u["user_id"], "invoice.read", r)["allowed"],
            timeout_s=60,
            what="the access owner's rights after the outage",
        )


def test_redis_stopped_logins_keep_working_and_other_services_are_unaffected(
    portal: Portal, sinks: Sinks, stack: Stack
) -> None:
    owner = portal.onboard(sinks)
    infra("redis-stop")
    try:
        for _ in range(3):
            token = portal.login(owner["email"], owner["password"])  # asserts 200
            me = portal.identity.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200, me.text
        # Guessing is still throttled, by identity's own count while Redis is away.
        guessed = unique_email("guessed")
        answers = [
            portal.identity.post(
                "/v1/auth/token",
                data={"grant_type": "password", "username": guessed, "password": "wrong"},
            )
            for _ in range(6)
        ]
        assert all(a.status_code in (400, 401) for a in answers[:5]), [a.text for a in answers]
        assert answers[5].status_code == 429, answers[5].text
        assert int(answers[5].headers["retry-after"]) > 0
        assert all(stack.ready(s) for s in SERVICES)
    finally:
        infra("redis-start")


def test_mail_server_refusing_for_a_while_delivers_every_mail_once_afterwards(
    portal: Portal, sinks: Sinks
) -> None:
    op = portal.operator()
    refusing = sinks.http.post("/api/mails/refuse", json={"seconds": 40, "code": 421})
    assert refusing.status_code == 200, refusing.text
    accepted = []
    for _ in range(3):
        reg = portal.register()
        portal.accept(reg["registration_id"])  # asks for a confirmation mail
        accepted.append(reg)
    time.sleep(5)
    assert all(sinks.mails(r["email"]) == [] for r in accepted), "a mail got through"
    # The refusal ends by itself after 40 s; the mails must then go out, once each.
    for reg in accepted:
        sinks.wait_mail(reg["email"], timeout_s=120)
    time.sleep(3)
    assert {r["email"]: len(sinks.mails(r["email"])) for r in accepted} == {
        r["email"]: 1 for r in accepted
    }
    # The outage used up none of the messages' attempts: each went out on its first.
    for reg in accepted:
        log = portal.notifier.get(
            "/v1/operator/notifications", headers=op, params={"recipient": reg["email"]}
        ).json()
        assert [(n["status"], n["attempts"]) for n in log["items"]] == [("sent", 1)]
