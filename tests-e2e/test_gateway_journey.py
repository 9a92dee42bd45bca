"""The access journey through the gateway: one origin (nginx, generated route table) in
front of the six real services, as a web client uses them."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from e2e_stack import OPERATOR_EMAIL, OPERATOR_PASSWORD
from portal_client import Portal, Sinks, bearer
from stack import SERVICES, Stack

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def gateway_url(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    stack.gateway_dir = tmp_path_factory.mktemp("gateway")
    yield stack.start_gateway(_free_port())
    stack.stop("gateway")


def test_a_customer_onboards_and_works_through_the_one_origin(
    gateway_url: str, sinks: Sinks
) -> None:
    # Every service reached at the same base URL: the gateway picks the service by path.
    portal = Portal({s: gateway_url for s in SERVICES}, (OPERATOR_EMAIL, OPERATOR_PASSWORD))
    customer = portal.onboard(sinks)  # identity: register, accept, confirm, login, /v1/me
    headers = customer["headers"]

    jwks = httpx.get(gateway_url + "/.well-known/jwks.json")
    assert jwks.status_code == 200 and jwks.json()["keys"]

    resources = portal.delegation.get(
        f"/v1/subjects/{customer['user_id']}/resources",
        params={"type": "sim", "action": "sim.read"},
        headers=headers,
    )
    assert resources.status_code == 200, resources.text

    catalogue = portal.fleet.get("/v1/catalogue", headers=headers)
    assert catalogue.status_code == 200, catalogue.text

    accounts = portal.billing.get(
        f"/v1/customers/{customer['customer_id']}/billing-accounts", headers=headers
    )
    assert accounts.status_code == 200, accounts.text

    notifications = portal.notifier.get("/v1/operator/notifications", headers=portal.operator())
    assert notifications.status_code == 200, notifications.text
    assert notifications.headers["x-request-id"]


def test_a_service_error_passes_the_gateway_unchanged(gateway_url: str) -> None:
    answer = httpx.get(gateway_url + "/v1/me", headers=bearer("not-a-token"))
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
