"""The price catalogue's versions and the SIM history."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.domain.catalogue import CatalogueHistory, CatalogueVersion
from billing.models import CatalogueVersionRow, SimHistory
from billing.repository._sql import chunks, insert_ignoring_conflicts


async def version_numbers(session: AsyncSession) -> list[int]:
    q = select(CatalogueVersionRow.version).order_by(CatalogueVersionRow.version)
    return list(await session.scalars(q))


async def all_versions(session: AsyncSession) -> list[CatalogueVersionRow]:
    q = select(CatalogueVersionRow).order_by(CatalogueVersionRow.version)
    return list(await session.scalars(q))


async def insert_version(
    session: AsyncSession,
    version: int,
    valid_from: datetime,
    document: dict[str, Any],
    at: datetime,
) -> bool:
    """True if this call stored the version (a concurrent instance may have won)."""
    stmt = insert_ignoring_conflicts(session, CatalogueVersionRow).returning(
        CatalogueVersionRow.version
    )
    result = await session.execute(
        stmt,
        [{"version": version, "valid_from": valid_from, "document": document, "published_at": at}],
    )
    return bool(list(result.scalars()))


async def add_sim_state(session: AsyncSession, entry: SimHistory) -> None:
    session.add(entry)
    await session.flush()


async def history_of_sims(
    session: AsyncSession, sim_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[SimHistory]]:
    found: dict[uuid.UUID, list[SimHistory]] = {}
    for part in chunks(sorted(set(sim_ids))):
        q = (
            select(SimHistory)
            .where(SimHistory.sim_id.in_(part))
            .order_by(SimHistory.sim_id, SimHistory.changed_at, SimHistory.id)
        )
        for row in await session.scalars(q):
            found.setdefault(row.sim_id, []).append(row)
    return found


class CatalogueCache:
    """The parsed history, re-read only when the stored versions change (one cheap query
    per use instead of parsing every document)."""

    def __init__(self) -> None:
        self._versions: list[int] = []
        self._history = CatalogueHistory([])

    async def history(self, session: AsyncSession) -> CatalogueHistory:
        versions = await version_numbers(session)
        if versions != self._versions:
            rows = await all_versions(session)
            self._history = CatalogueHistory(
                CatalogueVersion.from_document(r.document) for r in rows
            )
            self._versions = [r.version for r in rows]
        return self._history
