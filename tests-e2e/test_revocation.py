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


def _events_read(client: httpx.Client) -> float:
    text = client.get("/metrics").text
    pattern = r'^broadcast_events_total\{[^}]*topic="delegation.changed"[^}]*\} (\S+)$'
    found = re.findall(pattern, text, re.M)
    return sum(float(v) for v in found)


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
    resp = portal.delegation.post(path, headers=p["owner"]["headers"], json=grant)
    assert resp.status_code == 201, resp.text
    probes = {
        "billing": f"/v1/billing-accounts/{account}/invoices",
        "einvoice": f"/v1/billing-accounts/{account}/delivery",
    }
    for name, probe in probes.items():  # allowed, and now cached for an hour
        client = getattr(portal, name)
        eventually(
            lambda c=client, u=probe: c.get(u, headers=p["user"]).status_code == 200,
            what=f"{name} lets the user read the account",
        )
    read_before = {name: _events_read(getattr(portal, name)) for name in READERS}

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
