"""What delegation's use cases need, built once in ``main.py``: never the whole kit.

Delegation decides rights itself from its own tables, so unlike the other services it
holds no delegation client: asking itself over HTTP would be a loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import Depends

from delegation.owners import ScopeOwners
from delegation.projection import Projection
from delegation.settings import DelegationSettings
from servicekit.app import deps_dependency
from servicekit.db import utcnow
from servicekit.outbox import Outbox


@dataclass(frozen=True)
class Deps:
    settings: DelegationSettings
    outbox: Outbox
    owners: ScopeOwners  # who owns the billing accounts and SIMs a scope names
    now: Callable[[], datetime] = utcnow
    # What decisions read, in memory; main.py has it forget on every change (ADR 0022).
    projection: Projection = field(default_factory=Projection)


DepsDep = Annotated[Deps, Depends(deps_dependency(Deps))]
