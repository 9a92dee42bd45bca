"""Builds identity's FastAPI app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from identity import handlers
from identity.api import router
from identity.deps import Deps
from identity.keys import Keyring
from identity.models import Base
from identity.passwords import Passwords
from identity.profiles import DelegationProfiles, Profiles
from identity.service import terminations
from identity.service.operators import ensure_operator_account
from identity.settings import IdentitySettings
from identity.throttle import Throttle
from identity.tokens import local_service_token
from servicekit.app import ServiceKit
from servicekit.app import create_app as create_service_app
from servicekit.auth import ServiceTokenProvider, TokenVerifier
from servicekit.delegation_client import Delegation, DelegationClient
from servicekit.http import ServiceClient

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

DESCRIPTION = (
    "Customers, registrations, users, credentials and tokens of the enterprise portal. "
    "Access tokens are ES256 JWTs; their keys are at /.well-known/jwks.json."
)


def create_app(
    settings: IdentitySettings | None = None,
    *,
    verifier: TokenVerifier | None = None,
    delegation: Delegation | None = None,
    profiles: Profiles | None = None,
) -> FastAPI:
    settings = settings or IdentitySettings()
    kit = ServiceKit(
        settings, metadata=Base.metadata, migrations_dir=MIGRATIONS_DIR, uses_redis=True
    )
    assert kit.redis is not None, "identity's kit is built with uses_redis=True"
    keyring = Keyring(
        kit.db, passphrase=settings.key_passphrase, retired_grace_s=settings.retired_key_grace_s
    )

    # Identity verifies its own tokens against its own database: no HTTP to itself.
    kit.verifier = verifier or TokenVerifier(
        keyring.local_jwks,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        service=settings.service_name,
        min_refresh_interval_s=1.0,
    )
    # Likewise its own service token (for calls to delegation) is minted in-process.
    kit.tokens = ServiceTokenProvider(
        settings.token_url,
        settings.client_id,
        settings.client_secret,
        fetch=local_service_token(
            kit.db, keyring, client_id=settings.client_id, ttl_s=settings.access_token_ttl_s
        ),
    )
    if isinstance(kit.delegation, DelegationClient):
        kit.delegation.tokens = kit.tokens
    if delegation is not None:
        # A test double with the client's methods (servicekit.testing.FakeDelegation).
        kit.delegation = delegation

    if profiles is None:
        profiles = DelegationProfiles(
            ServiceClient(
                "delegation", settings.delegation_url, kit.tokens, timeout_s=settings.http_timeout_s
            )
        )
    current_profiles: Profiles = profiles

    async def close_profiles(kit: ServiceKit) -> None:
        await current_profiles.close()

    kit.on_shutdown.append(close_profiles)

    deps = Deps(
        settings=settings,
        outbox=kit.outbox,
        delegation=kit.delegation,
        passwords=Passwords(
            time_cost=settings.password_time_cost,
            memory_kib=settings.password_memory_kib,
            parallelism=settings.password_parallelism,
        ),
        keyring=keyring,
        profiles=current_profiles,
        throttle=Throttle(
            kit.redis,
            prefix=settings.throttle_key_prefix,
            window_s=settings.login_failure_window_s,
        ),
    )

    kit.subscribe(handlers.event_handlers(deps))

    async def start_identity(kit: ServiceKit) -> None:
        await keyring.ensure_active()
        await ensure_operator_account(kit.db, deps)

    # Runs after migrations (ServiceKit.start runs on_startup hooks last).
    kit.on_startup.insert(0, start_identity)
    if settings.termination_job_enabled:
        kit.run_periodically(
            "identity-terminations",
            settings.termination_job_interval_s,
            terminations.job(deps),
        )

    app = create_service_app(kit, routers=[router], title="identity", description=DESCRIPTION)
    app.state.deps = deps
    return app
