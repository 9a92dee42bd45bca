"""Reading SIMs: the visible list with its filters and exports, the change history."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fleet import repository as repo
from fleet.deps import Deps
from fleet.domain import catalogue
from fleet.models import Sim, SimHistory
from servicekit.delegation_client import Visible
from servicekit.pagination import decode_cursor, encode_cursor
from servicekit.problems import BadRequest, ValidationFailed

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
) -> tuple[list[Sim], str | None]:
    """One page of the SIMs the caller may see (``visible`` None: all of them)."""
    only_ids: set[uuid.UUID] | None = None
    if visible is not None and str(customer_id) not in visible.customer_ids:
        only_ids = {uuid.UUID(i) for i in visible.ids if _is_uuid(i)}
        if not only_ids:
            return [], None
    after = _position(cursor)
    sims = await repo.list_sims(
        session,
        customer_id,
        only_ids=only_ids,
        status=status,
        tariff_plan=tariff_plan,
        q=search_terms(q),
        after=after,
        limit=limit + 1,
    )
    next_cursor = None
    if len(sims) > limit:
        sims = sims[:limit]
        last = sims[-1]
        next_cursor = encode_cursor({"m": last.msisdn, "i": str(last.id)})
    return sims, next_cursor


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _position(cursor: str | None) -> tuple[str, uuid.UUID] | None:
    data = decode_cursor(cursor)
    if data is None:
        return None
    try:
        return str(data["m"]), uuid.UUID(str(data["i"]))
    except (KeyError, ValueError):
        raise BadRequest("The cursor is not valid", slug="invalid-cursor") from None


async def history(
    session: AsyncSession, sim: Sim, *, cursor: str | None, limit: int
) -> tuple[list[SimHistory], str | None]:
    data = decode_cursor(cursor)
    before: int | None = None
    if data is not None:
        try:
            before = int(data["s"])
        except (KeyError, ValueError, TypeError):
            raise BadRequest("The cursor is not valid", slug="invalid-cursor") from None
    entries = await repo.list_history(session, sim.id, before_seq=before, limit=limit + 1)
    next_cursor = None
    if len(entries) > limit:
        entries = entries[:limit]
        next_cursor = encode_cursor({"s": entries[-1].seq})
    return entries, next_cursor


def summary(sim: Sim) -> dict[str, Any]:
    """The SIM as shown in lists and on its own page."""
    return {
        "sim_id": sim.id,
        "customer_id": sim.customer_id,
        "billing_account_id": sim.billing_account_id,
        "iccid": sim.iccid,
        "msisdn": sim.msisdn,
        "imsi": sim.imsi,
        "status": sim.status,
        "tariff_plan": sim.tariff_plan,
        "options": sim.option_codes,
        "end_user_id": sim.end_user_id,
        "monthly_fee": catalogue.monthly_fee(sim.tariff_plan, sim.option_codes),
        "created_at": sim.created_at,
        "updated_at": sim.updated_at,
        "deactivated_at": sim.deactivated_at,
    }


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
    rows, more = await list_sims(
        session,
        customer_id,
        visible=visible,
        status=status,
        tariff_plan=tariff_plan,
        q=q,
        cursor=None,
        limit=max_rows,
    )
    if more is not None:
        raise ValidationFailed(
            f"More than {max_rows} SIMs match; narrow the filter to export them",
            errors=[{"field": "format", "message": "too many rows for one export"}],
        )
    return rows
