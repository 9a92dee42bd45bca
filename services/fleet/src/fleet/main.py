"""The fleet service's app: SIMs, subscriptions, devices, consumption, fleet manager."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from fleet import api, handlers
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
    delegation: Any = None,
) -> FastAPI:
    settings = settings or FleetSettings()
    kit = ServiceKit(settings, metadata=Base.metadata, migrations_dir=MIGRATIONS_DIR)
    if verifier is not None:
        kit.verifier = verifier
    if delegation is not None:
        kit.delegation = delegation
    kit.subscribe(handlers.event_handlers(kit))

    async def retention(kit: ServiceKit) -> None:
        async with kit.db.transaction() as session:
            await consumption.apply_retention(session, kit)

    kit.run_periodically("fleet-counter-retention", settings.retention_interval_s, retention)
    return build_app(
        kit,
        routers=[api.router],
        title="fleet",
        description="SIM cards, subscriptions (tariff plan + options), devices, change "
        "history, consumption and the fleet-manager application.",
    )
