"""A revoked right is refused by every service once that service has read the
revocation's ``delegation.changed`` (ADR 0022): their decision caches are evicted by the
event, not by age. The caches here (and delegation's projection) keep answers for an hour,
so only the event can explain the refusal.

Run alone with its own ports: ``E2E_PORT_BASE=19501 uv run pytest tests-e2e/test_revocation.py``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from e2e_stack import OPERATOR_EMAIL, OPERATOR_PASSWORD, running_stack
from portal_client import Portal, Sinks, bearer, eventually, unique_email
from stack import SERVICES, Stack

pytestmark = pytest.mark.e2e

READERS = ("billing", "einvoice")
HOUR = "3600"


@pytest.fixture(scope="module")
def long_cache_stack() -> Iterator[Stack]:
    extra = {f"{s.upper()}_DELEGATION_CACHE_TTL_S": HOUR for s in SERVICES}
    extra["DELEGATION_PROJECTION_TTL_S"] = HOUR
    with running_stack(extra_env=extra) as stack:
        yield stack


def _metric(client: httpx.Client, name: str, label: str) -> float:
    text = client.get("/metrics").text
    pattern = rf"^{name}\{{[^}}]*{label}[^}}]*\}} (\S+)$"
    return sum(float(v) for v in re.findall(pattern, text, re.M))


def _events_read(client: httpx.Client) -> float:
    return _metric(client, "broadcast_events_total", 'topic="delegation.changed"')


def _cache_misses(client: httpx.Client) -> float:
    return _metric(client, "rights_cache_lookups_total", 'outcome="miss"')


def _answered_from_cache(
    portal: Portal, probes: dict[str, str], headers: dict[str, str]
) -> dict[str, float] | None:
    """One round: every probe is allowed without asking delegation (the answer is in the
    reader's cache) and no reader read an event meanwhile. Returns each reader's count of
    events read, or None to try again (an earlier grant's event was still arriving: an
    answer fetched across it is not kept, by design)."""
    clients = {name: getattr(portal, name) for name in probes}
    read = {name: _events_read(c) for name, c in clients.items()}
    for name, client in clients.items():
        misses = _cache_misses(client)
        if client.get(probes[name], headers=headers).status_code != 200:
            return None
        if _cache_misses(client) != misses:
            return None
    if any(_events_read(c) != read[name] for name, c in clients.items()):
        return None
    return read


def _onboard_user(portal: Portal, sinks: Sinks) -> dict[str, Any]:
    owner = portal.onboard(sinks)
    op = portal.operator()
    resp = portal.billing.post(
        "/v1/operator/billing-accounts",
        headers=op,
        json={"customer_id": owner["customer_id"], "kind": "mobile", "name": "Revocation"},
    )
    assert resp.status_code == 201, resp.text
    account = resp.json()["billing_account_id"]
    email, password = unique_email("revoked"), "Revoked-Passw0rd-" + uuid.uuid4().hex[:6]
    invitation = {
        "email": email,
        "first_name": "Bo",
        "last_name": "Janssens",
        "locale": "en",
        "contract": {"kind": "employee"},
        "profile": "portal_user",
    }
    resp = eventually(
        lambda: (
            (
                r := portal.identity.post(
                    f"/v1/customers/{owner['customer_id']}/users",
                    headers=owner["headers"],
                    json=invitation,
                )
            ).status_code
            == 201
            and r
        ),
        what="the access owner may invite (its rights reached delegation)",
    )
    user_id = resp.json()["user_id"]
    mail = sinks.wait_mail(email)[0]
    confirmed = portal.identity.post(
        "/v1/users/confirm", json={"token": sinks.link_token(mail), "password": password}
    )
    assert confirmed.status_code == 200, confirmed.text
    return {
        "owner": owner,
        "account": account,
        "user_id": user_id,
        "user": bearer(portal.login(email, password)),
    }


def test_a_revoked_right_is_refused_by_each_service_once_it_read_the_event(
    long_cache_stack: Stack, sinks: Sinks
) -> None:
    stack = long_cache_stack
    portal = Portal({s: stack.url(s) for s in SERVICES}, (OPERATOR_EMAIL, OPERATOR_PASSWORD))
    p = _onboard_user(portal, sinks)
    customer, account = p["owner"]["customer_id"], p["account"]
    grant = {
        "user_id": p["user_id"],
        "profile": "portal_user",
        "scope": {"billing_accounts": [account]},
        "permissions": ["read"],
    }
    path = f"/v1/customers/{customer}/assignments"

    def granted() -> httpx.Response | None:
        resp = portal.delegation.post(path, headers=p["owner"]["headers"], json=grant)
        if resp.status_code == 404 and resp.json().get("reason") == "unknown_user":
            return None  # delegation has not read the user's user.created yet
        assert resp.status_code == 201, resp.text
        return resp

    resp = eventually(granted, what="delegation knows the new user and records the grant")
    probes = {
        "billing": f"/v1/billing-accounts/{account}/invoices",
        "einvoice": f"/v1/billing-accounts/{account}/delivery",
    }
    # Allowed, and the answer cached for an hour: only an evicting event can change it.
    read_before = eventually(
        lambda: _answered_from_cache(portal, probes, p["user"]),
        what="billing and einvoice allow the user from their caches",
    )

    resp = portal.delegation.delete(
        f"{path}/{resp.json()['assignment_id']}", headers=p["owner"]["headers"]
    )
    assert resp.status_code == 204, resp.text

    for name in READERS:
        client = getattr(portal, name)
        refused = eventually(
            lambda c=client, u=probes[name]: (
                (code := c.get(u, headers=p["user"]).status_code) in (403, 404) and code
            ),
            what=f"{name} refuses the revoked right (its cached answer lives an hour)",
        )
        assert refused in (403, 404)
        assert _events_read(client) > read_before[name]  # evicted by reading the event
