"""Several instances of the consuming services: a rebalance mid-flow, a notifier whose clock
is two minutes off, and events the broker can never take. Effects are counted per account
(invoices, invoice notifications, mails and their Message-IDs), not "something arrived".

The extra instances share their service's database and consumer group, as a second pod
of a Deployment does; they run on ports of their own (``E2E_PORT_BASE`` + 10 and up).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from e2e_stack import E2E_PORTS
from portal_client import Portal, Sinks, bill_one_call_each, eventually, set_up_account
from stack import CONSUMERS, Stack

from servicekit.db import Database, new_metadata

pytestmark = pytest.mark.e2e
EXTRA_PORT_BASE = min(E2E_PORTS.values()) + 10


def _invoice_notifications(portal: Portal, op: dict[str, str], email: str) -> list[dict]:  # type: ignore[type-arg]
    resp = portal.notifier.get(
        "/v1/operator/notifications", headers=op, params={"recipient": email, "limit": 100}
    )
    assert resp.status_code == 200, resp.text
    return [n for n in resp.json()["items"] if n["template"] == "invoice_available"]


def _every_invoice_mailed_once(portal: Portal, sinks: Sinks, accounts: list[dict]) -> None:  # type: ignore[type-arg]
    """Waits until every account's invoice notification is recorded as sent, then counts:
    exactly one invoice notification, one mail and one Message-ID per account."""
    op = portal.operator()

    def settled() -> bool:
        for a in accounts:
            notes = _invoice_notifications(portal, op, a["email"])
            if not notes or any(n["status"] != "sent" for n in notes):
                return False
        return True

    eventually(settled, timeout_s=180, what="every invoice notification sent")
    counts = {}
    for a in accounts:
        notes = _invoice_notifications(portal, op, a["email"])
        mails = [m for m in sinks.mails(a["email"]) if m.get("attachments")]
        counts[a["email"]] = (len(notes), len(mails), len({m["message_id"] for m in mails}))
    wrong = {email: c for email, c in counts.items() if c != (1, 1, 1)}
    assert not wrong, f"(notifications, mails, Message-IDs) per account, expected 1 each: {wrong}"


def _invoices(portal: Portal, owner: dict[str, Any], account_id: str) -> list[dict]:  # type: ignore[type-arg]
    """The account's invoices, read as a client would: right after delegation restarted,
    billing may still refuse with 503 + Retry-After (its circuit breaker to delegation is
    open until a probe succeeds, ADR 22); the client waits as told and asks again. Any
    other answer than 200 or such a 503 fails at once."""
    deadline = time.monotonic() + 60
    while True:
        resp = portal.billing.get(
            f"/v1/billing-accounts/{account_id}/invoices", headers=owner["headers"]
        )
        retry_after = resp.headers.get("Retry-After")
        if resp.status_code != 503 or retry_after is None or time.monotonic() > deadline:
            break
        time.sleep(min(float(retry_after), 5.0))
    assert resp.status_code == 200, resp.text
    return list(resp.json()["items"])


@pytest.fixture
def second_instances(stack: Stack) -> Iterator[list[str]]:
    """A second instance of every consuming service; stopped after the test."""
    names = [
        stack.start(service, instance="2", port=EXTRA_PORT_BASE + i)
        for i, service in enumerate(CONSUMERS)
    ]
    try:
        stack.wait_ready(tuple(names), timeout_s=300)
        stack.wait_ready(CONSUMERS, timeout_s=300)  # the first ones hold partitions again
        yield names
    finally:
        for name in names:
            stack.stop(name)


# Five more processes and eight accounts take a while on a busy two-core machine.
@pytest.mark.timeout(900)
def test_one_instance_of_each_consumer_restarted_mid_flow_loses_and_doubles_nothing(
    portal: Portal, sinks: Sinks, stack: Stack, second_instances: list[str]
) -> None:
    owner = portal.onboard(sinks)
    accounts = [set_up_account(portal, sinks, owner, alerts=["email"]) for _ in range(8)]
    bill_one_call_each(portal, accounts)
    # Mid-flow: the invoices are being closed and fanned out while one instance of each
    # consuming service stops (SIGTERM, as in a rolling update) and comes back.
    eventually(
        lambda: any(m.get("attachments") for a in accounts for m in sinks.mails(a["email"])),
        timeout_s=90,
        what="first invoice mail",
    )
    for service in CONSUMERS:
        stack.stop(service)
    for service in CONSUMERS:
        stack.start(service)
    stack.wait_ready(CONSUMERS, timeout_s=300)

    _every_invoice_mailed_once(portal, sinks, accounts)
    for a in accounts:
        assert len(_invoices(portal, owner, a["account_id"])) == 1


FAKETIME_LIBS = (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
)


def _libfaketime() -> str:
    for path in FAKETIME_LIBS:
        if os.path.exists(path):
            return path
    raise AssertionError(
        "libfaketime is missing: deploy/local/infra.sh installs Debian's faketime package"
    )


@pytest.mark.timeout(900)
def test_a_notifier_whose_clock_is_two_minutes_ahead_sends_nothing_twice(
    portal: Portal, sinks: Sinks, stack: Stack
) -> None:
    """Claims and their leases are timed by the database's clock, so an instance whose
    own clock is ahead neither steals live claims nor resends what another is sending."""
    name = stack.start(
        "notifier",
        instance="skewed",
        port=EXTRA_PORT_BASE + 9,
        extra_env={
            "LD_PRELOAD": _libfaketime(),
            "FAKETIME": "+120s",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "FAKETIME_DONT_RESET": "1",
        },
    )
    try:
        stack.wait_ready((name,), timeout_s=300)
        assert _clock_of(stack, name) - time.time() > 100  # the instance does run ahead
        owner = portal.onboard(sinks)
        accounts = [set_up_account(portal, sinks, owner, alerts=["email"]) for _ in range(8)]
        bill_one_call_each(portal, accounts)
        _every_invoice_mailed_once(portal, sinks, accounts)
    finally:
        stack.stop(name)


def _clock_of(stack: Stack, name: str) -> float:
    """The instance's own idea of now, from the Date header of its answer."""
    with urllib.request.urlopen(stack.url(name) + "/healthz", timeout=5) as resp:
        from email.utils import parsedate_to_datetime

        return parsedate_to_datetime(resp.headers["date"]).timestamp()


