"""The billing service's app: kit, handlers, background jobs, routes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from billing import handlers, jobs
from billing.api import router
from billing.api.fast import register_fast_routes
from billing.deps import Deps
from billing.domain.rating import ExclusionRules
from billing.models import Base
from billing.service.documents import DocumentRenderer
from billing.settings import BillingSettings
from servicekit.app import ServiceKit
from servicekit.app import create_app as kit_app
from servicekit.auth import TokenVerifier

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(
    settings: BillingSettings | None = None,
    *,
    verifier: TokenVerifier | None = None,
    delegation: Any | None = None,
) -> FastAPI:
    settings = settings or BillingSettings()
    kit = ServiceKit(settings, metadata=Base.metadata, migrations_dir=MIGRATIONS_DIR)
    if verifier is not None:
        kit.verifier = verifier
    if delegation is not None:
        kit.delegation = delegation
    deps = Deps(
        settings=settings,
        outbox=kit.outbox,
        delegation=kit.delegation,
        rules=ExclusionRules(settings.excluded_destinations),
        documents=DocumentRenderer(settings.billing_render_processes),
    )

    async def stop_renderer(_kit: ServiceKit) -> None:
        deps.documents.close()

    kit.on_shutdown.append(stop_renderer)
    kit.subscribe(handlers.event_handlers(deps))
    kit.run_periodically("catalogue", 3600, jobs.publish_catalogue(deps))
    if settings.billing_worker_enabled:
        kit.run_periodically(
            "billing-runs", settings.billing_worker_poll_s, jobs.billing_worker(deps)
        )
    if settings.billing_schedule_enabled:
        kit.run_periodically(
            "billing-schedule", settings.billing_schedule_interval_s, jobs.scheduler(deps)
        )
    if settings.retention_enabled:
        kit.run_periodically("retention", settings.retention_interval_s, jobs.retention(deps))
    register_fast_routes(kit, deps)  # the invoice list, ADR 0026
    app = kit_app(
        kit,
        routers=[router],
        title="billing",
        description="Billing accounts, usage rating, billing runs, invoices and their PDFs.",
    )
    app.state.deps = deps
    return app
