"""Termination [2.2.2]: notice by the customer or the operator, withdrawal, and the job
that makes it take effect (customer.terminated + user.deactivated, exactly once)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from contracts.envelope import parse_data
from contracts.events.identity import CustomerTerminatedV1, UserDeactivatedV1
from identity import audit
from identity.domain import add_months, local_date
from identity.models import AuditEntry, Termination
from identity.service.terminations import apply_due_terminations
from servicekit.db import utcnow

from .conftest import GOOD_PASSWORD, Stack, StackFactory
from .factories import (
    INVITEE_PASSWORD,
    Headers,
    admin_of_new_customer,
    confirm_token,
    confirmed_invitee,
    events_of,
    invite_body,
    owners_rule,
    service_token,
)

pytestmark = pytest.mark.integration

WRITES = ("terminations", "customers", "users", "outbox", "audit_log")


def url(customer_id: str) -> str:
    return f"/v1/customers/{customer_id}/termination"


async def counts(stack: Stack) -> dict[str, int]:
    return {t: await stack.count(t) for t in WRITES}


async def audit_actions(stack: Stack, customer_id: str) -> list[str]:
    async with stack.db.sessions() as s:
        rows = await s.execute(
            select(AuditEntry.action)
            .where(AuditEntry.customer_id == customer_id)
            .order_by(AuditEntry.seq)
        )
        return list(rows.scalars())


# -- notice --------------------------------------------------------------------------


async def test_access_owner_gives_notice_of_fifteen_days(stack: Stack) -> None:
    owners = owners_rule(stack)
    owner, customer_id, owner_id = await admin_of_new_customer(stack, owners)
    today_before = local_date(utcnow())

    resp = await stack.client.post(url(customer_id), json={"by": "customer"}, headers=owner)
    assert resp.status_code == 202, resp.text
    body = resp.json()
    today_after = local_date(utcnow())
    assert body["customer_id"] == customer_id and body["by"] == "customer"
    assert body["status"] == "terminating" and body["terminated_at"] is None
    effective_on = date.fromisoformat(body["effective_on"])
    assert effective_on in {today_before + timedelta(days=15), today_after + timedelta(days=15)}
    requested_at = body["requested_at"]
    assert requested_at.endswith(("+00:00", "Z"))  # RFC 3339 with offset
    requested_on = local_date(datetime.fromisoformat(requested_at.replace("Z", "+00:00")))
    assert effective_on == requested_on + timedelta(days=15)
    # Delegation was asked whether the caller administers this customer.
    assert ("user.manage", "customer", customer_id) in [
        (a, r.type, str(r.customer_id)) for _, a, r in stack.delegation.calls
    ]

    shown = await stack.client.get(url(customer_id), headers=owner)
    assert shown.status_code == 200 and shown.json() == body
    assert (await audit_actions(stack, customer_id))[-1] == "termination.requested"

    # Nothing takes effect before the day: no events, the owner still logs in.
    assert await events_of(stack, customer_id, "customer.terminated") == []
    assert await events_of(stack, customer_id, "user.deactivated") == []
    me = await stack.client.get("/v1/me", headers=owner)
    assert me.status_code == 200 and me.json()["user_id"] == owner_id

    # A second notice, by anyone, while this one is pending: 409, nothing written.
    operator = await stack.operator()
    before = await counts(stack)
    again = await stack.client.post(url(customer_id), json={"by": "customer"}, headers=owner)
    assert again.status_code == 409
    assert again.json()["effective_on"] == body["effective_on"]
    by_operator = await stack.client.post(
        url(customer_id), json={"by": "operator"}, headers=operator
    )
    assert by_operator.status_code == 409
    assert await counts(stack) == before


async def test_who_may_give_notice(stack: Stack) -> None:
    owners = owners_rule(stack)
    owner, customer_id, _ = await admin_of_new_customer(stack, owners)
    other_owner, other_customer, _ = await admin_of_new_customer(stack, owners)
    manager_email, manager_id = await confirmed_invitee(
        stack, owner, customer_id, profile="access_manager", contract={"kind": "management"}
    )
    owners.managers[manager_id] = customer_id  # delegation: managers administer users too
    manager = await stack.bearer(manager_email, INVITEE_PASSWORD)
    user_email, _ = await confirmed_invitee(stack, owner, customer_id)
    portal_user = await stack.bearer(user_email, INVITEE_PASSWORD)
    before = await counts(stack)
    body = {"by": "customer"}

    # The customer's own users know it exists: 403, not 404.
    denied = await stack.client.post(url(customer_id), json=body, headers=portal_user)
    assert denied.status_code == 403
    denied = await stack.client.post(url(customer_id), json=body, headers=manager)
    assert denied.status_code == 403 and "access owner" in denied.json()["detail"]
    assert (await stack.client.get(url(customer_id), headers=portal_user)).status_code == 403
    # Another customer's access owner: as if it did not exist.
    hidden = await stack.client.post(url(customer_id), json=body, headers=other_owner)
    assert hidden.status_code == 404
    assert (await stack.client.get(url(customer_id), headers=other_owner)).status_code == 404
    nowhere = await stack.client.post(url(str(uuid.uuid4())), json=body, headers=owner)
    assert nowhere.status_code == 404
    # The operator's notice is the operator's, even for the customer's access owner.
    not_yours = await stack.client.post(url(customer_id), json={"by": "operator"}, headers=owner)
    assert not_yours.status_code == 403
    other = await stack.client.post(url(customer_id), json={"by": "operator"}, headers=other_owner)
    assert other.status_code == 403
    # Services neither give nor withdraw notice (no service token names identity as its
    # audience: 401); no token at all is 401.
    service = await service_token(stack)
    assert (await stack.client.post(url(customer_id), json=body, headers=service)).status_code == (
        401
    )
    assert (await stack.client.post(url(customer_id), json=body)).status_code == 401
    assert await counts(stack) == before
    assert (await stack.client.get(url(customer_id), headers=owner)).status_code == 404
    assert other_customer  # its own customer stays untouched too
    assert (await stack.client.get(url(other_customer), headers=other_owner)).status_code == 404


async def test_operator_gives_three_months_notice_and_withdraws_it(stack: Stack) -> None:
    owners = owners_rule(stack)
    owner, customer_id, _ = await admin_of_new_customer(stack, owners)
    operator = await stack.operator()
    today_before = local_date(utcnow())

    resp = await stack.client.post(url(customer_id), json={"by": "operator"}, headers=operator)
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["by"] == "operator" and body["status"] == "terminating"
    expected = {add_months(today_before, 3), add_months(local_date(utcnow()), 3)}
    assert date.fromisoformat(body["effective_on"]) in expected

    # The access owner sees it, but cannot call off the operator's notice.
    assert (await stack.client.get(url(customer_id), headers=owner)).json() == body
    assert (await stack.client.delete(url(customer_id), headers=owner)).status_code == 403

    withdrawn = await stack.client.delete(url(customer_id), headers=operator)
    assert withdrawn.status_code == 204
    assert (await stack.client.get(url(customer_id), headers=operator)).status_code == 404
    assert (await stack.client.delete(url(customer_id), headers=operator)).status_code == 404
    assert (await audit_actions(stack, customer_id))[-2:] == [
        "termination.requested",
        "termination.withdrawn",
    ]
    # Once withdrawn, notice can be given again.
    again = await stack.client.post(url(customer_id), json={"by": "operator"}, headers=operator)
    assert again.status_code == 202
    assert again.json()["termination_id"] != body["termination_id"]


async def test_operator_may_give_notice_for_the_customer(stack: Stack) -> None:
    owners = owners_rule(stack)
    owner, customer_id, _ = await admin_of_new_customer(stack, owners)
    resp = await stack.client.post(
        url(customer_id), json={"by": "customer"}, headers=await stack.operator()
    )
    assert resp.status_code == 202
    requested_on = local_date(utcnow())
    assert date.fromisoformat(resp.json()["effective_on"]) in {
        requested_on + timedelta(days=15),
        requested_on + timedelta(days=14),  # the request was just before midnight
    }
    # It is the customer's notice: its access owner may call it off.
    assert (await stack.client.delete(url(customer_id), headers=owner)).status_code == 204


async def test_access_owner_withdraws_its_notice(stack: Stack) -> None:
    owners = owners_rule(stack)
    owner, customer_id, _ = await admin_of_new_customer(stack, owners)
    manager_email, manager_id = await confirmed_invitee(
        stack, owner, customer_id, profile="access_manager", contract={"kind": "management"}
    )
    owners.managers[manager_id] = customer_id
    manager = await stack.bearer(manager_email, INVITEE_PASSWORD)
    assert (await stack.client.delete(url(customer_id), headers=owner)).status_code == 404

    given = await stack.client.post(url(customer_id), json={"by": "customer"}, headers=owner)
    assert given.status_code == 202
    assert (await stack.client.get(url(customer_id), headers=manager)).status_code == 200
    assert (await stack.client.delete(url(customer_id), headers=manager)).status_code == 403
    assert (await stack.client.delete(url(customer_id), headers=owner)).status_code == 204
    assert (await stack.client.get(url(customer_id), headers=owner)).status_code == 404
    async with stack.db.sessions() as s:
        row = await s.get(Termination, uuid.UUID(given.json()["termination_id"]))
        assert row is not None and row.status == "withdrawn" and row.withdrawn_at is not None
    assert (
        await stack.client.post(url(customer_id), json={"by": "customer"}, headers=owner)
    ).status_code == 202


async def test_concurrent_notices_one_wins(stack: Stack) -> None:
    owners = owners_rule(stack)
    owner, customer_id, _ = await admin_of_new_customer(stack, owners)
    operator = await stack.operator()
    results = await asyncio.gather(
        stack.client.post(url(customer_id), json={"by": "customer"}, headers=owner),
        stack.client.post(url(customer_id), json={"by": "operator"}, headers=operator),
    )
    assert sorted(r.status_code for r in results) == [202, 409]
    async with stack.db.sessions() as s:
        rows = (
            await s.execute(
                select(Termination).where(Termination.customer_id == uuid.UUID(customer_id))
            )
        ).scalars()
        assert len(list(rows)) == 1


async def test_bad_input_writes_nothing(stack: Stack) -> None:
    owners = owners_rule(stack)
    owner, customer_id, _ = await admin_of_new_customer(stack, owners)
    before = await counts(stack)
    for body in ({"by": "customer", "reason": "too expensive"}, {}, {"by": "nobody"}, {"by": 1}):
        resp = await stack.client.post(url(customer_id), json=body, headers=owner)
        assert resp.status_code == 422, body
        assert resp.headers["content-type"] == "application/problem+json"
    unknown = await stack.client.post(
        url(customer_id), json={"by": "customer", "reason": "x"}, headers=owner
    )
    assert "reason" in [e["field"] for e in unknown.json()["errors"]]
    malformed = await stack.client.post(
        url(customer_id),
        content=b'{"by": "customer"',
        headers={**owner, "content-type": "application/json"},
    )
    assert malformed.status_code == 400
    bad_id = await stack.client.post(
        "/v1/customers/not-a-uuid/termination", json={"by": "customer"}, headers=owner
    )
    assert bad_id.status_code == 422
    assert await counts(stack) == before
    assert (await stack.client.get(url(customer_id), headers=owner)).status_code == 404


# -- the job ---------------------------------------------------------------------------


@dataclass
class DueNotice:
    """A customer with users in every state, its notice given, and two bystanders."""

    stack: Stack
    operator: Headers
    owner: Headers
    customer_id: str
    owner_id: str
    bob_email: str
    bob_id: str
    bob_tokens: dict[str, Any]
    carol_id: str
    carol_link: str
    dave_id: str
    withdrawn_customer: str
    later_customer: str
    effective_on: date = field(default=date.min)


async def customer_with_users(stack: Stack) -> DueNotice:
    owners = owners_rule(stack)
    owner, customer_id, owner_id = await admin_of_new_customer(stack, owners)
    bob_email, bob_id = await confirmed_invitee(stack, owner, customer_id)
    bob_tokens = (await stack.login(bob_email, INVITEE_PASSWORD)).json()
    # Invited, never confirmed: deactivated too, and the link dies.
    carol = await stack.client.post(
        f"/v1/customers/{customer_id}/users", json=invite_body(), headers=owner
    )
    carol_link = confirm_token((await events_of(stack, customer_id, "notification.requested"))[-1])
    # Removed earlier: no second user.deactivated.
    _, dave_id = await confirmed_invitee(stack, owner, customer_id)
    assert (
        await stack.client.delete(f"/v1/customers/{customer_id}/users/{dave_id}", headers=owner)
    ).status_code == 204
    # Two bystanders: a notice that is withdrawn, one that is not due yet.
    _, withdrawn_customer, _ = await admin_of_new_customer(stack, owners)
    _, later_customer, _ = await admin_of_new_customer(stack, owners)
    return DueNotice(
        stack=stack,
        operator=await stack.operator(),
        owner=owner,
        customer_id=customer_id,
        owner_id=owner_id,
        bob_email=bob_email,
        bob_id=bob_id,
        bob_tokens=bob_tokens,
        carol_id=carol.json()["user_id"],
        carol_link=carol_link,
        dave_id=dave_id,
        withdrawn_customer=withdrawn_customer,
        later_customer=later_customer,
    )


async def notices_given(n: DueNotice) -> None:
    client, operator = n.stack.client, n.operator
    given = await client.post(url(n.customer_id), json={"by": "customer"}, headers=n.owner)
    assert given.status_code == 202
    n.effective_on = date.fromisoformat(given.json()["effective_on"])
    later = await client.post(url(n.later_customer), json={"by": "operator"}, headers=operator)
    assert date.fromisoformat(later.json()["effective_on"]) > n.effective_on
    assert (
        await client.post(url(n.withdrawn_customer), json={"by": "operator"}, headers=operator)
    ).status_code == 202
    assert (await client.delete(url(n.withdrawn_customer), headers=operator)).status_code == 204


async def job_takes_effect_once(n: DueNotice) -> None:
    stack, deps = n.stack, n.stack.app.state.deps
    # The day before: nothing happens.
    day_before, day_after = n.effective_on - timedelta(days=1), n.effective_on + timedelta(days=1)
    assert await apply_due_terminations(stack.db, deps, today=day_before) == []
    assert await events_of(stack, n.customer_id, "customer.terminated") == []

    # On the day (the job ran late: a day past it): exactly this customer.
    outbox_before = await stack.count("outbox")
    done = await apply_due_terminations(stack.db, deps, today=day_after)
    assert [str(c) for c in done] == [n.customer_id]

    terminated = await events_of(stack, n.customer_id, "customer.terminated")
    assert len(terminated) == 1
    payload = parse_data(terminated[0], CustomerTerminatedV1)
    assert str(payload.customer_id) == n.customer_id and payload.by == "customer"
    assert payload.effective_on == n.effective_on and payload.reason == "requested"
    assert payload.requested_at is not None and payload.terminated_at.tzinfo is not None
    assert terminated[0].subject == n.customer_id
    deactivated = [
        parse_data(e, UserDeactivatedV1)
        for e in await events_of(stack, n.customer_id, "user.deactivated")
    ]
    by_reason = {(str(d.user_id), d.reason) for d in deactivated}
    assert by_reason == {
        (n.dave_id, "removed"),
        (n.owner_id, "customer_terminated"),
        (n.bob_id, "customer_terminated"),
        (n.carol_id, "customer_terminated"),
    }
    assert len(deactivated) == 4  # one each
    # 1 customer + 3 users, and their 4 entries in the customer's audit trail.
    assert await stack.count("outbox") == outbox_before + 8
    trail = await events_of(stack, n.customer_id, "audit.recorded")
    assert sorted(e.data["action"] for e in trail[-4:]) == [
        "customer.terminated",
        "user.removed",
        "user.removed",
        "user.removed",
    ]
    assert all(e.data["actor"] == {"kind": "system", "id": None} for e in trail[-4:])

    # Run again, or later: nothing more.
    assert await apply_due_terminations(stack.db, deps, today=day_after) == []
    assert await stack.count("outbox") == outbox_before + 8


async def users_are_out(n: DueNotice) -> None:
    """No login, no refresh, /v1/me refuses their still-valid tokens, links are dead."""
    client = n.stack.client
    bob = {"Authorization": f"Bearer {n.bob_tokens['access_token']}"}
    assert (await client.get("/v1/me", headers=n.operator)).status_code == 200
    assert (await n.stack.login(n.bob_email, INVITEE_PASSWORD)).status_code == 401
    refresh = await client.post(
        "/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": n.bob_tokens["refresh_token"]},
    )
    assert refresh.status_code == 401
    assert (await client.get("/v1/me", headers=bob)).status_code == 401
    assert (await client.get("/v1/me", headers=n.owner)).status_code == 401
    link = await client.post(
        "/v1/users/confirm", json={"token": n.carol_link, "password": INVITEE_PASSWORD}
    )
    assert link.status_code in (400, 410)


async def customer_gone_bystanders_unchanged(n: DueNotice) -> None:
    client, operator, customer_id = n.stack.client, n.operator, n.customer_id
    # The customer is gone for its users; operator staff see what happened.
    assert (await client.get(url(customer_id), headers=n.owner)).status_code == 404
    shown = await client.get(url(customer_id), headers=operator)
    assert shown.status_code == 200
    assert shown.json()["status"] == "terminated" and shown.json()["terminated_at"]
    assert (await client.delete(url(customer_id), headers=operator)).status_code == 409
    again = await client.post(url(customer_id), json={"by": "operator"}, headers=operator)
    assert again.status_code == 409
    assert (
        await client.post(url(customer_id), json={"by": "customer"}, headers=n.owner)
    ).status_code == 404
    invite = await client.post(
        f"/v1/customers/{customer_id}/users", json=invite_body(), headers=operator
    )
    assert invite.status_code == 404

    # The bystanders are as they were.
    assert (await client.get(url(n.withdrawn_customer), headers=operator)).status_code == 404
    pending = await client.get(url(n.later_customer), headers=operator)
    assert pending.json()["status"] == "terminating"
    assert await events_of(n.stack, n.later_customer, "customer.terminated") == []

    actions = await audit_actions(n.stack, customer_id)
    assert actions.count("customer.terminated") == 1
    assert actions.count("user.deactivated") == 4  # dave's removal + three by the job
    async with n.stack.db.sessions() as s:
        assert (await audit.verify(s)).ok


async def test_job_terminates_the_customer_once(make_stack: StackFactory) -> None:
    stack = await make_stack()  # its own database: the job looks at every customer
    due = await customer_with_users(stack)
    await notices_given(due)
    await job_takes_effect_once(due)
    await users_are_out(due)
    await customer_gone_bystanders_unchanged(due)


async def test_two_instances_terminate_each_customer_once(make_stack: StackFactory) -> None:
    first = await make_stack()
    second = await make_stack(database_url=first.settings.database_url)
    owners = owners_rule(first)
    operator = await first.operator()
    customers = []
    for _ in range(6):
        owner, customer_id, _ = await admin_of_new_customer(first, owners)
        await confirmed_invitee(first, owner, customer_id)
        resp = await first.client.post(url(customer_id), json={"by": "customer"}, headers=operator)
        assert resp.status_code == 202
        customers.append(customer_id)
    today = local_date(utcnow()) + timedelta(days=16)

    results = await asyncio.gather(
        apply_due_terminations(first.db, first.app.state.deps, today=today),
        apply_due_terminations(second.db, second.app.state.deps, today=today),
        apply_due_terminations(second.db, second.app.state.deps, today=today),
    )
    done = [str(c) for result in results for c in result]
    assert sorted(done) == sorted(customers)  # each once, by one of them
    for customer_id in customers:
        assert len(await events_of(first, customer_id, "customer.terminated")) == 1
        deactivated = await events_of(first, customer_id, "user.deactivated")
        assert len(deactivated) == 2  # the registrant and the invitee
    async with first.db.sessions() as s:
        assert (await audit.verify(s)).ok


async def test_the_scheduled_job_runs_on_its_own(make_stack: StackFactory) -> None:
    stack = await make_stack(termination_job_enabled=True, termination_job_interval_s=0.1)
    owners = owners_rule(stack)
    owner, customer_id, _ = await admin_of_new_customer(stack, owners)
    owner_email = (await stack.client.get("/v1/me", headers=owner)).json()["email"]
    given = await stack.client.post(url(customer_id), json={"by": "customer"}, headers=owner)
    assert given.status_code == 202
    # Pretend the notice was given more than 15 days ago.
    async with stack.db.transaction() as s:
        await s.execute(
            update(Termination)
            .where(Termination.customer_id == uuid.UUID(customer_id))
            .values(effective_on=local_date(utcnow()) - timedelta(days=1))
        )
    for _ in range(100):
        if await events_of(stack, customer_id, "customer.terminated"):
            break
        await asyncio.sleep(0.05)
    assert len(await events_of(stack, customer_id, "customer.terminated")) == 1
    assert (await stack.client.get("/v1/me", headers=owner)).status_code == 401
    assert (await stack.login(owner_email, GOOD_PASSWORD)).status_code == 401
    await asyncio.sleep(0.3)  # a few more rounds of the job: still once
    assert len(await events_of(stack, customer_id, "customer.terminated")) == 1
