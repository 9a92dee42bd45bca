"""The delegation service: who may do what [8, 9]."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from delegation import api, handlers
from delegation.deps import Deps
from delegation.models import Base
from delegation.service.events import sweep_ended_contracts
from delegation.settings import DelegationSettings
from servicekit.app import ServiceKit
from servicekit.app import create_app as create_service_app

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(
    settings: DelegationSettings | None = None,
    *,
    verifier: Any = None,
    delegation: Any = None,
) -> FastAPI:
    settings = settings or DelegationSettings()
    kit = ServiceKit(settings, metadata=Base.metadata, migrations_dir=MIGRATIONS_DIR)
    if verifier is not None:
        kit.verifier = verifier
    if delegation is not None:
        kit.delegation = delegation
    deps = Deps(settings=settings, outbox=kit.outbox)
    kit.subscribe(handlers.event_handlers(deps))

    async def sweep(kit: ServiceKit) -> None:
        async with kit.db.transaction() as session:
            await sweep_ended_contracts(session, deps)

    if settings.contract_sweep_enabled:
        kit.run_periodically("contract-sweep", settings.contract_sweep_interval_s, sweep)
    app = create_service_app(
        kit,
        routers=[api.router],
        title="delegation",
        description="Who may do what: profiles, assignments, third-party delegations and "
        "the check API every service asks on every request.",
    )
    app.state.deps = deps
    return app
