"""Provisioning, subscription changes, visibility and history, through HTTP, with the
events checked on the real Kafka."""

import io
import uuid
from datetime import datetime, time, timedelta

import pytest
from fleet_factories import new_id, random_iccid, random_imsi, random_msisdn, sim_body
from openpyxl import load_workbook

from fleet.domain.rules import BRUSSELS

from .conftest import Fleet
from .test_end_user import known_users, user_created

pytestmark = pytest.mark.integration


async def test_the_catalogue_needs_a_token_and_has_fees_as_strings(fleet: Fleet):
    assert (await fleet.client.get("/v1/catalogue")).status_code == 401
    user = new_id()
    resp = await fleet.client.get("/v1/catalogue", headers=fleet.user(user, new_id()))
    assert resp.status_code == 200
    body = resp.json()
    plans = {p["code"]: p["monthly_fee"] for p in body["tariff_plans"]}
    assert plans == {
        "SMART_S": "15.00",
        "SMART_M": "25.00",
        "SMART_L": "40.00",
        "DATA_ONLY": "10.00",
    }
    options = {o["code"]: o for o in body["options"]}
    assert options["DATA_5GB"]["monthly_fee"] == "7.50"
    assert "DATA_ONLY" not in options["INTL_CALLS"]["compatible_plans"]


async def test_provisioning_stores_the_sim_and_publishes_sim_changed(fleet: Fleet):
    customer = new_id()
    national = "04" + random_msisdn()[4:]
    body = sim_body(customer, msisdn=national, tariff_plan="SMART_S", options=["ROAMING_EU"])
    resp = await fleet.client.post("/v1/operator/sims", json=body, headers=fleet.operator())
    assert resp.status_code == 201, resp.text
    sim = resp.json()
    sim_id = sim["sim_id"]
    assert sim["msisdn"] == "+32" + national[1:]
    assert sim["monthly_fee"] == "20.00"

    events = await fleet.recorder.wait_for("sim.changed", lambda d: d["sim_id"] == sim_id)
    assert len(events) == 1
    key, event = events[0]
    assert key == customer
    assert event.data["change"] == "provisioned"
    assert event.data["tariff_plan"] == "SMART_S"
    assert event.data["options"] == ["ROAMING_EU"]
    assert event.data["monthly_fee"] == "20.00"
    assert event.data["requested_by"] is None

    history = await fleet.client.get(f"/v1/sims/{sim_id}/history", headers=fleet.operator())
    assert [(h["change"], h["to"], h["by"]["kind"]) for h in history.json()["items"]] == [
        ("provisioned", "SMART_S", "operator")
    ]


async def test_a_sim_taken_over_from_the_network_counts_from_its_activation_day(fleet: Fleet):
    """Its subscription starts at midnight (Belgian time) of the day given, so billing
    prorates and applies allowances from then; a future day or one too old is refused."""
    customer = new_id()
    today = datetime.now(BRUSSELS).date()
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)  # last month's first
    body = {**sim_body(customer), "active_since": first.isoformat()}
    resp = await fleet.client.post("/v1/operator/sims", json=body, headers=fleet.operator())
    assert resp.status_code == 201, resp.text
    sim_id = resp.json()["sim_id"]
    [(_key, event)] = await fleet.recorder.wait_for("sim.changed", lambda d: d["sim_id"] == sim_id)
    midnight = datetime.combine(first, time(0), BRUSSELS)
    assert datetime.fromisoformat(event.data["changed_at"].replace("Z", "+00:00")) == midnight
    for day in (today + timedelta(days=1), today - timedelta(days=3 * 366)):
        bad = {**sim_body(customer), "active_since": day.isoformat()}
        resp = await fleet.client.post("/v1/operator/sims", json=bad, headers=fleet.operator())
        assert resp.status_code == 422, resp.text
        assert resp.json()["errors"][0]["field"] == "active_since"


async def test_only_operator_staff_provision(fleet: Fleet):
    customer = new_id()
    user = new_id()
    resp = await fleet.client.post(
        "/v1/operator/sims", json=sim_body(customer), headers=fleet.user(user, customer)
    )
    assert resp.status_code == 403


