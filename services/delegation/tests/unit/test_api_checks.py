"""The check API over HTTP: decisions, who may ask, batches, visible resources."""

from __future__ import annotations

import uuid

from delegation_env import Env, customer_resource


async def test_registrant_access_owner_may_read_own_invoices_not_another_customers(
    env: Env,
) -> None:
    c = await env.register()
    own = await env.check(c.registrant, "invoice.read", customer_resource(c.customer_id))
    assert own == {"allowed": True, "reason": "access_owner"}
    other = uuid.uuid4()
    denied = await env.check(c.registrant, "invoice.read", customer_resource(other))
    assert denied == {"allowed": False, "reason": "other_customer"}


async def test_registrant_access_manager_manages_users_but_reads_no_invoices(env: Env) -> None:
    c = await env.register(wants_access_owner=False)
    res = customer_resource(c.customer_id)
    assert (await env.check(c.registrant, "user.manage", res))["allowed"] is True
    read = await env.check(c.registrant, "invoice.read", res)
    assert read == {"allowed": False, "reason": "profile_access_manager_cannot_read_data"}


async def test_user_may_ask_about_themselves(env: Env) -> None:
    c = await env.register()
    headers = env.user(c.registrant, c.customer_id)
    d = await env.check(c.registrant, "invoice.read", customer_resource(c.customer_id), headers)
    assert d["allowed"] is True


async def test_user_cannot_ask_about_another_customers_user(env: Env) -> None:
    a, b = await env.register(), await env.register()
    resp = await env.client.post(
        "/v1/check",
        headers=env.user(a.registrant, a.customer_id),
        json={
            "subject": str(b.registrant),
            "action": "invoice.read",
            "resource": {
                "type": "customer",
                "id": str(b.customer_id),
                "customer_id": str(b.customer_id),
            },
        },
    )
    assert resp.status_code == 403
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_access_manager_may_ask_about_users_of_its_customer(env: Env) -> None:
    c = await env.register(wants_access_owner=False)
    colleague = await env.invite(c.customer_id)
    headers = env.user(c.registrant, c.customer_id)
    d = await env.check(colleague, "invoice.read", customer_resource(c.customer_id), headers)
    assert d == {"allowed": False, "reason": "no_grant"}


async def test_portal_user_cannot_ask_about_a_colleague(env: Env) -> None:
    c = await env.register()
    pu = await env.invite(c.customer_id)
    resp = await env.client.post(
        "/v1/check",
        headers=env.user(pu, c.customer_id),
        json={
            "subject": str(c.registrant),
            "action": "invoice.read",
            "resource": {"type": "customer", "customer_id": str(c.customer_id)},
        },
    )
    assert resp.status_code == 403


async def test_operator_may_ask_about_anyone_and_no_token_is_401(env: Env) -> None:
    c = await env.register()
    d = await env.check(
        c.registrant, "user.manage", customer_resource(c.customer_id), env.operator()
    )
    assert d["allowed"] is True
    resp = await env.client.post("/v1/check", json={})
    assert resp.status_code == 401


async def test_bad_check_input_is_422_with_the_offending_fields(env: Env) -> None:
    resp = await env.client.post(
        "/v1/check",
        headers=env.service(),
        json={"subject": "not-a-uuid", "action": "invoice.steal", "resource": {"type": "customer"}},
    )
    assert resp.status_code == 422
    fields = {e["field"] for e in resp.json()["errors"]}
    assert {"subject", "action", "resource.customer_id"} <= fields


async def test_unknown_subject_is_denied_not_an_error(env: Env) -> None:
    d = await env.check(uuid.uuid4(), "invoice.read", customer_resource(uuid.uuid4()))
    assert d == {"allowed": False, "reason": "unknown_subject"}


async def test_batch_answers_in_the_same_order(env: Env) -> None:
    c = await env.register()
    other = uuid.uuid4()
    checks = [
        {
            "subject": str(c.registrant),
            "action": "invoice.read",
            "resource": {"type": "customer", "customer_id": str(cid)},
        }
        for cid in (c.customer_id, other, c.customer_id)
    ]
    resp = await env.client.post("/v1/check/batch", headers=env.service(), json={"checks": checks})
    assert resp.status_code == 200
    assert [r["allowed"] for r in resp.json()["results"]] == [True, False, True]


async def test_batch_of_more_than_500_is_refused(env: Env) -> None:
    check = {
        "subject": str(uuid.uuid4()),
        "action": "invoice.read",
        "resource": {"type": "customer", "customer_id": str(uuid.uuid4())},
    }
    resp = await env.client.post(
        "/v1/check/batch", headers=env.service(), json={"checks": [check] * 501}
    )
    assert resp.status_code == 422


async def test_batch_about_another_customers_user_is_403(env: Env) -> None:
    a, b = await env.register(), await env.register()
    checks = [
        {
            "subject": str(s),
            "action": "invoice.read",
            "resource": {"type": "customer", "customer_id": str(a.customer_id)},
        }
        for s in (a.registrant, b.registrant)
    ]
    resp = await env.client.post(
        "/v1/check/batch", headers=env.user(a.registrant), json={"checks": checks}
    )
    assert resp.status_code == 403


async def test_resources_list_whole_customer_for_the_access_owner(env: Env) -> None:
    c = await env.register()
    resp = await env.client.get(
        f"/v1/subjects/{c.registrant}/resources",
        params={"type": "invoice", "action": "invoice.read"},
        headers=env.user(c.registrant, c.customer_id),
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["customer_ids"] == [str(c.customer_id)]
    assert body["ids"] == [] and body["all_of_customer"] is True


async def test_resources_of_a_service_user_are_its_own_sims(env: Env) -> None:
    c = await env.register()
    su = await env.invite(c.customer_id, "service_user")
    ba = uuid.uuid4()
    mine = await env.sim(c.customer_id, ba, end_user=su)
    await env.sim(c.customer_id, ba, end_user=c.registrant)
    resp = await env.client.get(
        f"/v1/subjects/{su}/resources",
        params={"type": "sim", "action": "sim.read"},
        headers=env.service(),
    )
    assert resp.json() == {
        "customer_ids": [],
        "ids": [str(mine)],
        "all_of_customer": False,
        "billing_account_ids": [],
    }


async def test_resources_needs_type_and_action(env: Env) -> None:
    resp = await env.client.get(
        f"/v1/subjects/{uuid.uuid4()}/resources", params={"type": "invoice"}, headers=env.service()
    )
    assert resp.status_code == 422


async def test_resources_about_another_customers_user_is_403(env: Env) -> None:
    a, b = await env.register(), await env.register()
    resp = await env.client.get(
        f"/v1/subjects/{b.registrant}/resources",
        params={"type": "invoice", "action": "invoice.read"},
        headers=env.user(a.registrant, a.customer_id),
    )
    assert resp.status_code == 403
