"""The stack the authorization benchmarks run against, and the people in it.

Starts the six services as processes on their own ports (``--port-base``, default 19501)
with fresh databases (SQLite files in a temporary folder, or fresh PostgreSQL databases
with ``--db postgres``), fresh consumer groups, sharing the running Kafka, Redis and mail
sink; then registers a customer through the public API, accepts it, confirms and logs in
its access owner, opens a billing account, and invites a portal user.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "deploy" / "local"))

from portal_client import (  # noqa: E402
    Portal,
    Sinks,
    bearer,
    eventually,
    post_calls,
    run_billing,
    unique_email,
)
from stack import SERVICES, Stack  # noqa: E402

OPERATOR = ("operator-bench@portal.local", "Operator-bench-Passw0rd!")
SINK_URL = os.environ.get("SINK_URL", "http://127.0.0.1:8025")


@dataclass
class People:
    customer_id: str
    account_id: str
    owner_id: str
    owner_token: str
    user_id: str
    user_email: str
    user_password: str


def _postgres_urls() -> dict[str, str]:
    from servicekit.testing import fresh_database_url, use_postgres

    use_postgres()

    async def make() -> dict[str, str]:
        return {s: await fresh_database_url(s) for s in SERVICES}

    return asyncio.run(make())


def _drop(urls: dict[str, str]) -> None:
    from servicekit.testing import drop_database

    async def drop() -> None:
        for url in urls.values():
            await drop_database(url)

    asyncio.run(drop())


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def running_stack(
    db: str, port_base: int, extra_env: dict[str, str] | None = None
) -> Iterator[Stack]:
    run = uuid.uuid4().hex[:8]
    ports = {s: port_base + i for i, s in enumerate(SERVICES)}
    folder = tempfile.mkdtemp(prefix=f"bench-{run}-")
    urls = (
        _postgres_urls()
        if db == "postgres"
        else {s: f"sqlite+aiosqlite:///{folder}/{s}.db" for s in SERVICES}
    )
    env = {
        "IDENTITY_OPERATOR_EMAIL": OPERATOR[0],
        "IDENTITY_OPERATOR_PASSWORD": OPERATOR[1],
        "NOTIFIER_SMS_URL": f"{SINK_URL}/api/sms",
        # One line per request would cost as much as the check itself.
        "LOG_LEVEL": "WARNING",
        "IDENTITY_ACCESS_TOKEN_TTL_S": "3600",
        **{f"{s.upper()}_URL": f"http://127.0.0.1:{p}" for s, p in ports.items()},
        "IDENTITY_PUBLIC_URL": f"http://127.0.0.1:{ports['identity']}",
        "EINVOICE_PUBLIC_URL": f"http://127.0.0.1:{ports['einvoice']}",
        **(extra_env or {}),
    }
    service_env = {
        s: {
            f"{s.upper()}_DATABASE_URL": urls[s],
            # Starts with the service's name: its principal may use only such groups (ADR 24).
            f"{s.upper()}_CONSUMER_GROUP": f"{s}-bench-{run}",
            f"{s.upper()}_CONSUMER_OFFSET_RESET": "latest",
        }
        for s in SERVICES
    }
    # A stack left running on these ports (an earlier run not stopped) would answer in
    # place of this one: its figures would be for the wrong database.
    taken = [f"{s} ({p})" for s, p in ports.items() if _listening(p)]
    if taken:
        raise SystemExit(
            f"ports already in use: {', '.join(taken)}; stop what runs there (an earlier "
            "bench stack?) or pass another --port-base"
        )
    stack = Stack(
        ports=ports, env=env, service_env=service_env, log_dir=REPO / "var" / "log" / f"bench-{run}"
    )
    stack.start_all()
    try:
        stack.wait_ready(timeout_s=600)
        yield stack
    finally:
        stack.stop_all()
        if db == "postgres":
            _drop(urls)


def portal_of(stack: Stack) -> Portal:
    return Portal({s: stack.url(s) for s in SERVICES}, OPERATOR)


def set_up_people(portal: Portal) -> People:
    sinks = Sinks(SINK_URL)
    owner = portal.onboard(sinks)
    op = portal.operator()
    resp = portal.billing.post(
        "/v1/operator/billing-accounts",
        headers=op,
        json={"customer_id": owner["customer_id"], "kind": "mobile", "name": "Bench"},
    )
    assert resp.status_code == 201, resp.text
    account_id = resp.json()["billing_account_id"]
    email, password = unique_email("bench-user"), "Bench-Passw0rd-" + uuid.uuid4().hex[:6]
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
            != 503
            and r
        ),
        what="the invitation is answered (rights reach delegation through Kafka)",
    )
    assert resp.status_code == 201, resp.text
    user_id = resp.json()["user_id"]
    mail = sinks.wait_mail(email)[0]
    resp = portal.identity.post(
        "/v1/users/confirm", json={"token": sinks.link_token(mail), "password": password}
    )
    assert resp.status_code == 200, resp.text
    people = People(
        customer_id=owner["customer_id"],
        account_id=account_id,
        owner_id=owner["user_id"],
        owner_token=owner["token"],
        user_id=user_id,
        user_email=email,
        user_password=password,
    )
    # The owner's rights reach delegation through Kafka: wait until billing lets them in.
    eventually(
        lambda: (
            portal.billing.get(
                invoices_path(people), headers=bearer(people.owner_token)
            ).status_code
            == 200
        ),
        what="the access owner may list the account's invoices",
    )
    return people


def add_invoices(portal: Portal, people: People, months: int = 12) -> int:
    """A year of closed invoices on the bench's account (one call a month, then a billing
    run per period), so the list answers a realistic page rather than an empty one.
    Returns how many invoices the list shows."""
    op = portal.operator()
    today = date.today().replace(day=1)
    periods = []
    for back in range(1, months + 1):
        year, month = divmod(today.year * 12 + today.month - 1 - back, 12)
        periods.append(f"{year:04d}-{month + 1:02d}")
    post_calls(portal, op, [(people.account_id, "+32470000001", p) for p in periods])
    for period in periods:
        run_billing(portal, period, [people.account_id])
    resp = portal.billing.get(invoices_path(people), headers=bearer(people.owner_token))
    return len(resp.json()["items"])


def invoices_path(people: People) -> str:
    return f"/v1/billing-accounts/{people.account_id}/invoices"


def check_body(people: People) -> dict[str, Any]:
    return {
        "subject": people.owner_id,
        "action": "invoice.read",
        "resource": {
            "type": "billing_account",
            "id": people.account_id,
            "customer_id": people.customer_id,
        },
    }


def wait(seconds: float) -> None:
    time.sleep(seconds)
