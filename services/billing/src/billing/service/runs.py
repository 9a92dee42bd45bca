"""Billing runs: requested over HTTP, worked off by a background loop.

The run row is committed as ``pending``; a worker (``kit.run_periodically``) claims it
with a lease, lists its accounts once, then closes one account per transaction. If the
worker dies, its lease expires and any instance (or this one after a restart) resumes the
run; accounts already invoiced for the period are skipped, and the unique constraint on
(billing account, period) makes a second invoice impossible even for overlapping runs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from billing.context import Billing
from billing.domain.calendar import InvalidPeriod, Period
from billing.models import BillingRun
from billing.repository import accounts as accounts_repo
from billing.repository import invoices as invoices_repo
from billing.repository import runs as repo
from billing.service.invoicing import close_period
from servicekit.app import ServiceKit
from servicekit.problems import Conflict, NotFound, ValidationFailed

log = logging.getLogger(__name__)


def parse_period(text: str) -> Period:
    try:
        return Period.parse(text)
    except InvalidPeriod as exc:
        raise ValidationFailed(str(exc), errors=[{"field": "period", "message": str(exc)}]) from exc


async def request_run(
    session: Any,
    b: Billing,
    *,
    period_text: str,
    account_ids: list[uuid.UUID] | None,
    requested_by: str,
) -> BillingRun:
    period = parse_period(period_text)
    if not period.has_ended(b.now()):
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
        created_at=b.now(),
    )
    await repo.add_run(session, run)
    return run


def run_view(run: BillingRun) -> dict[str, Any]:
    return {
        "run_id": str(run.id),
        "period": run.period,
        "status": run.status,
        "done_accounts": run.done_accounts,
        "failed_accounts": run.failed_accounts,
        "total_accounts": run.total_accounts,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    }


async def get_run(session: Any, run_id: uuid.UUID) -> dict[str, Any]:
    run = await repo.get_run(session, run_id)
    if run is None:
        raise NotFound("No such billing run")
    return run_view(run)


# -- the worker ----------------------------------------------------------------------


def worker(b: Billing) -> Callable[[ServiceKit], Awaitable[bool]]:
    """For ``kit.run_periodically``: one claimed run per pass; True (another run may be
    waiting, so the loop goes again at once) when it worked one."""

    async def job(kit: ServiceKit) -> bool:
        run_id = await _claim_next(b)
        if run_id is None:
            return False
        await work_run(b, run_id)
        return True

    return job


async def _claim_next(b: Billing) -> uuid.UUID | None:
    async with b.kit.db.transaction() as session:
        now = b.now()
        until = now + timedelta(seconds=b.settings.billing_run_lease_s)
        for run_id in await repo.claimable_run_ids(session, now):
            if await repo.claim(session, run_id, b.instance_id, now, until):
                return run_id
    return None


async def _renew(session: Any, b: Billing, run_id: uuid.UUID) -> bool:
    now = b.now()
    until = now + timedelta(seconds=b.settings.billing_run_lease_s)
    return await repo.claim(session, run_id, b.instance_id, now, until)


async def work_run(b: Billing, run_id: uuid.UUID) -> None:
    db = b.kit.db
    async with db.transaction() as session:
        run = await repo.get_run(session, run_id)
        if run is None:
            return
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
            run.started_at = b.now()
            await repo.refresh_counts(session, run)
        pending = await repo.pending_run_accounts(session, run.id)

    for account_id in pending:
        try:
            async with db.transaction() as session:
                if not await _renew(session, b, run_id):
                    log.warning("lost the lease on billing run %s; another worker has it", run_id)
                    return
                invoice, _created = await close_period(session, b, account_id, period)
                await repo.set_run_account(
                    session, run_id, account_id, status="done", invoice_id=invoice.id
                )
        except Exception as exc:
            await _account_failed(b, run_id, account_id, period, exc)
        async with db.transaction() as session:
            run = await repo.get_run(session, run_id)
            if run is not None:
                await repo.refresh_counts(session, run)

    async with db.transaction() as session:
        run = await repo.get_run(session, run_id)
        if run is None or run.lease_owner != b.instance_id:
            return
        await repo.refresh_counts(session, run)
        run.status = "failed" if run.failed_accounts else "done"
        run.finished_at = b.now()
        run.lease_owner = None
        run.lease_until = None
    log.info(
        "billing run finished",
        extra={"run_id": str(run_id), "period": str(period), "status": run.status},
    )


async def _account_failed(
    b: Billing, run_id: uuid.UUID, account_id: uuid.UUID, period: Period, exc: Exception
) -> None:
    async with b.kit.db.transaction() as session:
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
