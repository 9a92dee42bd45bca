"""What the use cases need besides a session, built once in ``main.py``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import Depends

from billing.domain.rating import ExclusionRules
from billing.repository.catalogue import CatalogueCache
from billing.service.documents import DocumentRenderer
from billing.settings import BillingSettings
from servicekit.app import deps_dependency
from servicekit.db import utcnow
from servicekit.delegation_client import Delegation
from servicekit.outbox import Outbox


@dataclass(frozen=True)
class Deps:
    settings: BillingSettings
    outbox: Outbox
    delegation: Delegation
    rules: ExclusionRules
    # Names this process as the holder of billing-run leases.
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    # The price catalogue's versions as last read (billing.service.catalogue).
    catalogue: CatalogueCache = field(default_factory=CatalogueCache)
    now: Callable[[], datetime] = utcnow
    # Invoices' PDFs and UBL documents, in worker processes when a run renders many.
    documents: DocumentRenderer = field(default_factory=DocumentRenderer)


DepsDep = Annotated[Deps, Depends(deps_dependency(Deps))]
