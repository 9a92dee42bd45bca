"""Kafka handlers by payload class: parse nothing (the consumer did), call one use case."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from billing.deps import Deps
from billing.service import accounts, customers, usage
from contracts.base import EventPayload
from contracts.envelope import CloudEvent
from contracts.events.billing import UsageRecordV1
from contracts.events.fleet import SimChangedV1
from contracts.events.identity import CustomerRegisteredV1, CustomerTerminatedV1
from servicekit.consumer import Handler, PermanentError


class OnUsageRecords:
    """``usage.records``: one record per event, or a run of them at once (``apply_many``:
    one ingest per run of a partition's batch, the same effect as one by one).

    Idempotent by record id (``usage.ingest`` skips the ids it holds, stored or excluded,
    and a concurrent writer's row wins without an error), so the consumer's inbox adds
    nothing here: its events skip it (docs/adr/0029)."""

    idempotent = True

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def __call__(self, session: AsyncSession, event: CloudEvent, p: UsageRecordV1) -> None:
        await self._ingest(session, [p])

    async def apply_many(
        self, session: AsyncSession, items: Sequence[tuple[CloudEvent, UsageRecordV1]]
    ) -> None:
        # A rejected record fails the run: the consumer then applies the batch one event at
        # a time, so only that record is dead-lettered.
        await self._ingest(session, [p for _, p in items])

    async def _ingest(self, session: AsyncSession, records: list[UsageRecordV1]) -> None:
        try:
            await usage.ingest(session, self.deps, records)
        except usage.UsageRejected as exc:
            # An unknown billing account will not become known by retrying: dead-letter
            # it (it can be replayed once the account exists).
            raise PermanentError(str(exc)) from exc


def event_handlers(deps: Deps) -> dict[type[EventPayload], Handler]:
    on_usage_record = OnUsageRecords(deps)

    async def on_sim_changed(session: AsyncSession, event: CloudEvent, p: SimChangedV1) -> None:
        await accounts.apply_sim_change(session, p)

    async def on_customer_terminated(
        session: AsyncSession, event: CloudEvent, p: CustomerTerminatedV1
    ) -> None:
        await accounts.terminate_customer(session, p)

    async def on_customer_registered(
        session: AsyncSession, event: CloudEvent, p: CustomerRegisteredV1
    ) -> None:
        await customers.record_customer(session, p)

    return {
        CustomerRegisteredV1: on_customer_registered,
        UsageRecordV1: on_usage_record,
        SimChangedV1: on_sim_changed,
        CustomerTerminatedV1: on_customer_terminated,
    }
