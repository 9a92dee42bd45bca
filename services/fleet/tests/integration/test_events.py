"""Consumption from rated usage, customer termination, and the fleet-manager threshold:
events in and out through the real Kafka."""

import asyncio
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from contracts.events.billing import UsageRatedV1
from contracts.events.identity import CustomerTerminatedV1
from fleet.domain.rules import current_period

from .conftest import Fleet, sim_body

pytestmark = pytest.mark.integration


def _usage(
    sim: dict, kind: str, quantity: int, amount: str, record_id: str | None = None
) -> UsageRatedV1:
    now = datetime.now(UTC)
    return UsageRatedV1(
        record_id=record_id or f"cdr-{uuid.uuid4().hex}",
        customer_id=sim["customer_id"],
        billing_account_id=sim["billing_account_id"],
        line=sim["msisdn"],
        kind=kind,
        started_at=now,
        quantity=quantity,
        amount=Decimal(amount),
        period=current_period(now),
    )


async def _poll(fleet: Fleet, url: str, headers: dict, done, timeout_s: float = 15.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        body = (await fleet.client.get(url, headers=headers)).json()
        if done(body) or asyncio.get_running_loop().time() > deadline:
            return body
        await asyncio.sleep(0.2)


async def test_consumption_counts_rated_usage_once(fleet: Fleet):
    customer = str(uuid.uuid4())
    sim = await fleet.provision(customer, tariff_plan="SMART_S", options=["DATA_5GB"])
    url = f"/v1/sims/{sim['sim_id']}/consumption"
    headers = fleet.operator()
    empty = (await fleet.client.get(url, headers=headers)).json()
    assert empty["period"] == current_period(datetime.now(UTC))
    assert empty["data"]["used_bytes"] == 0 and empty["total_amount"] == "0.00"
    assert empty["data"]["included_mb"] == 10_240

    data = _usage(sim, "data", 3 * 1024 * 1024, "0.30")
    event_id = uuid.uuid4()
    await fleet.publish(data, event_id=event_id)
    await fleet.publish(data, event_id=event_id)  # redelivered: the inbox absorbs it
    await fleet.publish(data)  # the same record under a new event id: counted once
    await fleet.publish(_usage(sim, "voice", 125, "0.25"))
    await fleet.publish(_usage(sim, "sms", 1, "0.10"))
    # Another customer's usage of the same number is not this SIM's.
    await fleet.publish(_usage({**sim, "customer_id": str(uuid.uuid4())}, "sms", 5, "0.50"))

    body = await _poll(
        fleet, url, headers, lambda b: b["sms"]["used"] >= 1 and b["voice"]["used_seconds"] > 0
    )
    assert body["data"]["used_bytes"] == 3 * 1024 * 1024
    assert body["data"]["used_mb"] == 3.0
    assert body["data"]["remaining_mb"] == 10_237.0
    assert body["voice"]["used_seconds"] == 125
    assert body["voice"]["included_minutes"] == 300
    assert body["sms"]["used"] == 1
    assert body["total_amount"] == "0.65"
    assert body["updated_at"] is not None
    previous = (await fleet.client.get(url, params={"period": "2020-01"}, headers=headers)).json()
    assert previous["data"]["used_bytes"] == 0
    bad = await fleet.client.get(url, params={"period": "2020-13"}, headers=headers)
    assert bad.status_code == 422


async def test_the_fleet_manager_needs_30_sims_and_ends_below(fleet: Fleet):
    customer = str(uuid.uuid4())
    sims = [await fleet.provision(customer) for _ in range(29)]
    url = f"/v1/customers/{customer}/fleet-manager"
    user = str(uuid.uuid4())
    fleet.grant(user, customer, "fleet_manager.activate")
    headers = fleet.user(user, customer)

    status = (await fleet.client.get(url, headers=headers)).json()
    assert (status["status"], status["sim_count"], status["eligible"]) == ("inactive", 29, False)
    refused = await fleet.client.post(url, headers=headers)
    assert refused.status_code == 409
    assert "29" in refused.json()["detail"] and refused.json()["sim_count"] == 29

    sims.append(await fleet.provision(customer))
    resp = await fleet.client.post(url, headers=headers)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["status"], resp.json()["sim_count"]) == ("active", 30)
    assert (await fleet.client.post(url, headers=headers)).json()["status"] == "active"

    resp = await fleet.client.post(
        f"/v1/operator/sims/{sims[0]['sim_id']}/deactivate", headers=fleet.operator()
    )
    assert resp.status_code == 200
    status = (await fleet.client.get(url, headers=headers)).json()
    assert (status["status"], status["sim_count"], status["reason"]) == (
        "terminated",
        29,
        "below_threshold",
    )

    events = await fleet.recorder.wait_for(
        "fleet-manager.changed", lambda d: d["customer_id"] == customer, count=2
    )
    assert [(e.data["status"], e.data["sim_count"], e.data["reason"]) for _, e in events] == [
        ("active", 30, "requested"),
        ("terminated", 29, "below_threshold"),
    ]


async def test_someone_else_cannot_see_or_activate_the_fleet_manager(fleet: Fleet):
    customer = str(uuid.uuid4())
    outsider = str(uuid.uuid4())
    headers = fleet.user(outsider, str(uuid.uuid4()))
    url = f"/v1/customers/{customer}/fleet-manager"
    assert (await fleet.client.get(url, headers=headers)).status_code == 404
    assert (await fleet.client.post(url, headers=headers)).status_code == 404
    reader = str(uuid.uuid4())
    fleet.grant(reader, customer, "sim.read")
    assert (await fleet.client.get(url, headers=fleet.user(reader, customer))).status_code == 200
    assert (await fleet.client.post(url, headers=fleet.user(reader, customer))).status_code == 403


async def test_a_terminated_customer_loses_its_sims(fleet: Fleet):
    customer = str(uuid.uuid4())
    sims = [await fleet.provision(customer) for _ in range(2)]
    await fleet.publish(
        CustomerTerminatedV1(
            customer_id=customer,
            by="customer",
            effective_on=date.today(),
            terminated_at=datetime.now(UTC),
        )
    )
    url = f"/v1/customers/{customer}/sims"
    body = await _poll(
        fleet,
        url,
        fleet.operator(),
        lambda b: all(s["status"] == "deactivated" for s in b["items"]),
    )
    assert [s["status"] for s in body["items"]] == ["deactivated", "deactivated"]
    ids = {s["sim_id"] for s in sims}
    events = await fleet.recorder.wait_for(
        "sim.changed", lambda d: d["sim_id"] in ids and d["change"] == "deactivated", count=2
    )
    assert len(events) == 2
    refused = await fleet.client.post(
        "/v1/operator/sims", json=sim_body(customer), headers=fleet.operator()
    )
    assert refused.status_code == 409
    assert "ended" in refused.json()["detail"]
