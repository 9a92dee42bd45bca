"""Granting and revoking over HTTP, and the events it writes."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import pytest
from delegation_env import Env, customer_resource
from delegation_factories import enterprise_number, user_created

from delegation.models import User
from delegation.service import events
from servicekit.pagination import encode_cursor


def _path(customer_id: UUID) -> str:
    return f"/v1/customers/{customer_id}/assignments"


async def _changes(env: Env, user_id: UUID) -> list[tuple[str, str]]:
    return [
        (e["data"]["change"], e["data"]["profile"])
        for e in await env.outbox()
        if e["type"] == "delegation.changed" and e["data"]["user_id"] == str(user_id)
    ]


def _invoice_read(user_id: UUID, ba: UUID) -> dict[str, Any]:
    return {
        "user_id": str(user_id),
        "profile": "portal_user",
        "scope": {"applications": ["my-invoice-online"], "billing_accounts": [str(ba)]},
        "permissions": ["read"],
    }


async def test_user_created_grants_its_profile_and_announces_it(env: Env) -> None:
    c = await env.register()
    assert await _changes(env, c.registrant) == [("granted", "access_owner")]
    pu = await env.invite(c.customer_id, subprofiles=["financial-manager"])
    assert await _changes(env, pu) == [("granted", "portal_user")]


async def test_access_owner_grants_scoped_invoice_rights_then_revokes_them(env: Env) -> None:
    c = await env.register()
    pu = await env.invite(c.customer_id)
    ba, other_ba = env.billing_account(c.customer_id), env.billing_account(c.customer_id)
    owner = env.user(c.registrant, c.customer_id)

    resp = await env.client.post(_path(c.customer_id), headers=owner, json=_invoice_read(pu, ba))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["assignment_id"] and body["status"] == "active"
    assert body["scope"] == {
        "applications": ["my-invoice-online"],
        "billing_accounts": [str(ba)],
        "sims": None,
    }
    assert body["granted_at"].endswith("+00:00") or body["granted_at"].endswith("Z")

    def invoice(on: UUID) -> dict[str, Any]:
        return {
            "type": "invoice",
            "id": uuid.uuid4(),
            "customer_id": c.customer_id,
            "billing_account_id": on,
        }

    assert (await env.check(pu, "invoice.read", invoice(ba)))["allowed"] is True
    assert (await env.check(pu, "invoice.read", invoice(other_ba)))["reason"] == "out_of_scope"

    resp = await env.client.delete(f"{_path(c.customer_id)}/{body['assignment_id']}", headers=owner)
    assert resp.status_code == 204
    assert (await env.check(pu, "invoice.read", invoice(ba)))["allowed"] is False
    assert await _changes(env, pu) == [
        ("granted", "portal_user"),
        ("granted", "portal_user"),
        ("revoked", "portal_user"),
    ]
    again = await env.client.delete(
        f"{_path(c.customer_id)}/{body['assignment_id']}", headers=owner
    )
    assert again.status_code == 204
    assert len(await _changes(env, pu)) == 3


async def test_access_manager_grants_rights_it_cannot_use_itself(env: Env) -> None:
    c = await env.register(wants_access_owner=False)
    pu = await env.invite(c.customer_id)
    ba = env.billing_account(c.customer_id)
    resp = await env.client.post(
        _path(c.customer_id), headers=env.user(c.registrant), json=_invoice_read(pu, ba)
    )
    assert resp.status_code == 201, resp.text
    res = {"type": "billing_account", "id": ba, "customer_id": c.customer_id}
    assert (await env.check(pu, "invoice.read", res))["allowed"] is True
    assert (await env.check(c.registrant, "invoice.read", res))["allowed"] is False


async def test_access_manager_cannot_appoint_an_access_owner(env: Env) -> None:
    c = await env.register(wants_access_owner=False)
    pu = await env.invite(c.customer_id)
    resp = await env.client.post(
        _path(c.customer_id),
        headers=env.user(c.registrant),
        json={"user_id": str(pu), "profile": "access_owner"},
    )
    assert resp.status_code == 403
    assert resp.json()["reason"] == "only_access_owner_appoints_access_owners"


async def test_access_owner_appoints_an_access_manager(env: Env) -> None:
    c = await env.register()
    pu = await env.invite(c.customer_id)
    resp = await env.client.post(
        _path(c.customer_id),
        headers=env.user(c.registrant),
        json={"user_id": str(pu), "profile": "access_manager"},
    )
    assert resp.status_code == 201
    d = await env.check(pu, "user.manage", customer_resource(c.customer_id))
    assert d == {"allowed": True, "reason": "access_manager"}


async def test_nobody_grants_to_themselves(env: Env) -> None:
    c = await env.register(wants_access_owner=False)
    resp = await env.client.post(
        _path(c.customer_id),
        headers=env.user(c.registrant),
        json=_invoice_read(c.registrant, uuid.uuid4()),
    )
    assert resp.status_code == 403
    assert resp.json()["reason"] == "cannot_grant_to_self"


async def test_portal_user_cannot_grant(env: Env) -> None:
    c = await env.register()
    pu, colleague = await env.invite(c.customer_id), await env.invite(c.customer_id)
    resp = await env.client.post(
        _path(c.customer_id), headers=env.user(pu), json=_invoice_read(colleague, uuid.uuid4())
    )
    assert resp.status_code == 403


async def test_another_customers_owner_gets_404_and_cannot_reach_its_users(env: Env) -> None:
    a, b = await env.register(), await env.register()
    pu_b = await env.invite(b.customer_id)
    resp = await env.client.post(
        _path(b.customer_id), headers=env.user(a.registrant), json=_invoice_read(pu_b, uuid.uuid4())
    )
    assert resp.status_code == 404
    # ...nor give its own customer's rights to another customer's user.
    resp = await env.client.post(
        _path(a.customer_id), headers=env.user(a.registrant), json=_invoice_read(pu_b, uuid.uuid4())
    )
    assert resp.status_code == 404
    listing = await env.client.get(_path(b.customer_id), headers=env.user(a.registrant))
    assert listing.status_code == 404


async def test_a_malformed_grant_is_422_before_an_outsider_hears_404(env: Env) -> None:
    c, other = await env.register(), await env.register()
    outsider = env.user(other.registrant)
    malformed = await env.client.post(
        _path(c.customer_id), headers=outsider, json={"profile": "nope"}
    )
    assert malformed.status_code == 422
    wellformed = await env.client.post(
        _path(c.customer_id), headers=outsider, json=_invoice_read(uuid.uuid4(), uuid.uuid4())
    )
    assert wellformed.status_code == 404


async def test_a_malformed_query_or_id_is_422_before_an_outsider_hears_404(env: Env) -> None:
    c, other = await env.register(), await env.register()
    outsider = env.user(other.registrant)
    path = _path(c.customer_id)
    assert (await env.client.get(path, headers=outsider, params={"limit": 0})).status_code == 422
    assert (await env.client.get(path, headers=outsider)).status_code == 404
    for method in ("GET", "DELETE"):
        malformed = await env.client.request(method, f"{path}/not-an-id", headers=outsider)
        assert malformed.status_code == 422
        unknown = await env.client.request(method, f"{path}/{uuid.uuid4()}", headers=outsider)
        assert unknown.status_code == 404


async def test_third_party_contract_gets_no_assignment(env: Env) -> None:
    c = await env.register()
    contractor = await env.invite(c.customer_id, kind="third_party")
    assert await _changes(env, contractor) == []
    resp = await env.client.post(
        _path(c.customer_id),
        headers=env.user(c.registrant),
        json=_invoice_read(contractor, uuid.uuid4()),
    )
    assert resp.status_code == 409
    assert resp.json()["reason"] == "grantee_contract_not_eligible"


async def test_bad_grant_input_is_422_and_writes_nothing(env: Env) -> None:
    c = await env.register()
    pu = await env.invite(c.customer_id)
    owner = env.user(c.registrant)
    before = await env.outbox()
    listing_before = (await env.client.get(_path(c.customer_id), headers=owner)).json()
    bad = [
        {**_invoice_read(pu, uuid.uuid4()), "permision": ["read"]},  # unknown field
        {**_invoice_read(pu, uuid.uuid4()), "permissions": ["steal"]},
        {**_invoice_read(pu, uuid.uuid4()), "profile": "god"},
        {**_invoice_read(pu, uuid.uuid4()), "scope": {"applications": ["solitaire"]}},
        {"user_id": str(pu), "profile": "access_manager", "permissions": ["read"]},
        {"profile": "portal_user"},
    ]
    for body in bad:
        resp = await env.client.post(_path(c.customer_id), headers=owner, json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
    malformed = await env.client.post(
        _path(c.customer_id),
        headers=owner,
        content=b"{oops",
    )
    assert malformed.status_code in (400, 422)
    assert await env.outbox() == before
    assert (await env.client.get(_path(c.customer_id), headers=owner)).json() == listing_before


async def test_list_assignments_pages_with_a_cursor(env: Env) -> None:
    c = await env.register()
    for _ in range(3):
        await env.invite(c.customer_id)
    owner = env.user(c.registrant)
    first = (await env.client.get(_path(c.customer_id), headers=owner, params={"limit": 2})).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = (
        await env.client.get(
            _path(c.customer_id), headers=owner, params={"limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    assert len(second["items"]) == 2 and second["next_cursor"] is None
    items = first["items"] + second["items"]
    assert len({i["assignment_id"] for i in items}) == 4
    granted = [i["granted_at"] for i in items]
    assert granted == sorted(granted)  # oldest first


@pytest.mark.parametrize(
    "cursor",
    [
        "zz",
        # The (time, id) cursors this list handed out before it paged with Keyset.
        encode_cursor({"t": "2026-11-01T09:00:00+00:00", "id": str(uuid.uuid4())}),
        encode_cursor({"k": ["yesterday", str(uuid.uuid4())]}),
    ],
)
async def test_a_cursor_this_list_did_not_make_is_a_400_problem(env: Env, cursor: str) -> None:
    c = await env.register()
    bad = await env.client.get(
        _path(c.customer_id), headers=env.user(c.registrant), params={"cursor": cursor}
    )
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")


async def test_last_access_owner_cannot_be_revoked(env: Env) -> None:
    c = await env.register()
    owner = env.user(c.registrant)
    [mine] = (
        await env.client.get(
            _path(c.customer_id), headers=owner, params={"user_id": str(c.registrant)}
        )
    ).json()["items"]
    resp = await env.client.delete(f"{_path(c.customer_id)}/{mine['assignment_id']}", headers=owner)
    assert resp.status_code == 409


async def test_deactivated_user_loses_everything_and_it_is_announced(env: Env) -> None:
    c = await env.register()
    pu = await env.invite(c.customer_id, subprofiles=["purchaser"])
    res = customer_resource(c.customer_id)
    assert (await env.check(pu, "product.order", res))["allowed"] is True
    await env.deactivate(pu, c.customer_id)
    assert await env.check(pu, "product.order", res) == {
        "allowed": False,
        "reason": "user_inactive",
    }
    assert await _changes(env, pu) == [("granted", "portal_user"), ("revoked", "portal_user")]


async def test_terminated_customer_denies_all_and_revokes(env: Env) -> None:
    c = await env.register()
    await env.terminate(c.customer_id)
    d = await env.check(c.registrant, "invoice.read", customer_resource(c.customer_id))
    assert d == {"allowed": False, "reason": "customer_terminated"}
    assert await _changes(env, c.registrant) == [
        ("granted", "access_owner"),
        ("revoked", "access_owner"),
    ]


async def test_replayed_user_created_creates_no_second_assignment(env: Env) -> None:
    c = await env.register()
    payload = user_created(uuid.uuid4(), c.customer_id, "portal_user")
    await env.apply(events.user_created, payload)
    await env.apply(events.user_created, payload)
    assert len(await _changes(env, payload.user_id)) == 1


async def test_deactivation_arriving_before_creation_leaves_no_rights(env: Env) -> None:
    c = await env.register()
    user_id = uuid.uuid4()
    await env.deactivate(user_id, c.customer_id)
    await env.apply(events.user_created, user_created(user_id, c.customer_id, "access_owner"))
    d = await env.check(user_id, "invoice.read", customer_resource(c.customer_id))
    assert d["allowed"] is False and await _changes(env, user_id) == []


async def test_user_before_its_customer_registration_still_gets_its_profile(env: Env) -> None:
    customer_id, owner = uuid.uuid4(), uuid.uuid4()
    await env.apply(
        events.user_created, user_created(owner, customer_id, "access_owner", registrant=True)
    )
    d = await env.check(owner, "invoice.read", customer_resource(customer_id))
    assert d["allowed"] is True


async def test_ended_contracts_are_revoked_by_the_sweep(env: Env) -> None:
    c = await env.register()
    pu = await env.invite(c.customer_id, ends_on=date.today() + timedelta(days=30))
    async with env.kit.db.transaction() as session:
        user = await session.get(User, pu)
        assert user is not None
        user.contract_ends_on = date.today() - timedelta(days=2)
    d = await env.check(pu, "invoice.read", customer_resource(c.customer_id))
    assert d == {"allowed": False, "reason": "contract_ended"}
    assert await env.sweep() >= 1
    assert await _changes(env, pu) == [("granted", "portal_user"), ("revoked", "portal_user")]
    await env.sweep()  # a second sweep announces nothing new
    assert len(await _changes(env, pu)) == 2


async def test_a_listed_affiliate_registering_later_falls_under_nobody(env: Env) -> None:
    number = enterprise_number()
    parent = await env.register(affiliates=[number])
    child = await env.register(number=number)
    d = await env.check(parent.registrant, "invoice.read", customer_resource(child.customer_id))
    assert d == {"allowed": False, "reason": "other_customer"}


async def test_a_listed_affiliate_registered_earlier_falls_under_nobody_unconfirmed(
    env: Env,
) -> None:
    child = await env.register()
    parent = await env.register(affiliates=[child.enterprise_number])
    for action in ("invoice.read", "user.manage", "role.grant"):
        d = await env.check(parent.registrant, action, customer_resource(child.customer_id))
        assert d["allowed"] is False, action


async def test_a_confirmed_affiliate_falls_under_the_parents_access_owner(env: Env) -> None:
    child = await env.register()
    parent = await env.register(affiliates=[child.enterprise_number], confirmed=[child.customer_id])
    d = await env.check(parent.registrant, "invoice.read", customer_resource(child.customer_id))
    assert d == {"allowed": True, "reason": "access_owner_affiliate"}
    assert (
        await env.check(child.registrant, "invoice.read", customer_resource(parent.customer_id))
    )["allowed"] is False
    seen = (
        await env.client.get(
            f"/v1/subjects/{parent.registrant}/resources",
            params={"type": "invoice", "action": "invoice.read"},
            headers=env.service(),
        )
    ).json()
    assert set(seen["customer_ids"]) == {str(parent.customer_id), str(child.customer_id)}


async def test_service_user_reads_own_sim_only_and_ignores_stale_sim_events(env: Env) -> None:
    from datetime import UTC, datetime

    c = await env.register()
    su = await env.invite(c.customer_id, "service_user")
    ba = uuid.uuid4()
    sim = await env.sim(c.customer_id, ba, end_user=su)
    res = {"type": "sim", "id": sim, "customer_id": c.customer_id}
    assert await env.check(su, "sim.read", res) == {"allowed": True, "reason": "own_sim"}
    # An older state arriving late does not take the SIM back.
    await env.sim(
        c.customer_id,
        ba,
        None,
        sim_id=sim,
        change="end_user_changed",
        at=datetime(2020, 1, 1, tzinfo=UTC),
    )
    assert (await env.check(su, "sim.read", res))["allowed"] is True
    await env.sim(c.customer_id, ba, None, sim_id=sim, change="end_user_changed")
    assert (await env.check(su, "sim.read", res))["reason"] == "not_own_sim"


async def test_a_scope_naming_another_customers_billing_account_is_refused(env: Env) -> None:
    """The attack: a grant listing another customer's account, which lists filtered by the
    customer in the URL would then show to the grantee."""
    c, other = await env.register(), await env.register()
    pu = await env.invite(c.customer_id)
    owner = env.user(c.registrant, c.customer_id)
    theirs, unknown = env.billing_account(other.customer_id), uuid.uuid4()
    before = await env.outbox()
    granted_before = (await env.client.get(_path(c.customer_id), headers=owner)).json()
    for ba in (theirs, unknown):
        resp = await env.client.post(
            _path(c.customer_id), headers=owner, json=_invoice_read(pu, ba)
        )
        assert resp.status_code == 422, resp.text
        assert resp.json()["errors"][0]["field"] == "scope.billing_accounts.0"
        assert resp.headers["content-type"] == "application/problem+json"
    assert await env.outbox() == before  # nothing granted, nothing announced
    assert (await env.client.get(_path(c.customer_id), headers=owner)).json() == granted_before


async def test_a_scope_naming_another_customers_sim_is_refused(env: Env) -> None:
    c, other = await env.register(), await env.register()
    pu = await env.invite(c.customer_id)
    owner = env.user(c.registrant, c.customer_id)
    ours = await env.sim(c.customer_id, env.billing_account(c.customer_id))
    theirs = await env.sim(other.customer_id, env.billing_account(other.customer_id))
    body = {
        "user_id": str(pu),
        "profile": "portal_user",
        "scope": {"applications": ["fleet-manager"], "sims": [str(ours), str(theirs)]},
        "permissions": ["read"],
    }
    resp = await env.client.post(_path(c.customer_id), headers=owner, json=body)
    assert resp.status_code == 422, resp.text
    [error] = resp.json()["errors"]
    assert error["field"].startswith("scope.sims.") and str(theirs) in error["message"]
    body["scope"]["sims"] = [str(ours)]
    assert (
        await env.client.post(_path(c.customer_id), headers=owner, json=body)
    ).status_code == 201


async def test_an_access_manager_holds_no_data_rights_whatever_the_order_of_grants(
    env: Env,
) -> None:
    """Data rights granted first, promotion to access manager after: the promotion wins."""
    c = await env.register()
    pu = await env.invite(c.customer_id)
    owner = env.user(c.registrant, c.customer_id)
    whole_customer_read = {
        "user_id": str(pu),
        "profile": "portal_user",
        "scope": {"applications": ["my-invoice-online"]},
        "permissions": ["read"],
    }
    resp = await env.client.post(_path(c.customer_id), headers=owner, json=whole_customer_read)
    assert resp.status_code == 201, resp.text
    res = customer_resource(c.customer_id)
    assert (await env.check(pu, "invoice.read", res))["allowed"] is True

    promote = {"user_id": str(pu), "profile": "access_manager", "permissions": []}
    resp = await env.client.post(_path(c.customer_id), headers=owner, json=promote)
    assert resp.status_code == 201, resp.text
    assert (await env.check(pu, "user.manage", res))["allowed"] is True
    read = await env.check(pu, "invoice.read", res)
    assert read == {"allowed": False, "reason": "profile_access_manager_cannot_read_data"}


@pytest.mark.parametrize("service", ["notifier", "identity", "billing"])
async def test_a_service_token_cannot_appoint_an_access_owner(env: Env, service: str) -> None:
    c = await env.register()
    target = await env.invite(c.customer_id)
    before = await env.outbox()
    resp = await env.client.post(
        _path(c.customer_id),
        headers=env.service(service),
        json={"user_id": str(target), "profile": "access_owner"},
    )
    assert resp.status_code == 403, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert await env.outbox() == before
    listed = await env.client.get(
        _path(c.customer_id), headers=env.user(c.registrant, c.customer_id)
    )
    assert [a["profile"] for a in listed.json()["items"] if a["user_id"] == str(target)] == [
        "portal_user"
    ]


async def test_only_identitys_token_reads_a_customers_assignments(env: Env) -> None:
    c = await env.register()
    assert (
        await env.client.get(_path(c.customer_id), headers=env.service("identity"))
    ).status_code == 200
    refused = await env.client.get(_path(c.customer_id), headers=env.service("notifier"))
    assert refused.status_code == 403
