"""Scheduled deletion of what is past its retention time (SPEC "Billing")."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from billing.deps import Deps
from billing.domain.calendar import months_before, retention_cutoffs
from billing.repository import invoices as invoices_repo
from billing.repository import retention as repo


@dataclass(frozen=True)
class Deleted:
    usage_records: int
    excluded_record_ids: int
    mobile_invoices: int
    fixed_invoice_details: int
    fixed_invoices: int
    billing_runs: int


async def apply_retention(session: AsyncSession, deps: Deps) -> Deleted:
    """Call details 6 months and invoice data 12 months for every account; of a fixed
    account's invoice only the header and the PDF are kept up to 24 months (SPEC
    "Billing": the PDF without details). Billing runs go with the invoice data."""
    s = deps.settings
    now = deps.now()
    cut = retention_cutoffs(
        now,
        usage_months=s.retention_usage_months,
        invoice_months=s.retention_invoice_months,
        fixed_pdf_months=s.retention_fixed_pdf_months,
    )
    return Deleted(
        usage_records=await repo.delete_usage_before(session, cut.usage_before),
        excluded_record_ids=await repo.delete_excluded_before(session, cut.usage_before),
        mobile_invoices=await invoices_repo.delete_invoices_before(
            session, "mobile", cut.invoices_before
        ),
        fixed_invoice_details=await invoices_repo.remove_invoice_details_before(
            session, "fixed", cut.invoices_before, now
        ),
        fixed_invoices=await invoices_repo.delete_invoices_before(
            session, "fixed", cut.fixed_invoices_before
        ),
        billing_runs=await repo.delete_runs_before(
            session, months_before(now, s.retention_invoice_months)
        ),
    )
