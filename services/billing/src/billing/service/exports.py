"""Data leaving the portal as files [14.2]: every CSV, XLSX or report export is recorded
in the customer's audit trail (``audit.recorded``), in the request's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from billing.deps import Deps
from contracts.events.audit import AuditAction
from servicekit import audit
from servicekit.auth import Principal

Exported = Literal["call_details", "invoice_list", "insights"]


async def record_export(
    session: AsyncSession,
    deps: Deps,
    exported_by: Principal,
    customer_id: uuid.UUID,
    *,
    what: Exported,
    fmt: str,
    rows: int | None,
    target: Mapping[str, uuid.UUID | str | None],
    filters: Mapping[str, Any] | None = None,
) -> None:
    """``filters`` are the export's selection (periods, ids): no personal data."""
    await audit.record(
        session,
        deps.outbox,
        source="billing",
        customer_id=customer_id,
        actor=audit.actor_of(exported_by),
        action=AuditAction.DATA_EXPORTED,
        target=target,
        details={"what": what, "format": fmt, "rows": rows, **(filters or {})},
        occurred_at=deps.now(),
    )
