"""The einvoice app: invoice delivery channels (paper, e-mail, bank app) per account."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from einvoice import api, handlers, service
from einvoice.bank import BankAdapter, FakeBankAdapter
from einvoice.billing_client import BillingClient
from einvoice.deps import Deps
from einvoice.models import Base
from einvoice.peppol import AccessPoint, FakeAccessPoint
from einvoice.settings import EinvoiceSettings
from servicekit.app import ServiceKit
from servicekit.app import create_app as kit_app
from servicekit.auth import TokenVerifier
from servicekit.db import utcnow

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(
    settings: EinvoiceSettings | None = None,
    *,
    verifier: TokenVerifier | None = None,
    delegation: Any | None = None,
    billing: BillingClient | None = None,
    bank: BankAdapter | None = None,
    access_point: AccessPoint | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """Tests replace the edges: token keys, delegation, billing, the bank, the Peppol
    access point and the clock."""
    settings = settings or EinvoiceSettings()
    kit = ServiceKit(settings, metadata=Base.metadata, migrations_dir=MIGRATIONS_DIR)
    if verifier is not None:
        kit.verifier = verifier
    if delegation is not None:
        kit.delegation = delegation
    billing_client = billing or BillingClient(
        settings.billing_url, kit.tokens, timeout_s=settings.http_timeout_s
    )
    deps = Deps(
        settings=settings,
        outbox=kit.outbox,
        delegation=kit.delegation,
        billing=billing_client,
        bank=bank or FakeBankAdapter(),
        access_point=access_point or FakeAccessPoint(),
        now=clock or utcnow,
    )
    kit.subscribe(handlers.event_handlers(deps))

    async def expire_confirmations(kit: ServiceKit) -> None:
        while True:  # in batches, each its own transaction
            async with kit.db.transaction() as session:
                if await service.expire_due(session, deps) == 0:
                    return

    kit.run_periodically(
        "einvoice-expire-confirmations", settings.expiry_job_interval_s, expire_confirmations
    )

    async def hand_to_bank(kit: ServiceKit) -> bool:
        """One batch of due bank deliveries; True when a full batch was due (go again)."""
        async with kit.db.transaction() as session:
            due = await service.hand_due_to_bank(session, deps)
        return due >= settings.bank_batch_size

    kit.run_periodically("einvoice-bank-deliveries", settings.bank_poll_interval_s, hand_to_bank)

    async def send_to_peppol(kit: ServiceKit) -> bool:
        """One batch of due Peppol deliveries; True when a full batch was due (go again)."""
        async with kit.db.transaction() as session:
            due = await service.send_due_to_peppol(session, deps)
        return due >= settings.peppol_batch_size

    kit.run_periodically(
        "einvoice-peppol-deliveries", settings.peppol_poll_interval_s, send_to_peppol
    )

    async def close_billing(kit: ServiceKit) -> None:
        await billing_client.close()

    kit.on_shutdown.append(close_billing)
    app = kit_app(
        kit,
        routers=[api.router],
        title="einvoice",
        description="Invoice delivery per billing account: paper, e-mail (GreenBill), "
        "bank app (Zoomit), Peppol BIS Billing 3.0; confirmation, bank callbacks and the "
        "delivery log.",
    )
    app.state.deps = deps
    return app
