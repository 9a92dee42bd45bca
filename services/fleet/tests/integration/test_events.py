"""Consumption from rated usage, customer termination, and the fleet-manager threshold:
events in and out through the real Kafka."""

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from fleet_factories import (
    customer_terminated,
    new_id,
    sim_body,
    usage_rated,
    usage_rated_batch,
)

from contracts.events.billing import UsageRatedV1
from fleet.domain.rules import current_period

from .conftest import Fleet

pytestmark = pytest.mark.integration


async def _poll(fleet: Fleet, url: str, headers: dict, done, timeout_s: float = 15.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        body = (await fleet.client.get(url, headers=headers)).json()
        if done(body) or asyncio.get_running_loop().time() > deadline:
            return body
        await asyncio.sleep(0.2)


async def test_consumption_counts_rated_usage_once(fleet: Fleet):
    customer = new_id()
    sim = await fleet.provision(customer, tariff_plan="SMART_S", options=["DATA_5GB"])
    url = f"/v1/sims/{sim['sim_id']}/consumption"
    headers = fleet.operator()
    empty = (await fleet.client.get(url, headers=headers)).json()
    assert empty["period"] == current_period(datetime.now(UTC))
    assert empty["data"]["used_bytes"] == 0 and empty["total_amount"] == "0.00"
    assert empty["data"]["included_mb"] == 10_240

    data = usage_rated(sim, "data", 3 * 1024 * 1024, "0.30")
    event_id = uuid.uuid4()
    await fleet.publish(data, event_id=event_id)
    await fleet.publish(data, event_id=event_id)  # redelivered: the inbox absorbs it
    await fleet.publish(data)  # the same record under a new event id: counted once
    await fleet.publish(usage_rated(sim, "voice", 125, "0.25"))
    await fleet.publish(usage_rated(sim, "sms", 1, "0.10"))
    # Another customer's usage of the same number is not this SIM's.
    await fleet.publish(usage_rated({**sim, "customer_id": new_id()}, "sms", 5, "0.50"))

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


async def test_a_rated_usage_batch_counts_each_of_its_records_once(fleet: Fleet):
    """usage.rated v2 carries many records, of any customers: each is counted on its own
    SIM once, also when it came before in a v1 event or the batch is delivered again."""
    customer = new_id()
    sim = await fleet.provision(customer, tariff_plan="SMART_S")
    other = await fleet.provision(new_id(), tariff_plan="SMART_S")
    url = f"/v1/sims/{sim['sim_id']}/consumption"
    headers = fleet.operator()
    earlier = usage_rated(sim, "voice", 60, "0.12")
    await fleet.publish(earlier)  # v1, before billing published batches
    batch = usage_rated_batch(
        earlier,  # already counted
        usage_rated(sim, "voice", 30, "0.06"),
        usage_rated(sim, "data", 2 * 1024 * 1024, "0.20"),
        usage_rated(other, "sms", 3, "0.30"),
        usage_rated({**sim, "customer_id": new_id()}, "sms", 7, "0.70"),  # not this SIM's
    )
    event_id = uuid.uuid4()
    await fleet.publish(batch, event_id=event_id)
    await fleet.publish(batch, event_id=event_id)  # redelivered
    body = await _poll(fleet, url, headers, lambda b: b["data"]["used_bytes"] > 0)
    # A record of that batch again in a new batch, with a new one: only the new one counts.
    again = UsageRatedV1(**batch.records[1].model_dump())
    await fleet.publish(usage_rated_batch(again, usage_rated(sim, "sms", 1, "0.10")))
    body = await _poll(fleet, url, headers, lambda b: b["sms"]["used"] > 0)
    assert body["voice"]["used_seconds"] == 90
    assert body["data"]["used_bytes"] == 2 * 1024 * 1024
    assert body["sms"]["used"] == 1
    assert body["total_amount"] == "0.48"
    theirs = await _poll(
        fleet, f"/v1/sims/{other['sim_id']}/consumption", headers, lambda b: b["sms"]["used"] > 0
    )
    assert theirs["sms"]["used"] == 3 and theirs["total_amount"] == "0.30"


async def test_the_fleet_manager_needs_30_sims_and_ends_below(fleet: Fleet):
    customer = new_id()
    sims = [await fleet.provision(customer) for _ in range(29)]
    url = f"/v1/customers/{customer}/fleet-manager"
    user = new_id()
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
    customer = new_id()
    outsider = new_id()
    headers = fleet.user(outsider, new_id())
    url = f"/v1/customers/{customer}/fleet-manager"
    assert (await fleet.client.get(url, headers=headers)).status_code == 404
    assert (await fleet.client.post(url, headers=headers)).status_code == 404
    reader = new_id()
    fleet.grant(reader, customer, "sim.read")
    assert (await fleet.client.get(url, headers=fleet.user(reader, customer))).status_code == 200
    assert (await fleet.client.post(url, headers=fleet.user(reader, customer))).status_code == 403


async def test_a_terminated_customer_loses_its_sims(fleet: Fleet):
    customer = new_id()
    sims = [await fleet.provision(customer) for _ in range(2)]
    await fleet.publish(customer_terminated(customer))
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
