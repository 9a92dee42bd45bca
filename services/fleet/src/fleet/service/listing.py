"""Reading SIMs: the visible list with its filters and exports, the change history."""

from __future__ import annotations

import re
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from fleet import repository as repo
from fleet.deps import Deps
from fleet.models import Sim, SimHistory
from servicekit.delegation_client import Visible
from servicekit.pagination import Page
from servicekit.problems import ValidationFailed

_NON_SEARCH = re.compile(r"[\s./-]")


def search_terms(q: str | None) -> list[str] | None:
    """What ``q`` may match: as typed, and a national number (04..) in its E.164 form."""
    if q is None or not q.strip():
        return None
    compact = _NON_SEARCH.sub("", q.strip())
    terms = {compact}
    if compact.startswith("0") and not compact.startswith("00") and compact[1:].isdigit():
        terms.add("+32" + compact[1:])
    return sorted(terms)


async def list_sims(
    session: AsyncSession,
    customer_id: uuid.UUID,
    *,
    visible: Visible | None,
    status: str | None,
    tariff_plan: str | None,
    q: str | None,
    cursor: str | None,
    limit: int,
) -> Page[Sim]:
    """One page of the SIMs the caller may see (``visible`` None: all of them)."""
    only_ids: set[uuid.UUID] | None = None
    if visible is not None and str(customer_id) not in visible.customer_ids:
        only_ids = {uuid.UUID(i) for i in visible.ids if _is_uuid(i)}
        if not only_ids:
            return Page(items=[])
    return await repo.list_sims(
        session,
        customer_id,
        only_ids=only_ids,
        status=status,
        tariff_plan=tariff_plan,
        q=search_terms(q),
        cursor=cursor,
        limit=limit,
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def history(
    session: AsyncSession, sim: Sim, *, cursor: str | None, limit: int
) -> Page[SimHistory]:
    """The SIM's changes, newest first."""
    return await repo.list_history(session, sim.id, cursor=cursor, limit=limit)


async def export(
    session: AsyncSession,
    deps: Deps,
    customer_id: uuid.UUID,
    *,
    visible: Visible | None,
    status: str | None,
    tariff_plan: str | None,
    q: str | None,
) -> list[Sim]:
    """Every matching SIM, for a file; refused beyond ``export_max_rows`` rather than cut
    short."""
    max_rows = deps.settings.export_max_rows
    found = await list_sims(
        session,
        customer_id,
        visible=visible,
        status=status,
        tariff_plan=tariff_plan,
        q=q,
        cursor=None,
        limit=max_rows,
    )
    if found.next_cursor is not None:
        raise ValidationFailed(
            f"More than {max_rows} SIMs match; narrow the filter to export them",
            errors=[{"field": "format", "message": "too many rows for one export"}],
        )
    return found.items
