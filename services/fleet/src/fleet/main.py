"""The fleet service's app: SIMs, subscriptions, devices, consumption, fleet manager."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from fleet import api, handlers
from fleet.deps import Delegation, Deps
from fleet.models import Base
from fleet.service import consumption
from fleet.settings import FleetSettings
from servicekit.app import ServiceKit
from servicekit.app import create_app as build_app
from servicekit.auth import TokenVerifier

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(
    settings: FleetSettings | None = None,
    *,
    verifier: TokenVerifier | None = None,
    delegation: Delegation | None = None,
) -> FastAPI:
    settings = settings or FleetSettings()
    kit = ServiceKit(settings, metadata=Base.metadata, migrations_dir=MIGRATIONS_DIR)
    if verifier is not None:
        kit.verifier = verifier
    deps = Deps(settings=settings, outbox=kit.outbox, delegation=delegation or kit.delegation)
    kit.subscribe(handlers.event_handlers(deps))

    async def retention(kit: ServiceKit) -> None:
        async with kit.db.transaction() as session:
            await consumption.apply_retention(session, deps)

    kit.run_periodically("fleet-counter-retention", settings.retention_interval_s, retention)
    app = build_app(
        kit,
        routers=[api.router],
        title="fleet",
        description="SIM cards, subscriptions (tariff plan + options), devices, change "
        "history, consumption and the fleet-manager application.",
    )
    app.state.deps = deps
    return app
