"""Billing runs: requested over HTTP, worked off by a background job (billing.jobs).

The run row is committed as ``pending``; the job claims it with a lease and calls the
steps below, one transaction each.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from billing.deps import Deps
from billing.domain.calendar import InvalidPeriod, Period, due_period
from billing.models import BillingRun, ScheduledPeriod
from billing.repository import accounts as accounts_repo
from billing.repository import invoices as invoices_repo
from billing.repository import runs as repo
from billing.schemas import RunOut
from billing.service.invoicing import Prepared, close_period, prepare_invoices, write_invoices
from servicekit.problems import Conflict, NotFound, ValidationFailed
from servicekit.telemetry import current_trace_headers

log = logging.getLogger(__name__)


def parse_period(text: str) -> Period:
    try:
        return Period.parse(text)
    except InvalidPeriod as exc:
        raise ValidationFailed(str(exc), errors=[{"field": "period", "message": str(exc)}]) from exc


async def request_run(
    session: AsyncSession,
    deps: Deps,
    *,
    period_text: str,
    account_ids: list[uuid.UUID] | None,
    requested_by: str,
) -> BillingRun:
    period = parse_period(period_text)
    if not period.has_ended(deps.now()):
        raise Conflict(f"Period {period} has not ended yet; only ended periods can be billed")
    if account_ids is not None:
        found = await accounts_repo.existing_account_ids(session, account_ids)
        unknown = [i for i, a in enumerate(account_ids) if a not in found]
        if unknown:
            raise ValidationFailed(
                "Unknown billing accounts",
                errors=[
                    {"field": f"billing_account_ids.{i}", "message": "unknown billing account"}
                    for i in unknown
                ],
            )
    run = BillingRun(
        id=uuid.uuid4(),
        period=str(period),
        requested_account_ids=[str(a) for a in dict.fromkeys(account_ids)]
        if account_ids is not None
        else None,
        status="pending",
        requested_by=requested_by,
        created_at=deps.now(),
        trace_headers=current_trace_headers() or None,
    )
    await repo.add_run(session, run)
    return run


async def schedule_due_run(session: AsyncSession, deps: Deps) -> BillingRun | None:
    """Ask for the run of the latest period that ended long enough ago, for every account,
    unless it was scheduled before (by this instance or another). Manual runs of the same
    period do not matter: an account's invoice for a period is made once, so a scheduled
    run skips accounts a manual run already invoiced."""
    delay = timedelta(hours=deps.settings.billing_schedule_delay_hours)
    period = str(due_period(deps.now(), delay=delay))
    if await repo.scheduled_period(session, period) is not None:
        return None
    run = BillingRun(
        id=uuid.uuid4(),
        period=period,
        requested_account_ids=None,
        status="pending",
        requested_by="schedule",
        created_at=deps.now(),
    )
    marker = ScheduledPeriod(period=period, run_id=run.id, created_at=deps.now())
    if not await repo.add_scheduled_run(session, run, marker):
        return None
    log.info("billing run scheduled", extra={"run_id": str(run.id), "period": period})
    return run


async def trace_of_run(session: AsyncSession, run_id: uuid.UUID) -> dict[str, str]:
    """The trace context of the request that asked for the run (empty if none)."""
    run = await repo.get_run(session, run_id)
    return dict(run.trace_headers or {}) if run is not None else {}


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> RunOut:
    run = await repo.get_run(session, run_id)
    if run is None:
        raise NotFound("No such billing run")
    return RunOut.of(run)


# -- the worker's steps, one transaction each (see billing.jobs) ---------------------


async def claim_next_run(session: AsyncSession, deps: Deps) -> uuid.UUID | None:
    now = deps.now()
    until = now + timedelta(seconds=deps.settings.billing_run_lease_s)
    for run_id in await repo.claimable_run_ids(session, now):
        if await repo.claim(session, run_id, deps.instance_id, now, until):
            return run_id
    return None


async def start_run(
    session: AsyncSession, deps: Deps, run_id: uuid.UUID
) -> tuple[Period, list[uuid.UUID]] | None:
    """The run's period and its accounts still to invoice, listed on the first pass."""
    run = await repo.get_run(session, run_id)
    if run is None:
        return None
    period = Period.parse(run.period)
    if run.status == "pending":
        requested = run.requested_account_ids
        ids = await accounts_repo.accounts_to_bill(
            session,
            period.starts_at,
            period.ends_at,
            [uuid.UUID(i) for i in requested] if requested is not None else None,
        )
        await repo.add_run_accounts(session, run.id, ids)
        run.status = "running"
        run.started_at = deps.now()
        await repo.refresh_counts(session, run)
    return period, await repo.pending_run_accounts(session, run.id)


