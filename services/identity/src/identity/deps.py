"""What identity's use cases need, built once in ``main.py``: ``(session, deps, ...)``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends

from identity.keys import Keyring
from identity.passwords import Passwords
from identity.profiles import Profiles
from identity.settings import IdentitySettings
from identity.throttle import Throttle
from servicekit.app import deps_dependency
from servicekit.db import utcnow
from servicekit.delegation_client import Delegation
from servicekit.outbox import Outbox


@dataclass(frozen=True)
class Deps:
    settings: IdentitySettings
    outbox: Outbox
    # Tests pass servicekit.testing.FakeDelegation: the same check/visible/require.
    delegation: Delegation
    passwords: Passwords
    keyring: Keyring
    throttle: Throttle
    # The current profile of a user, asked of delegation (``/v1/me``).
    profiles: Profiles
    now: Callable[[], datetime] = utcnow


DepsDep = Annotated[Deps, Depends(deps_dependency(Deps))]
