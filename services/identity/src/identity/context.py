"""Identity's own components next to the shared ``ServiceKit``, injected into routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from identity.keys import Keyring
from identity.passwords import Passwords
from identity.settings import IdentitySettings
from identity.throttle import Throttle
from servicekit.app import ServiceKit


@dataclass
class Identity:
    settings: IdentitySettings
    kit: ServiceKit
    passwords: Passwords
    keyring: Keyring
    throttle: Throttle

    @classmethod
    def build(cls, settings: IdentitySettings, kit: ServiceKit) -> Identity:
        assert kit.redis is not None, "identity's kit is built with uses_redis=True"
        return cls(
            settings=settings,
            kit=kit,
            passwords=Passwords(
                time_cost=settings.password_time_cost,
                memory_kib=settings.password_memory_kib,
                parallelism=settings.password_parallelism,
            ),
            keyring=Keyring(
                kit.db,
                passphrase=settings.key_passphrase,
                retired_grace_s=settings.retired_key_grace_s,
            ),
            throttle=Throttle(
                kit.redis,
                prefix=settings.throttle_key_prefix,
                window_s=settings.login_failure_window_s,
            ),
        )


def get_identity(request: Request) -> Identity:
    identity: Identity = request.app.state.identity
    return identity


IdentityDep = Annotated[Identity, Depends(get_identity)]