async def close_run_account(
    session: AsyncSession, deps: Deps, run_id: uuid.UUID, account_id: uuid.UUID, period: Period
) -> bool:
    """Invoice one account of the run; False when this worker lost the run's lease."""
    now = deps.now()
    until = now + timedelta(seconds=deps.settings.billing_run_lease_s)
    if not await repo.claim(session, run_id, deps.instance_id, now, until):
        return False
    invoice_id = await close_period(session, deps, account_id, period)
    await repo.set_run_account(session, run_id, account_id, status="done", invoice_id=invoice_id)
    return True


async def prepare_run_accounts(
    session: AsyncSession, deps: Deps, account_ids: list[uuid.UUID], period: Period
) -> Prepared:
    """Read and charge a chunk of the run's accounts (no write; see ``prepare_invoices``)."""
    return await prepare_invoices(session, deps, account_ids, period)


async def close_run_accounts(
    session: AsyncSession, deps: Deps, run_id: uuid.UUID, prepared: Prepared
) -> bool:
    """Invoice a prepared chunk of the run's accounts in this one transaction; an account
    that cannot be invoiced (an unpriced plan...) is recorded as failed, the others are
    done. False when this worker lost the run's lease (nothing done)."""
    now = deps.now()
    until = now + timedelta(seconds=deps.settings.billing_run_lease_s)
    if not await repo.claim(session, run_id, deps.instance_id, now, until):
        return False
    outcomes: list[dict[str, object]] = []
    for account_id, result in (await write_invoices(session, deps, prepared)).items():
        if isinstance(result, Exception):
            log.error(
                "billing account could not be invoiced",
                exc_info=result,
                extra={"run_id": str(run_id), "billing_account_id": str(account_id)},
            )
            error = f"{type(result).__name__}: {result}"[:500]
            outcomes.append({"billing_account_id": account_id, "status": "failed",
                             "invoice_id": None, "error": error})  # fmt: skip
        else:
            outcomes.append({"billing_account_id": account_id, "status": "done",
                             "invoice_id": result, "error": None})  # fmt: skip
    await repo.set_run_accounts(session, run_id, outcomes)
    return True


async def record_account_failure(
    session: AsyncSession, run_id: uuid.UUID, account_id: uuid.UUID, period: Period, exc: Exception
) -> None:
    # Lost a race with an overlapping run: the invoice exists, which is what we want.
    existing = await invoices_repo.invoice_for_period(session, account_id, str(period))
    if existing is not None:
        await repo.set_run_account(
            session, run_id, account_id, status="done", invoice_id=existing.id
        )
        return
    log.error(
        "billing account could not be invoiced",
        exc_info=exc,
        extra={"run_id": str(run_id), "billing_account_id": str(account_id)},
    )
    await repo.set_run_account(
        session, run_id, account_id, status="failed", error=f"{type(exc).__name__}: {exc}"[:500]
    )


async def refresh_run_counts(session: AsyncSession, run_id: uuid.UUID) -> None:
    run = await repo.get_run(session, run_id)
    if run is not None:
        await repo.refresh_counts(session, run)


async def finish_run(session: AsyncSession, deps: Deps, run_id: uuid.UUID) -> str | None:
    """Close the run if this worker still holds it; its final status, else None."""
    run = await repo.get_run(session, run_id)
    if run is None or run.lease_owner != deps.instance_id:
        return None
    await repo.refresh_counts(session, run)
    run.status = "failed" if run.failed_accounts else "done"
    run.finished_at = deps.now()
    run.lease_owner = None
    run.lease_until = None
    return run.status
