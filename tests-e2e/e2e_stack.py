"""The whole system for end-to-end and chaos runs: six service processes on their own
ports with fresh PostgreSQL databases, sharing the real Kafka, Redis and SMTP/SMS sinks.

Consumer groups are new for each run and start at the end of the topics, so events of
earlier runs on the same broker are not replayed into this run's fresh databases.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "deploy" / "local"))

from stack import SERVICES, Stack  # noqa: E402

OPERATOR_EMAIL = "operator-e2e@portal.local"
OPERATOR_PASSWORD = "Operator-e2e-Passw0rd!"
# E2E_PORT_BASE lets a second run (another checkout) use other ports on the same machine.
E2E_PORTS = {s: int(os.environ.get("E2E_PORT_BASE", "18001")) + i for i, s in enumerate(SERVICES)}
SINK_URL = os.environ.get("SINK_URL", "http://127.0.0.1:8025")


def _databases() -> dict[str, str]:
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


@contextmanager
def running_stack(
    *,
    sending_lease_s: int = 20,
    billing_run_lease_s: int = 60,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """Start the six services, wait until they are ready, stop them and drop their
    databases afterwards. Leases are short so that a killed process's work is taken over
    within a test's wait (they are minutes in production)."""
    run = uuid.uuid4().hex[:8]
    databases = _databases()
    env = {
        "IDENTITY_OPERATOR_EMAIL": OPERATOR_EMAIL,
        "IDENTITY_OPERATOR_PASSWORD": OPERATOR_PASSWORD,
        "NOTIFIER_SMS_URL": f"{SINK_URL}/api/sms",
        "LOG_LEVEL": "INFO",
        "IDENTITY_URL": f"http://127.0.0.1:{E2E_PORTS['identity']}",
        "DELEGATION_URL": f"http://127.0.0.1:{E2E_PORTS['delegation']}",
        "BILLING_URL": f"http://127.0.0.1:{E2E_PORTS['billing']}",
        "FLEET_URL": f"http://127.0.0.1:{E2E_PORTS['fleet']}",
        "IDENTITY_PUBLIC_URL": f"http://127.0.0.1:{E2E_PORTS['identity']}",
        "EINVOICE_PUBLIC_URL": f"http://127.0.0.1:{E2E_PORTS['einvoice']}",
        **(extra_env or {}),
    }
    service_env = {
        s: {
            f"{s.upper()}_DATABASE_URL": databases[s],
            # Starts with the service's name: its principal may use only such groups (ADR 24).
            f"{s.upper()}_CONSUMER_GROUP": f"{s}-e2e-{run}",
            f"{s.upper()}_CONSUMER_OFFSET_RESET": "latest",
            f"{s.upper()}_CONSUMER_BACKOFF_INITIAL_S": "0.1",
            f"{s.upper()}_CONSUMER_BACKOFF_MAX_S": "1",
        }
        for s in SERVICES
    }
    service_env["notifier"].update(
        {
            "NOTIFIER_SENDING_LEASE_S": str(sending_lease_s),
            # Short waits after a provider outage, so the fault tests take seconds.
            "NOTIFIER_OUTAGE_RETRY_S": "2",
            "NOTIFIER_BREAKER_OPEN_S": "2",
            "NOTIFIER_BREAKER_OPEN_MAX_S": "5",
        }
    )
    service_env["billing"]["BILLING_BILLING_RUN_LEASE_S"] = str(billing_run_lease_s)
    stack = Stack(
        ports=dict(E2E_PORTS),
        env=env,
        service_env=service_env,
        log_dir=HERE.parent / "var" / "log" / f"e2e-{run}",
    )
    stack.start_all()
    try:
        # A loaded shared machine may need longer: E2E_READY_TIMEOUT_S.
        stack.wait_ready(timeout_s=float(os.environ.get("E2E_READY_TIMEOUT_S", "180")))
        yield stack
    finally:
        stack.stop_all()
        _drop(databases)
        print(f"\ne2e service logs: {stack.log_dir}")
