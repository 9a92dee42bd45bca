"""Readiness is about this instance (its database); shared dependencies are reported,
not allowed to take every replica out of service."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from servicekit.app import ServiceKit, create_app
from servicekit.db import new_metadata
from servicekit.settings import ServiceSettings
from servicekit.testing import running


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(tmp_path: Path, **extra: object) -> ServiceSettings:
    dead = _closed_port()
    values: dict[str, object] = {
        "service_name": "probe",
        "database_url": f"sqlite+aiosqlite:///{tmp_path}/probe.db",
        "kafka_bootstrap_servers": f"127.0.0.1:{dead}",
        "redis_url": f"redis://127.0.0.1:{dead}/0",
        "relay_enabled": False,
        "consumer_enabled": False,
        **extra,
    }
    return ServiceSettings(**values)  # type: ignore[arg-type]


async def test_broker_and_redis_outage_keep_the_instance_ready(tmp_path: Path) -> None:
    kit = ServiceKit(_settings(tmp_path), metadata=new_metadata(), migrations_dir=None)
    app = create_app(kit, routers=[], title="probe")
    async with running(app) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok"}
        deps = await kit.check_dependencies()
        assert deps["database"] == "ok"
        assert deps["kafka"].startswith("unavailable")
        assert "redis" not in deps  # a service without Redis does not connect to it
        health = await client.get("/healthz")
        assert health.status_code == 200
        assert health.json()["dependencies"]["kafka"].startswith("unavailable")


async def test_a_service_using_redis_reports_it_down_but_stays_ready(tmp_path: Path) -> None:
    kit = ServiceKit(
        _settings(tmp_path), metadata=new_metadata(), migrations_dir=None, uses_redis=True
    )
    app = create_app(kit, routers=[], title="probe")
    async with running(app) as client:
        assert (await client.get("/readyz")).status_code == 200
        deps = await kit.check_dependencies()
        assert deps["redis"].startswith("unavailable")


async def test_the_database_down_makes_the_instance_unready(tmp_path: Path) -> None:
    dead = _closed_port()
    settings = _settings(
        tmp_path, database_url=f"postgresql+asyncpg://portal:portal@127.0.0.1:{dead}/x"
    )
    kit = ServiceKit(settings, metadata=new_metadata(), migrations_dir=None)
    app = create_app(kit, routers=[], title="probe")
    async with running(app) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("unavailable")


async def test_a_shutdown_hook_that_never_ends_is_cut_off_at_the_budget(tmp_path: Path) -> None:
    kit = ServiceKit(
        _settings(tmp_path, shutdown_budget_s=0.2), metadata=new_metadata(), migrations_dir=None
    )
    cancelled: list[bool] = []

    async def hangs(_kit: ServiceKit) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    kit.on_shutdown.append(hangs)
    app = create_app(kit, routers=[], title="probe")
    async with running(app):
        pass
    assert cancelled == [True]
    assert kit.shutdown_time_left() == 0.0