def _metric(stack: Stack, service: str, name: str) -> float:
    with urllib.request.urlopen(stack.url(service) + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    ]
    return sum(values)


async def _inject(database_url: str, rows: list[dict[str, Any]]) -> None:
    db = Database(database_url, new_metadata())
    try:
        async with db.transaction() as session:
            for row in rows:
                await session.execute(db.outbox.insert().values(**row))
    finally:
        await db.dispose()


async def _parked(database_url: str) -> list[str]:
    db = Database(database_url, new_metadata())
    try:
        async with db.transaction() as session:
            result = await session.execute(db.outbox_parked.select())
            return [str(r.event_id) for r in result.all()]
    finally:
        await db.dispose()


def test_an_oversized_event_and_one_for_a_missing_topic_are_set_aside_and_later_events_flow(
    portal: Portal, sinks: Sinks, stack: Stack
) -> None:
    """Two rows no broker will ever take (written before the size check existed, or for a
    topic deleted since) sit in identity's outbox ahead of the next events. The relay parks them,
    counts them for the alert, and the events after them are published: a registration
    accepted afterwards still gets its confirmation mail."""
    url = stack.service_env["identity"]["IDENTITY_DATABASE_URL"]
    now = datetime.now(UTC)
    bad = {
        "too-large": ("customer.registered", b"x" * 2_000_000),
        "no-topic": (f"no.such.topic.{uuid.uuid4().hex[:8]}", json.dumps({"a": 1}).encode()),
    }
    ids = {reason: str(uuid.uuid4()) for reason in bad}
    asyncio.run(
        _inject(
            url,
            [
                {
                    "event_id": ids[reason],
                    "topic": topic,
                    "key": "k",
                    "value": value,
                    "headers": {},
                    "created_at": now,
                }
                for reason, (topic, value) in bad.items()
            ],
        )
    )
    reg = portal.register()
    portal.accept(reg["registration_id"])
    sinks.wait_mail(reg["email"], timeout_s=120)  # the event after the bad rows went out

    parked = eventually(
        lambda: (p := asyncio.run(_parked(url))) and set(ids.values()) <= set(p) and p,
        timeout_s=120,
        what="both rows parked",
    )
    assert set(ids.values()) <= set(parked)
    assert _metric(stack, "identity", "outbox_parked_events") >= 2  # PortalOutboxEventParked
