"""Devices: company-owned ones are shown in full, bring-your-own ones never."""

import pytest
from fleet_factories import new_id

from .conftest import Fleet

pytestmark = pytest.mark.integration

IMEI_A = "490154203237518"
IMEI_B = "356938035643809"


async def test_company_devices_show_details_and_histories_personal_ones_do_not(fleet: Fleet):
    customer = new_id()
    first = await fleet.provision(customer)
    second = await fleet.provision(customer)
    url = f"/v1/sims/{first['sim_id']}/device"
    manager = new_id()
    fleet.grant(manager, customer, "sim.read", "sim.manage", "device.read")
    headers = fleet.user(manager, customer)

    assert (await fleet.client.get(url, headers=headers)).status_code == 404  # none yet
    company = {"ownership": "company", "imei": IMEI_A, "brand": "Fairphone", "model": "5"}
    resp = await fleet.client.put(url, json=company, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["imei"] == IMEI_A

    personal = {"ownership": "personal", "imei": IMEI_B, "brand": "Apple", "model": "15"}
    resp = await fleet.client.put(url, json=personal, headers=headers)
    assert resp.json() == {"ownership": "personal"}
    assert (await fleet.client.get(url, headers=headers)).json() == {"ownership": "personal"}

    # The same company phone moves to the second SIM, and a new one into the first.
    await fleet.client.put(f"/v1/sims/{second['sim_id']}/device", json=company, headers=headers)
    newer = {"ownership": "company", "imei": IMEI_B, "brand": "Samsung", "model": "S24"}
    await fleet.client.put(url, json=newer, headers=headers)
    shown = (await fleet.client.get(url, headers=headers)).json()
    assert (shown["imei"], shown["brand"], shown["model"]) == (IMEI_B, "Samsung", "S24")
    # The personal period (when IMEI_B was someone's own phone) is not in the history.
    assert [h["imei"] for h in shown["imei_history"]] == [IMEI_B, IMEI_A]
    assert [h["sim_id"] for h in shown["sim_history"]] == [first["sim_id"]]

    moved = (await fleet.client.get(f"/v1/sims/{second['sim_id']}/device", headers=headers)).json()
    assert [h["sim_id"] for h in moved["sim_history"]] == [second["sim_id"], first["sim_id"]]

    history = (
        await fleet.client.get(f"/v1/sims/{first['sim_id']}/history", headers=headers)
    ).json()
    device_changes = [
        (h["from"], h["to"]) for h in history["items"] if h["change"] == "device_changed"
    ]
    assert device_changes == [("personal", "company"), ("company", "personal"), (None, "company")]
    assert IMEI_B not in str(history)  # no device details in the SIM's history

    events = await fleet.recorder.wait_for(
        "sim.changed",
        lambda d: d["sim_id"] == first["sim_id"] and d["change"] == "device_changed",
        count=3,
    )
    assert len(events) == 3
    assert all(IMEI_A not in str(e.data) and IMEI_B not in str(e.data) for _, e in events)


async def test_bad_device_input_is_refused_and_reading_needs_device_rights(fleet: Fleet):
    customer = new_id()
    sim = await fleet.provision(customer)
    url = f"/v1/sims/{sim['sim_id']}/device"
    for body in (
        {"ownership": "company", "imei": "490154203237519"},
        {"ownership": "company"},
        {"ownership": "rented", "imei": IMEI_A},
    ):
        resp = await fleet.client.put(url, json=body, headers=fleet.operator())
        assert resp.status_code == 422, body
    assert (await fleet.client.get(url, headers=fleet.operator())).status_code == 404

    await fleet.client.put(
        url, json={"ownership": "company", "imei": IMEI_A}, headers=fleet.operator()
    )
    reader = new_id()
    fleet.grant(reader, customer, "sim.read")
    assert (await fleet.client.get(url, headers=fleet.user(reader, customer))).status_code == 403
    outsider = new_id()
    assert (await fleet.client.get(url, headers=fleet.user(outsider, customer))).status_code == 404
