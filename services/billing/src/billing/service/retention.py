"""Scheduled deletion of what is past its retention time (SPEC "Billing")."""

from __future__ import annotations

import logging
from typing import Any

from billing.context import Billing
from billing.domain.calendar import months_before, retention_cutoffs
from billing.repository import invoices as invoices_repo
from billing.repository import retention as repo
from servicekit.app import ServiceKit

log = logging.getLogger(__name__)


async def apply_retention(b: Billing) -> dict[str, int]:
    """Call details 6 months, invoice data 12 months, invoices of fixed accounts (with
    their PDFs) 24 months; billing runs go with the invoice data."""
    s = b.settings
    now = b.now()
    cut = retention_cutoffs(
        now,
        usage_months=s.retention_usage_months,
        invoice_months=s.retention_invoice_months,
        fixed_pdf_months=s.retention_fixed_pdf_months,
    )
    async with b.kit.db.transaction() as session:
        deleted = {
            "usage_records": await repo.delete_usage_before(session, cut.usage_before),
            "excluded_record_ids": await repo.delete_excluded_before(session, cut.usage_before),
            "mobile_invoices": await invoices_repo.delete_invoices_before(
                session, "mobile", cut.invoices_before
            ),
            "fixed_invoices": await invoices_repo.delete_invoices_before(
                session, "fixed", cut.fixed_invoices_before
            ),
            "billing_runs": await repo.delete_runs_before(
                session, months_before(now, s.retention_invoice_months)
            ),
        }
    if any(deleted.values()):
        log.info("retention applied", extra={"deleted": deleted})
    return deleted


def job(b: Billing) -> Any:
    async def run(kit: ServiceKit) -> None:
        await apply_retention(b)

    return run
