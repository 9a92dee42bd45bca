"""What fleet's use cases need, built once in ``main.py``: never the whole ServiceKit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Protocol
from uuid import UUID

from fastapi import Depends

from contracts.actions import Action
from fleet.settings import FleetSettings
from servicekit.app import deps_dependency
from servicekit.auth import Principal
from servicekit.db import utcnow
from servicekit.delegation_client import Decision, Resource, Visible
from servicekit.outbox import Outbox


class Delegation(Protocol):
    """The delegation service as fleet asks it (the client, or a test double)."""

    async def check(self, subject: UUID | str, act: Action, resource: Resource) -> Decision: ...

    async def check_many(
        self, subject: UUID | str, act: Action, resources: list[Resource]
    ) -> list[Decision]: ...

    async def visible(self, subject: UUID | str, type_: str, act: Action) -> Visible: ...

    async def require(
        self,
        principal: Principal,
        resource: Resource,
        *actions: Action,
        visible_with: Action | None = None,
        known: bool = False,
    ) -> None: ...


@dataclass(frozen=True)
class Deps:
    settings: FleetSettings
    outbox: Outbox
    delegation: Delegation
    now: Callable[[], datetime] = utcnow


DepsDep = Annotated[Deps, Depends(deps_dependency(Deps))]
