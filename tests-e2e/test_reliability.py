"""Crashes, broker outages and poison messages: nothing lost, nothing done twice."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from portal_client import (
    Portal,
    Sinks,
    bill_one_call_each,
    eventually,
    set_up_account,
    unique_email,
)
from stack import Stack

from contracts.envelope import new_event
from contracts.events.identity import ContractV1, CustomerRegisteredV1, UserCreatedV1
from servicekit.kafka import admin_security

pytestmark = pytest.mark.e2e
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# The tests' own clients connect as the broker's admin (servicekit.kafka, ADR 24).
ADMIN = admin_security()
INFRA = Path(__file__).resolve().parents[1] / "deploy" / "local" / "infra.sh"


async def _produce(topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP, **ADMIN.options(), enable_idempotence=True
    )
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, key=key, value=value)
    finally:
        await producer.stop()


async def _dead_letters(topic: str, marker: bytes, timeout_s: float = 30) -> list:  # type: ignore[type-arg]
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=BOOTSTRAP,
        **ADMIN.options(),
        group_id=f"e2e-probe-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list = []  # type: ignore[type-arg]
    try:
        deadline = time.monotonic() + timeout_s
        while not found and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [r for r in records if marker in r.value]
    finally:
        await consumer.stop()
    return found


def test_poison_event_is_dead_lettered_and_its_partition_keeps_flowing(
    portal: Portal, sinks: Sinks
) -> None:
    customer_id, user_id = uuid.uuid4(), uuid.uuid4()
    key = str(customer_id).encode()
    marker = uuid.uuid4().hex
    poison = b'{"specversion": "1.0", "type": "user.created", "id": "' + marker.encode() + b'"'
    now = datetime.now(UTC)
    registered = new_event(
        CustomerRegisteredV1(
            customer_id=customer_id,
            enterprise_number="0403170701",
            company_name="Poison Test",
            affiliates=[],
            registrant_user_id=user_id,
            wants_access_owner=True,
            accepted_at=now,
        ),
        source="/services/identity",
    )
    created = new_event(
        UserCreatedV1(
            user_id=user_id,
            customer_id=customer_id,
            email=unique_email("poison"),
            first_name="P",
            last_name="T",
            locale="en",
            mobile=None,
            profile="access_owner",
            subprofiles=[],
            contract=ContractV1(kind="management", ends_on=None),
            registrant=True,
            created_at=now,
        ),
        source="/services/identity",
    )
    asyncio.run(_produce("customer.registered", [(key, registered.to_bytes())]))
    # The poison goes first on the same key, hence the same partition, as a good event.
    asyncio.run(_produce("user.created", [(key, poison), (key, created.to_bytes())]))

    for service in ("delegation", "notifier"):
        letters = asyncio.run(_dead_letters(f"dlq.{service}", marker.encode()))
        assert letters, f"{service} did not dead-letter the poison event"
        headers = dict(letters[0].headers)
        assert headers["dlq.original_topic"] == b"user.created"
        assert headers["dlq.error"]
    op = portal.operator()
    resource = {"type": "customer", "id": str(customer_id), "customer_id": str(customer_id)}
    allowed = eventually(
        lambda: (d := portal.check(op, str(user_id), "invoice.read", resource))["allowed"] and d,
        what="the event after the poison to be applied",
    )
    assert allowed["allowed"] is True


def _until_not_503(call, what: str):  # type: ignore[no-untyped-def]
    """During a database restart a request answers 503 (nothing changed) or succeeds."""

    def attempt():  # type: ignore[no-untyped-def]
        resp = call()
        assert resp.status_code != 500, resp.text
        return None if resp.status_code == 503 else resp

    return eventually(attempt, timeout_s=60, what=what)


def test_database_restart_loses_no_event(portal: Portal, sinks: Sinks) -> None:
    before = portal.register()
    portal.accept(before["registration_id"])
    subprocess.run([str(INFRA), "postgres-restart"], check=True)
    after = portal.register_body()
    resp = _until_not_503(
        lambda: portal.identity.post("/v1/registrations", json=after["body"]),
        "registration after the database restart",
    )
    assert resp.status_code == 201, resp.text
    registration = resp.json()
    op = portal.operator()
    resp = _until_not_503(
        lambda: portal.identity.post(
            f"/v1/operator/registrations/{registration['registration_id']}/accept", headers=op
        ),
        "acceptance after the database restart",
    )
    assert resp.status_code == 200, resp.text
    for email, customer_id in (
        (before["email"], before["customer_id"]),
        (after["email"], registration["customer_id"]),
    ):
        sinks.wait_mail(email, timeout_s=90)
        users = portal.identity.get(f"/v1/customers/{customer_id}/users", headers=op).json()
        [user] = [u for u in users["items"] if u["email"] == email]
        resource = {"type": "customer", "id": customer_id, "customer_id": customer_id}
        eventually(
            lambda u=user, r=resource: portal.check(op, u["user_id"], "invoice.read", r)["allowed"],
            timeout_s=60,
            what="delegation after the database restart",
        )
        assert len(sinks.mails(email)) == 1


class DuplicateInCrashWindow(UserWarning):
    """A mail sent twice because the sender died between the mail server's acceptance and
    the commit of "sent": the one duplicate the design cannot exclude. Reported, not hidden."""


def _invoice_notifications(portal: Portal, op: dict[str, str], email: str) -> list[dict]:  # type: ignore[type-arg]
    resp = portal.notifier.get(
        "/v1/operator/notifications", headers=op, params={"recipient": email, "limit": 100}
    )
    assert resp.status_code == 200, resp.text
    return [n for n in resp.json()["items"] if n["template"] == "invoice_available"]


def test_notifier_killed_mid_flow_loses_no_invoice_mail_and_duplicates_only_in_the_crash_window(
    portal: Portal, sinks: Sinks, stack: Stack
) -> None:
    """The ledger: one invoice mail per account. Counted after the kill:

    - lost: an account whose invoice notification never reached the mail server (must be 0);
    - duplicated outside the window: two different Message-IDs for one invoice, or a second
      copy of a notification that was claimed only once (must be 0);
    - duplicated in the crash window: a second copy with the same Message-ID of a
      notification the killed process had claimed (attempts > 1). The design cannot exclude
      it (see notifier/sender.py), so it is counted and reported as a warning.
    """
    owner = portal.onboard(sinks)
    accounts = [set_up_account(portal, sinks, owner, alerts=["email"]) for _ in range(6)]
    bill_one_call_each(portal, accounts)
    op = portal.operator()
    # Crash the notifier as soon as the first invoice mail is out: the others are then
    # pending, being sent, or sent and not yet recorded.
    eventually(
        lambda: any(m.get("attachments") for a in accounts for m in sinks.mails(a["email"])),
        timeout_s=60,
        what="first invoice mail",
    )
    stack.kill("notifier")
    time.sleep(2)
    stack.start("notifier")
    stack.wait_ready(("notifier",), timeout_s=60)

    # Settled: every invoice notification is recorded as sent. The sink stores a mail
    # before it accepts it, so from here on the mail counts are final.
    def settled() -> dict[str, dict] | None:  # type: ignore[type-arg]
        found = {}
        for a in accounts:
            notes = _invoice_notifications(portal, op, a["email"])
            if not notes or any(n["status"] != "sent" for n in notes):
                return None
            assert len(notes) == 1, f"{len(notes)} invoice notifications for one account"
            found[a["email"]] = notes[0]
        return found

    notifications = eventually(settled, timeout_s=150, what="every invoice notification sent")

    lost, in_window, outside_window = [], [], []
    for a in accounts:
        mails = [m for m in sinks.mails(a["email"]) if m.get("attachments")]
        message_ids = {m["message_id"] for m in mails}
        if not mails:
            lost.append(a["email"])
        elif len(message_ids) > 1 or len(mails) > 2:
            outside_window.append((a["email"], len(mails), sorted(message_ids)))
        elif len(mails) == 2:
            claims = notifications[a["email"]]["attempts"]
            (in_window if claims > 1 else outside_window).append((a["email"], len(mails), claims))
    assert not lost, f"lost invoice mails: {lost}"
    assert not outside_window, f"duplicates the design excludes: {outside_window}"
    if in_window:
        warnings.warn(
            DuplicateInCrashWindow(
                f"{len(in_window)} of {len(accounts)} invoice mails sent twice with the same "
                f"Message-ID (killed between SMTP acceptance and the 'sent' commit): {in_window}"
            ),
            stacklevel=1,
        )


def test_broker_outage_loses_no_event(portal: Portal, sinks: Sinks) -> None:
    subprocess.run([str(INFRA), "kafka-stop"], check=True)
    registrations = []
    try:
        started = time.monotonic()
        while time.monotonic() - started < 20 or len(registrations) < 3:
            reg = portal.register()
            portal.accept(reg["registration_id"])  # HTTP works: events wait in the outbox
            registrations.append(reg)
            time.sleep(2)
    finally:
        subprocess.run([str(INFRA), "kafka-start"], check=True)
    for reg in registrations:
        sinks.wait_mail(reg["email"], timeout_s=120)
    op = portal.operator()
    for reg in registrations:
        me_resource = {
            "type": "customer",
            "id": reg["customer_id"],
            "customer_id": reg["customer_id"],
        }
        users = portal.identity.get(f"/v1/customers/{reg['customer_id']}/users", headers=op)
        assert users.status_code == 200, users.text
        [user] = [u for u in users.json()["items"] if u["email"] == reg["email"]]
        eventually(
            lambda u=user, r=me_resource: portal.check(op, u["user_id"], "invoice.read", r)[
                "allowed"
            ],
            timeout_s=60,
            what="delegation after the outage",
        )
    for reg in registrations:
        assert len(sinks.mails(reg["email"])) == 1