async def test_bad_or_duplicate_identifiers_are_refused_and_change_nothing(fleet: Fleet):
    customer = new_id()
    first = await fleet.provision(customer)
    bad = sim_body(customer, iccid=first["iccid"][:-1] + str((int(first["iccid"][-1]) + 1) % 10))
    resp = await fleet.client.post("/v1/operator/sims", json=bad, headers=fleet.operator())
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in resp.json()["errors"]] == ["iccid"]

    for field in ("iccid", "msisdn", "imsi"):
        dup = sim_body(customer, **{field: first[field]})
        resp = await fleet.client.post("/v1/operator/sims", json=dup, headers=fleet.operator())
        assert resp.status_code == 409, field
        assert resp.json()["fields"] == [field]

    for body in (
        sim_body(customer, tariff_plan="GOLD"),
        sim_body(customer, imsi="204081234567890"),
        sim_body(customer, msisdn="+3221234567"),
        {**sim_body(customer), "colour": "red"},
    ):
        resp = await fleet.client.post("/v1/operator/sims", json=body, headers=fleet.operator())
        assert resp.status_code == 422, body
    listed = await fleet.client.get(f"/v1/customers/{customer}/sims", headers=fleet.operator())
    assert [s["sim_id"] for s in listed.json()["items"]] == [first["sim_id"]]


