"""The notifier's FastAPI app: operator routes, three Kafka handlers and the sender loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from notifier import api, handlers
from notifier.backoffice import apply_retention
from notifier.delivery import (
    BillingPdfSource,
    HttpSmsGateway,
    Mailer,
    PdfSource,
    SmsGateway,
    SmtpMailer,
)
from notifier.deps import Deps
from notifier.models import Base
from notifier.sender import Sender
from notifier.settings import NotifierSettings
from notifier.templates import Templates
from servicekit.app import ServiceKit
from servicekit.app import create_app as create_service_app
from servicekit.auth import TokenVerifier

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(
    settings: NotifierSettings | None = None,
    *,
    verifier: TokenVerifier | None = None,
    delegation: Any = None,
    mailer: Mailer | None = None,
    sms_gateway: SmsGateway | None = None,
    pdf_source: PdfSource | None = None,
    billing_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Tests replace the edges: ``billing_transport`` (or ``pdf_source``) stands in for
    the billing service; the mailer and SMS gateway default to the configured servers."""
    settings = settings or NotifierSettings()
    kit = ServiceKit(settings, metadata=Base.metadata, migrations_dir=MIGRATIONS_DIR)
    if verifier is not None:
        kit.verifier = verifier
    if delegation is not None:
        kit.delegation = delegation

    clients: list[httpx.AsyncClient] = []
    if sms_gateway is None:
        sms_client = httpx.AsyncClient(timeout=settings.sms_timeout_s)
        clients.append(sms_client)
        sms_gateway = HttpSmsGateway(settings.sms_url, sms_client)
    if pdf_source is None:
        billing_client = httpx.AsyncClient(
            base_url=settings.billing_url,
            timeout=settings.billing_timeout_s,
            transport=billing_transport,
        )
        clients.append(billing_client)
        # Late-bound: tests may replace kit.tokens after the app is built.
        pdf_source = BillingPdfSource(
            billing_client,
            token=lambda: kit.tokens.token(),
            invalidate=lambda: kit.tokens.invalidate(),
        )
    deps = Deps(
        settings=settings,
        outbox=kit.outbox,
        delegation=kit.delegation,
        templates=Templates(),
        mailer=mailer or SmtpMailer(settings),
        sms=sms_gateway,
        pdfs=pdf_source,
    )
    kit.subscribe(handlers.event_handlers(deps))
    sender = Sender(kit.db, deps)

    async def close_clients(_kit: ServiceKit) -> None:
        for client in clients:
            await client.aclose()

    # Shutdown hooks run in reverse: the sender finishes its message before clients close.
    kit.on_shutdown.append(close_clients)
    if settings.sender_enabled:
        kit.on_startup.append(sender.start)
        kit.on_shutdown.append(sender.stop)

    async def retention(kit: ServiceKit) -> None:
        async with kit.db.transaction() as session:
            await apply_retention(session, deps)

    kit.run_periodically("notifier-retention", settings.retention_interval_s, retention)

    app = create_service_app(
        kit,
        routers=[api.router],
        title="notifier",
        description="E-mail and SMS for the portal: exactly one message per recipient per "
        "request, with a delivery log for operator staff.",
    )
    app.state.deps = deps
    app.state.sender = sender
    return app
