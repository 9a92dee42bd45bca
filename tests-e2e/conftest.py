"""The whole system for end-to-end tests: six service processes on their own ports and
fresh PostgreSQL databases, sharing the real Kafka, Redis and SMTP/SMS sinks.

Consumer groups are new for each run and start at the end of the topics, so events of
earlier runs on the same broker are not replayed into this run's fresh databases.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "deploy" / "local"))

from portal_client import Portal, Sinks  # noqa: E402
from stack import SERVICES, Stack  # noqa: E402

OPERATOR_EMAIL = "operator-e2e@portal.local"
OPERATOR_PASSWORD = "Operator-e2e-Passw0rd!"
E2E_PORTS = {s: 18001 + i for i, s in enumerate(SERVICES)}


def _databases(run: str) -> dict[str, str]:
    from servicekit.testing import fresh_database_url

    async def make() -> dict[str, str]:
        return {s: await fresh_database_url(s) for s in SERVICES}

    return asyncio.run(make())


def _drop(databases: dict[str, str]) -> None:
    from servicekit.testing import drop_database

    async def drop() -> None:
        for url in databases.values():
            await drop_database(url)

    asyncio.run(drop())


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    run = uuid.uuid4().hex[:8]
    databases = _databases(run)
    sink = os.environ.get("SINK_URL", "http://127.0.0.1:8025")
    env = {
        "IDENTITY_OPERATOR_EMAIL": OPERATOR_EMAIL,
        "IDENTITY_OPERATOR_PASSWORD": OPERATOR_PASSWORD,
        "NOTIFIER_SMS_URL": f"{sink}/api/sms",
        "LOG_LEVEL": "INFO",
        "IDENTITY_URL": f"http://127.0.0.1:{E2E_PORTS['identity']}",
        "DELEGATION_URL": f"http://127.0.0.1:{E2E_PORTS['delegation']}",
        "BILLING_URL": f"http://127.0.0.1:{E2E_PORTS['billing']}",
        "IDENTITY_PUBLIC_URL": f"http://127.0.0.1:{E2E_PORTS['identity']}",
        "EINVOICE_PUBLIC_URL": f"http://127.0.0.1:{E2E_PORTS['einvoice']}",
    }
    service_env = {
        s: {
            f"{s.upper()}_DATABASE_URL": databases[s],
            f"{s.upper()}_CONSUMER_GROUP": f"e2e-{run}-{s}",
            f"{s.upper()}_CONSUMER_OFFSET_RESET": "latest",
            f"{s.upper()}_CONSUMER_BACKOFF_INITIAL_S": "0.1",
            f"{s.upper()}_CONSUMER_BACKOFF_MAX_S": "1",
        }
        for s in SERVICES
    }
    # A notifier killed mid-send leaves its claimed rows to be taken over after this lease
    # (120 s in production); short here so the crash test does not wait minutes.
    service_env["notifier"]["NOTIFIER_SENDING_LEASE_S"] = "20"
    stack = Stack(
        ports=dict(E2E_PORTS),
        env=env,
        service_env=service_env,
        log_dir=HERE.parent / "var" / "log" / f"e2e-{run}",
    )
    stack.start_all()
    try:
        stack.wait_ready(timeout_s=180)
        yield stack
    finally:
        stack.stop_all()
        _drop(databases)
        print(f"\ne2e service logs: {stack.log_dir}")


@pytest.fixture(scope="session")
def portal(stack: Stack) -> Portal:
    return Portal({s: stack.url(s) for s in SERVICES}, (OPERATOR_EMAIL, OPERATOR_PASSWORD))


@pytest.fixture(scope="session")
def sinks() -> Sinks:
    return Sinks(os.environ.get("SINK_URL", "http://127.0.0.1:8025"))