async def test_a_plan_change_is_recorded_published_and_confirmed(fleet: Fleet):
    customer = new_id()
    sim = await fleet.provision(customer, tariff_plan="SMART_S")
    sim_id = sim["sim_id"]
    user = new_id()
    fleet.grant(user, customer, "sim.read", "product.order")
    headers = fleet.user(user, customer)

    resp = await fleet.client.put(
        f"/v1/sims/{sim_id}/tariff-plan", json={"tariff_plan": "SMART_L"}, headers=headers
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["tariff_plan"] == "SMART_L"
    assert resp.json()["monthly_fee"] == "40.00"

    history = (await fleet.client.get(f"/v1/sims/{sim_id}/history", headers=headers)).json()
    latest = history["items"][0]
    assert (latest["change"], latest["from"], latest["to"]) == (
        "tariff_plan_changed",
        "SMART_S",
        "SMART_L",
    )
    assert latest["by"] == {"kind": "user", "id": user}

    changed = await fleet.recorder.wait_for(
        "sim.changed", lambda d: d["sim_id"] == sim_id and d["change"] == "tariff_plan_changed"
    )
    assert len(changed) == 1
    data = changed[0][1].data
    assert data["previous"] == {"tariff_plan": "SMART_S"}
    assert data["requested_by"] == user
    assert data["monthly_fee"] == "40.00"

    notes = await fleet.recorder.wait_for(
        "notification.requested", lambda d: d["params"].get("msisdn") == sim["msisdn"]
    )
    assert len(notes) == 1
    note = notes[0][1].data
    assert note["template"] == "sim_change_confirmation"
    assert note["channel"] == "email"
    assert note["to"]["user_id"] == user
    assert note["params"]["change"] == "tariff_plan_changed"
    assert note["params"]["tariff_plan"] == "SMART_L"
    assert note["request_id"] == latest["id"]


async def test_bad_plan_changes_are_refused_and_change_nothing(fleet: Fleet):
    customer = new_id()
    sim = await fleet.provision(customer, tariff_plan="SMART_S", options=["INTL_CALLS"])
    url = f"/v1/sims/{sim['sim_id']}/tariff-plan"
    headers = fleet.operator()
    assert (
        await fleet.client.put(url, json={"tariff_plan": "SMART_S"}, headers=headers)
    ).status_code == 409
    resp = await fleet.client.put(url, json={"tariff_plan": "GOLD"}, headers=headers)
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "tariff_plan"
    resp = await fleet.client.put(url, json={"tariff_plan": "DATA_ONLY"}, headers=headers)
    assert resp.status_code == 409
    assert "INTL_CALLS" in resp.json()["detail"]
    assert (await fleet.client.put(url, json={}, headers=headers)).status_code == 422
    history = await fleet.client.get(f"/v1/sims/{sim['sim_id']}/history", headers=headers)
    assert [h["change"] for h in history.json()["items"]] == ["provisioned"]
    current = await fleet.client.get(f"/v1/sims/{sim['sim_id']}", headers=headers)
    assert current.json()["tariff_plan"] == "SMART_S"


async def test_options_are_added_and_removed_once_and_staff_get_no_confirmation(fleet: Fleet):
    customer = new_id()
    sim = await fleet.provision(customer, tariff_plan="DATA_ONLY")
    sim_id = sim["sim_id"]
    url = f"/v1/sims/{sim_id}/options"
    headers = fleet.operator()
    resp = await fleet.client.post(url, json={"option": "DATA_5GB"}, headers=headers)
    assert resp.status_code == 200
    assert resp.json()["options"] == ["DATA_5GB"]
    assert resp.json()["monthly_fee"] == "17.50"
    assert (
        await fleet.client.post(url, json={"option": "DATA_5GB"}, headers=headers)
    ).status_code == 409
    assert (
        await fleet.client.post(url, json={"option": "INTL_CALLS"}, headers=headers)
    ).status_code == 409
    assert (
        await fleet.client.post(url, json={"option": "NETFLIX"}, headers=headers)
    ).status_code == 422
    assert (await fleet.client.delete(f"{url}/ROAMING_EU", headers=headers)).status_code == 409
    assert (await fleet.client.delete(f"{url}/NETFLIX", headers=headers)).status_code == 422
    resp = await fleet.client.delete(f"{url}/DATA_5GB", headers=headers)
    assert resp.status_code == 200
    assert resp.json()["options"] == []

    changes = await fleet.recorder.wait_for(
        "sim.changed",
        lambda d: d["sim_id"] == sim_id and d["change"].startswith("option_"),
        count=2,
    )
    assert [(e.data["change"], e.data["previous"]) for _, e in changes] == [
        ("option_added", {"option": "DATA_5GB"}),
        ("option_removed", {"option": "DATA_5GB"}),
    ]
    history = await fleet.client.get(f"/v1/sims/{sim_id}/history", headers=headers)
    assert [(h["change"], h["from"], h["to"]) for h in history.json()["items"]] == [
        ("option_removed", "DATA_5GB", None),
        ("option_added", None, "DATA_5GB"),
        ("provisioned", None, "DATA_ONLY"),
    ]
    notes = await fleet.recorder.wait_for(
        "notification.requested",
        lambda d: d["params"].get("msisdn") == sim["msisdn"],
        timeout_s=1.5,
    )
    assert notes == []


async def test_another_customers_sim_is_not_found_and_reading_is_not_ordering(fleet: Fleet):
    mine, theirs = new_id(), new_id()
    own_sim = await fleet.provision(mine)
    their_sim = await fleet.provision(theirs)
    user = new_id()
    fleet.grant(user, mine, "sim.read")
    fleet.show(user, customers={mine})
    headers = fleet.user(user, mine)

    assert (
        await fleet.client.get(f"/v1/sims/{own_sim['sim_id']}", headers=headers)
    ).status_code == 200
    for path in ("", "/history", "/consumption"):
        resp = await fleet.client.get(f"/v1/sims/{their_sim['sim_id']}{path}", headers=headers)
        assert resp.status_code == 404, path
    resp = await fleet.client.put(
        f"/v1/sims/{their_sim['sim_id']}/tariff-plan",
        json={"tariff_plan": "SMART_L"},
        headers=headers,
    )
    assert resp.status_code == 404
    resp = await fleet.client.put(
        f"/v1/sims/{own_sim['sim_id']}/tariff-plan",
        json={"tariff_plan": "SMART_L"},
        headers=headers,
    )
    assert resp.status_code == 403
    unknown = await fleet.client.get(f"/v1/sims/{uuid.uuid4()}", headers=headers)
    assert unknown.status_code == 404

    # Another customer's list, of which the caller may see nothing: 404, not an empty page.
    listed = await fleet.client.get(f"/v1/customers/{theirs}/sims", headers=headers)
    assert listed.status_code == 404


async def test_a_user_with_single_sims_sees_only_those(fleet: Fleet):
    customer = new_id()
    sims = [await fleet.provision(customer) for _ in range(3)]
    end_user = new_id()
    fleet.show(end_user, ids={sims[1]["sim_id"]})
    resp = await fleet.client.get(
        f"/v1/customers/{customer}/sims", headers=fleet.user(end_user, customer)
    )
    assert [s["sim_id"] for s in resp.json()["items"]] == [sims[1]["sim_id"]]


async def test_list_filters_pages_and_exports(fleet: Fleet):
    customer = new_id()
    created = [
        await fleet.provision(customer, tariff_plan=p) for p in ("SMART_S", "SMART_S", "SMART_L")
    ]
    headers = fleet.operator()
    url = f"/v1/customers/{customer}/sims"

    first = (await fleet.client.get(url, params={"limit": 2}, headers=headers)).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = (
        await fleet.client.get(
            url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
        )
    ).json()
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    msisdns = [s["msisdn"] for s in first["items"] + second["items"]]
    assert msisdns == sorted(c["msisdn"] for c in created)

    small = (await fleet.client.get(url, params={"tariff_plan": "SMART_S"}, headers=headers)).json()
    assert len(small["items"]) == 2
    target = created[2]["msisdn"]
    found = (await fleet.client.get(url, params={"q": "0" + target[3:9]}, headers=headers)).json()
    assert [s["msisdn"] for s in found["items"]] == [target]
    none = (await fleet.client.get(url, params={"status": "deactivated"}, headers=headers)).json()
    assert none["items"] == []
    assert (
        await fleet.client.get(url, params={"status": "lost"}, headers=headers)
    ).status_code == 422
    assert (
        await fleet.client.get(url, params={"cursor": "garbage!"}, headers=headers)
    ).status_code == 400

    csv = await fleet.client.get(url, params={"format": "csv"}, headers=headers)
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.lstrip("\ufeff").strip().splitlines()
    assert lines[0].startswith("msisdn,iccid,imsi")
    assert len(lines) == 4

    xlsx = await fleet.client.get(
        url, params={"format": "xlsx", "tariff_plan": "SMART_L"}, headers=headers
    )
    assert xlsx.status_code == 200
    rows = list(load_workbook(io.BytesIO(xlsx.content)).active.values)
    assert rows[1][0] == target and rows[1][6] == "40.00"


async def test_the_end_user_is_set_published_and_cleared(fleet: Fleet):
    customer = new_id()
    sim = await fleet.provision(customer)
    sim_id = sim["sim_id"]
    end_user = new_id()
    await fleet.publish(user_created(end_user, customer, "service_user"))
    await known_users(fleet, {end_user})
    url = f"/v1/sims/{sim_id}/end-user"
    resp = await fleet.client.put(url, json={"user_id": end_user}, headers=fleet.operator())
    assert resp.status_code == 200 and resp.json()["end_user_id"] == end_user
    # Naming the same end user again is harmless and publishes nothing.
    assert (
        await fleet.client.put(url, json={"user_id": end_user}, headers=fleet.operator())
    ).status_code == 200
    resp = await fleet.client.put(url, json={"user_id": None}, headers=fleet.operator())
    assert resp.json()["end_user_id"] is None
    assert (await fleet.client.put(url, json={}, headers=fleet.operator())).status_code == 422

    events = await fleet.recorder.wait_for(
        "sim.changed",
        lambda d: d["sim_id"] == sim_id and d["change"] == "end_user_changed",
        count=2,
    )
    assert [(e.data["end_user_id"], e.data["previous"]) for _, e in events] == [
        (end_user, {"end_user_id": None}),
        (None, {"end_user_id": end_user}),
    ]


async def test_a_number_is_reusable_after_its_sim_is_deactivated(fleet: Fleet):
    customer = new_id()
    sim = await fleet.provision(customer)
    resp = await fleet.client.post(
        f"/v1/operator/sims/{sim['sim_id']}/deactivate", headers=fleet.operator()
    )
    assert resp.status_code == 200 and resp.json()["status"] == "deactivated"
    again = await fleet.client.post(
        f"/v1/operator/sims/{sim['sim_id']}/deactivate", headers=fleet.operator()
    )
    assert again.status_code == 409
    change = await fleet.client.put(
        f"/v1/sims/{sim['sim_id']}/tariff-plan",
        json={"tariff_plan": "SMART_L"},
        headers=fleet.operator(),
    )
    assert change.status_code == 409
    reused = await fleet.provision(
        customer, msisdn=sim["msisdn"], iccid=random_iccid(), imsi=random_imsi()
    )
    assert reused["msisdn"] == sim["msisdn"]


async def test_the_history_pages_newest_first_and_refuses_a_foreign_cursor(fleet: Fleet):
    customer = new_id()
    sims = [await fleet.provision(customer) for _ in range(2)]
    sim_id = sims[0]["sim_id"]
    headers = fleet.operator()
    for plan in ("SMART_L", "SMART_S"):
        await fleet.client.put(
            f"/v1/sims/{sim_id}/tariff-plan", json={"tariff_plan": plan}, headers=headers
        )
    url = f"/v1/sims/{sim_id}/history"
    first = (await fleet.client.get(url, params={"limit": 2}, headers=headers)).json()
    rest = await fleet.client.get(
        url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
    )
    assert rest.json()["next_cursor"] is None
    assert [h["to"] for h in first["items"] + rest.json()["items"]] == [
        "SMART_S",
        "SMART_L",
        "SMART_M",
    ]

    listed = await fleet.client.get(
        f"/v1/customers/{customer}/sims", params={"limit": 1}, headers=headers
    )
    foreign = listed.json()["next_cursor"]  # a position in another list
    resp = await fleet.client.get(url, params={"cursor": foreign}, headers=headers)
    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_managing_a_sim_does_not_allow_ordering_a_plan_or_an_option(fleet: Fleet):
    customer = new_id()
    sim = await fleet.provision(customer, tariff_plan="SMART_S")
    manager = new_id()
    fleet.grant(manager, customer, "sim.read", "sim.manage")
    headers = fleet.user(manager, customer)
    plan = await fleet.client.put(
        f"/v1/sims/{sim['sim_id']}/tariff-plan", json={"tariff_plan": "SMART_L"}, headers=headers
    )
    assert plan.status_code == 403, plan.text
    option = await fleet.client.post(
        f"/v1/sims/{sim['sim_id']}/options", json={"option": "DATA_5GB"}, headers=headers
    )
    assert option.status_code == 403, option.text
    unchanged = await fleet.client.get(f"/v1/sims/{sim['sim_id']}", headers=headers)
    assert unchanged.json()["tariff_plan"] == "SMART_S" and unchanged.json()["options"] == []
