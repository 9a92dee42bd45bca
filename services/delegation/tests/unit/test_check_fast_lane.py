"""The check's fast lane (ADR 0026) gives exactly the route's answers, refusals included,
and answers the allowed questions itself."""

from __future__ import annotations

import uuid
from typing import Any

from delegation_env import Env, customer_resource

from servicekit.testing import fast_lane_answers, without_fast_lane


def _ask(subject: uuid.UUID, customer_id: uuid.UUID, action: str = "invoice.read") -> Any:
    return {
        "subject": str(subject),
        "action": action,
        "resource": {k: str(v) for k, v in customer_resource(customer_id).items()},
    }


async def test_the_lane_answers_as_the_route_does_for_every_kind_of_caller(env: Env) -> None:
    a, b = await env.register(), await env.register()
    colleague = await env.invite(a.customer_id)
    own, other = _ask(a.registrant, a.customer_id), _ask(b.registrant, b.customer_id)
    cases: list[tuple[str, str, dict[str, str], Any]] = [
        ("own right", "/v1/check", env.user(a.registrant, a.customer_id), own),
        ("service asks", "/v1/check", env.service(), own),
        ("operator asks", "/v1/check", env.operator(), other),
        ("another customer's data", "/v1/check", env.service(), _ask(a.registrant, b.customer_id)),
        (
            "owner asks about a colleague",
            "/v1/check",
            env.user(a.registrant),
            _ask(colleague, a.customer_id),
        ),
        ("user asks about another customer's user", "/v1/check", env.user(a.registrant), other),
        ("colleague asks about the owner", "/v1/check", env.user(colleague), own),
        ("a service without the check scope", "/v1/check", env.service("notifier"), own),
        ("no token", "/v1/check", {}, own),
        ("a forged token", "/v1/check", {"Authorization": "Bearer x.y.z"}, own),
        ("missing field", "/v1/check", env.service(), {"subject": str(a.registrant)}),
        ("unknown action", "/v1/check", env.service(), {**own, "action": "everything"}),
        ("not JSON", "/v1/check", env.service(), b"{"),
        ("batch", "/v1/check/batch", env.service(), {"checks": [own, other, own]}),
        ("batch over 500", "/v1/check/batch", env.service(), {"checks": [own] * 501}),
        (
            "batch naming another customer's user",
            "/v1/check/batch",
            env.user(a.registrant),
            {"checks": [own, other]},
        ),
    ]

    async def ask(path: str, headers: dict[str, str], body: Any) -> tuple[int, str, Any]:
        if isinstance(body, bytes):
            headers = {**headers, "Content-Type": "application/json"}
            resp = await env.client.post(path, headers=headers, content=body)
        else:
            resp = await env.client.post(path, headers=headers, json=body)
        return resp.status_code, resp.headers["content-type"], resp.json()

    with fast_lane_answers(env.kit) as given:
        fast = [await ask(path, h, body) for _, path, h, body in cases]
    with without_fast_lane(env.kit):
        routed = [await ask(path, h, body) for _, path, h, body in cases]

    for (name, *_), f, r in zip(cases, fast, routed, strict=True):
        assert f == r, name
    statuses = {name: f[0] for (name, *_), f in zip(cases, fast, strict=True)}
    assert statuses["own right"] == 200 and fast[0][2] == {
        "allowed": True,
        "reason": "access_owner",
    }
    assert statuses["no token"] == 401 and statuses["missing field"] == 422
    assert statuses["user asks about another customer's user"] == 403
    # Every 200 came from the lane; every refusal from the route.
    assert given == [200] * sum(1 for s in statuses.values() if s == 200)


async def test_a_text_body_is_left_to_the_route(env: Env) -> None:
    a = await env.register()
    with fast_lane_answers(env.kit) as given:
        resp = await env.client.post(
            "/v1/check",
            headers={**env.service(), "Content-Type": "text/plain"},
            content=b'{"subject": "%s"}' % str(a.registrant).encode(),
        )
    assert resp.status_code == 422
    assert given == []
