"""A request's trace continues through the outbox and Kafka into the consumers."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from portal_client import Portal

from contracts.envelope import CloudEvent, InvalidEvent
from servicekit.kafka import admin_security

pytestmark = pytest.mark.e2e
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# The tests' own clients connect as the broker's admin (servicekit.kafka, ADR 24).
ADMIN = admin_security()


async def _find_event(
    topic: str, customer_id: str, timeout_s: float = 30
) -> tuple[CloudEvent, dict[str, bytes]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=BOOTSTRAP,
        **ADMIN.options(),
        group_id=f"e2e-probe-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    try:
                        event = CloudEvent.from_bytes(r.value)
                    except InvalidEvent:
                        continue
                    if event.data.get("customer_id") == customer_id:
                        return event, dict(r.headers)
    finally:
        await consumer.stop()
    raise AssertionError(f"no {topic} event for customer {customer_id}")


def test_trace_of_the_accepting_request_travels_with_its_events(portal: Portal) -> None:
    reg = portal.register()
    resp = portal.identity.post(
        f"/v1/operator/registrations/{reg['registration_id']}/accept", headers=portal.operator()
    )
    assert resp.status_code == 200, resp.text
    trace_id = resp.headers["X-Trace-Id"]
    assert len(trace_id) == 32
    for topic in ("customer.registered", "user.created"):
        event, headers = asyncio.run(_find_event(topic, reg["customer_id"]))
        # traceparent = version-traceid-spanid-flags (W3C)
        assert headers["traceparent"].decode().split("-")[1] == trace_id, topic
        assert event.source == "/services/identity"


def test_trace_of_the_billing_run_request_travels_with_its_invoices(portal: Portal) -> None:
    from portal_client import last_month

    op = portal.operator()
    customer_id = str(uuid.uuid4())
    resp = portal.billing.post(
        "/v1/operator/billing-accounts",
        headers=op,
        json={"customer_id": customer_id, "kind": "mobile", "name": "Traced"},
    )
    assert resp.status_code == 201, resp.text
    account_id = resp.json()["billing_account_id"]
    resp = portal.billing.post(
        "/v1/operator/billing-runs",
        headers=op,
        json={"period": last_month(), "billing_account_ids": [account_id]},
    )
    assert resp.status_code == 202, resp.text
    trace_id = resp.headers["X-Trace-Id"]
    # The run is worked later by a background job; its invoice.closed continues the trace
    # of the request that asked for it.
    event, headers = asyncio.run(_find_event("invoice.closed", customer_id, timeout_s=60))
    assert headers["traceparent"].decode().split("-")[1] == trace_id
    assert event.data["billing_account_id"] == account_id
