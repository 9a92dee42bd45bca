"""What fleet's use cases need, built once in ``main.py``: never the whole ServiceKit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import Depends

from fleet.repository import CatalogueCache
from fleet.settings import FleetSettings
from servicekit.app import deps_dependency
from servicekit.db import utcnow
from servicekit.delegation_client import Delegation
from servicekit.outbox import Outbox


@dataclass(frozen=True)
class Deps:
    settings: FleetSettings
    outbox: Outbox
    delegation: Delegation
    now: Callable[[], datetime] = utcnow
    # billing's price catalogue as last read (fleet.service.catalogue).
    catalogue: CatalogueCache = field(default_factory=CatalogueCache)


DepsDep = Annotated[Deps, Depends(deps_dependency(Deps))]
