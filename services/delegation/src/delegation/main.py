"""The delegation service: who may do what [8, 9]."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from delegation import api, handlers
from delegation.deps import Deps
from delegation.models import Base
from delegation.owners import HttpScopeOwners, ScopeOwners
from delegation.projection import Projection
from delegation.service.events import sweep_ended_contracts
from delegation.settings import DelegationSettings
from servicekit.app import ServiceKit
from servicekit.app import create_app as create_service_app
from servicekit.http import ServiceClient

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(
    settings: DelegationSettings | None = None,
    *,
    verifier: Any = None,
    delegation: Any = None,
    scope_owners: ScopeOwners | None = None,
) -> FastAPI:
    """Tests replace the edges: token keys, and who owns billing accounts and SIMs."""
    settings = settings or DelegationSettings()
    kit = ServiceKit(settings, metadata=Base.metadata, migrations_dir=MIGRATIONS_DIR)
    if verifier is not None:
        kit.verifier = verifier
    if delegation is not None:
        kit.delegation = delegation
    if scope_owners is None:
        timeout = settings.http_timeout_s
        scope_owners = HttpScopeOwners(
            ServiceClient("billing", settings.billing_url, kit.tokens, timeout_s=timeout),
            ServiceClient("fleet", settings.fleet_url, kit.tokens, timeout_s=timeout),
        )
    projection = Projection(
        ttl_s=settings.projection_ttl_s, max_entries=settings.projection_max_entries
    )
    # Forget what decisions read after every write of this process, and on every
    # delegation.changed (other instances' writes): ADR 0022.
    kit.db.on_write_commit(projection.invalidate)
    kit.on_delegation_changed.append(projection.invalidate)
    deps = Deps(settings=settings, outbox=kit.outbox, owners=scope_owners, projection=projection)

    async def close_owners(_kit: ServiceKit) -> None:
        await deps.owners.close()

    kit.on_shutdown.append(close_owners)
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
    api.checks.register_fast_routes(kit, deps)
    return app
