"""Scheduled jobs: each owns its transactions and calls use cases, like a route does.

The billing worker claims a run with a lease, lists its accounts once, then closes them a
chunk per transaction (``billing_run_chunk_accounts``; one at a time when a chunk fails).
If the worker dies, its lease expires and any instance (or this one after a restart)
resumes the run; accounts already invoiced for the period are skipped, and the unique
constraint on (billing account, period) makes a second invoice impossible even for
overlapping runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict

from billing.deps import Deps
from billing.domain.calendar import Period
from billing.service import catalogue as catalogue_service
from billing.service import retention as retention_service
from billing.service import runs
from servicekit.app import ServiceKit
from servicekit.db import Database
from servicekit.telemetry import context_from_mapping, tracer

log = logging.getLogger(__name__)

Job = Callable[[ServiceKit], Awaitable[bool | None]]


def billing_worker(deps: Deps) -> Job:
    """For ``kit.run_periodically``: one claimed run per pass; True (another run may be
    waiting, so the loop goes again at once) when it worked one."""

    async def job(kit: ServiceKit) -> bool:
        return await work_next_run(kit.db, deps)

    return job


async def work_next_run(db: Database, deps: Deps) -> bool:
    async with db.transaction() as session:
        run_id = await runs.claim_next_run(session, deps)
        parent = await runs.trace_of_run(session, run_id) if run_id is not None else {}
    if run_id is None:
        return False
    # Continue the trace of the request that asked for the run: the invoices' events
    # (their outbox rows store the current trace context) then join that request's trace.
    with tracer("billing").start_as_current_span(
        "billing run",
        context=context_from_mapping(parent),
        attributes={"billing.run_id": str(run_id)},
    ):
        await work_run(db, deps, run_id)
    return True


async def work_run(db: Database, deps: Deps, run_id: uuid.UUID) -> None:
    async with db.transaction() as session:
        started = await runs.start_run(session, deps, run_id)
    if started is None:
        return
    period, pending = started

    size = max(1, deps.settings.billing_run_chunk_accounts)
    chunks = [pending[i : i + size] for i in range(0, len(pending), size)]

    async def prepare(chunk: list[uuid.UUID]) -> runs.Prepared:
        async with db.transaction() as session:  # reads only (and the catalogue, if new)
            return await runs.prepare_run_accounts(session, deps, chunk, period)

    # The next chunk is read and charged while this one is written: the service's process
    # and the database work at the same time instead of taking turns.
    following = asyncio.ensure_future(prepare(chunks[0])) if chunks else None
    try:
        for i, chunk in enumerate(chunks):
            assert following is not None
            current, following = following, None
            try:
                prepared: runs.Prepared | None = await current
            except Exception:
                log.warning("billing run %s: preparing a chunk failed", run_id, exc_info=True)
                prepared = None
            if i + 1 < len(chunks):
                following = asyncio.ensure_future(prepare(chunks[i + 1]))
            try:
                if prepared is None:
                    raise RuntimeError("the chunk could not be prepared")
                async with db.transaction() as session:
                    if not await runs.close_run_accounts(session, deps, run_id, prepared):
                        log.warning(
                            "lost the lease on billing run %s; another worker has it", run_id
                        )
                        return
            except Exception:
                # Something only the database could tell (an overlapping run wrote one of
                # these invoices first...): the chunk is rolled back; take its accounts one
                # at a time, so only what really fails is recorded as failed.
                log.warning("billing run %s: a chunk failed, one account at a time", run_id,
                            exc_info=True)  # fmt: skip
                if not await _close_one_by_one(db, deps, run_id, chunk, period):
                    return
            async with db.transaction() as session:
                await runs.refresh_run_counts(session, run_id)
    finally:
        if following is not None:
            following.cancel()
            with contextlib.suppress(BaseException):
                await following

    async with db.transaction() as session:
        status = await runs.finish_run(session, deps, run_id)
    if status is not None:
        log.info(
            "billing run finished",
            extra={"run_id": str(run_id), "period": str(period), "status": status},
        )


async def _close_one_by_one(
    db: Database, deps: Deps, run_id: uuid.UUID, account_ids: list[uuid.UUID], period: Period
) -> bool:
    for account_id in account_ids:
        try:
            async with db.transaction() as session:
                if not await runs.close_run_account(session, deps, run_id, account_id, period):
                    log.warning("lost the lease on billing run %s; another worker has it", run_id)
                    return False
        except Exception as exc:
            async with db.transaction() as session:
                await runs.record_account_failure(session, run_id, account_id, period, exc)
    return True


def scheduler(deps: Deps) -> Job:
    """Asks for the run of each period once it has ended (``runs.schedule_due_run``)."""

    async def job(kit: ServiceKit) -> None:
        async with kit.db.transaction() as session:
            await runs.schedule_due_run(session, deps)

    return job


def retention(deps: Deps) -> Job:
    async def job(kit: ServiceKit) -> None:
        async with kit.db.transaction() as session:
            deleted = await retention_service.apply_retention(session, deps)
        counts = asdict(deleted)
        if any(counts.values()):
            log.info("retention applied", extra={"deleted": counts})

    return job


def publish_catalogue(deps: Deps) -> Job:
    """Store and publish the seed catalogue's new versions (at start-up, then hourly: a
    release with a new version publishes it without waiting for the first usage)."""

    async def job(kit: ServiceKit) -> None:
        async with kit.db.transaction() as session:
            published = await catalogue_service.publish_catalogue(session, deps)
        if published:
            log.info("price catalogue published", extra={"versions": published})

    return job
