"""Token issuance (password, refresh rotation, client credentials) and logout.

Failures that must leave a trace (the audit entry, a revoked family) are *returned* as
a ``Problem`` instead of raised: raising would roll back the request's transaction and
with it the trace. The route renders the returned problem after the commit.
"""

from __future__ import annotations

import hmac
import logging
import uuid
from datetime import datetime

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from identity import audit
from identity import repository as repo
from identity.deps import Deps
from identity.domain import (
    RefreshOutcome,
    RefreshTokenState,
    contract_ended,
    local_date,
    refresh_outcome,
    secret_hash,
)
from identity.models import User
from identity.throttle import Bucket
from identity.tokens import (
    TokenPair,
    issue_refresh_token,
    mint_access_token,
    mint_service_token,
)
from servicekit.auth import Principal
from servicekit.problems import (
    Problem,
    TooManyRequests,
    Unauthorized,
)

log = logging.getLogger(__name__)

LOGINS = Counter(
    "identity_logins_total", "Token requests by grant and outcome", ["grant", "outcome"]
)

# One body for every credential failure: the answer must not tell whether the account
# exists, is unconfirmed or deactivated.
BAD_CREDENTIALS = "The credentials are not valid"
BAD_REFRESH = "The refresh token is not valid"


def _invalid_grant(detail: str) -> Problem:
    return Unauthorized(detail, slug="invalid-grant", error="invalid_grant")


def _invalid_client() -> Problem:
    return Unauthorized(BAD_CREDENTIALS, slug="invalid-client", error="invalid_client")


def _throttled(seconds: int) -> TooManyRequests:
    return TooManyRequests(
        "Too many failed attempts; try again later",
        headers={"Retry-After": str(seconds)},
        retry_after=seconds,
    )


async def _refuse_if_throttled(deps: Deps, buckets: list[Bucket], grant: str) -> None:
    wait = await deps.throttle.retry_after(buckets)
    if wait is not None:
        LOGINS.labels(grant, "throttled").inc()
        raise _throttled(wait)


def _may_log_in(user: User, now: datetime) -> bool:
    """Active, and its contract (e.g. an employment that ended) has not ended [9.2]: a
    person whose contract ended can no longer log in, not only lose their rights."""
    return user.status == "active" and not contract_ended(user.contract_ends_on, local_date(now))


async def password_grant(
    session: AsyncSession, deps: Deps, username: str, password: str, client_ip: str
) -> TokenPair | Problem:
    s = deps.settings
    login = username.strip().lower()
    account = deps.throttle.bucket("account", login, s.login_max_failures_per_account)
    address = deps.throttle.bucket("ip", client_ip, s.login_max_failures_per_ip)
    # The account's own limit refuses at once. The address-wide limit (every user behind
    # one gateway or office shares an address) never refuses the right password of a
    # healthy account: it only refuses attempts that fail, below.
    await _refuse_if_throttled(deps, [account], "password")
    address_wait = await deps.throttle.retry_after([address])

    user = await repo.user_by_email(session, login)
    credential = await repo.get_credential(session, user.id) if user else None
    if user is not None and credential is not None:
        password_ok = await deps.passwords.verify(credential.password_hash, password)
    else:
        await deps.passwords.burn(password)  # same cost as a real check: no timing oracle
        password_ok = False

    now = deps.now()
    if user is None or not password_ok or not _may_log_in(user, now):
        reason = (
            "unknown_account"
            if user is None
            else (
                "bad_password"
                if not password_ok
                else f"account_{user.status}"
                if user.status != "active"
                else "contract_ended"
            )
        )
        await deps.throttle.record_failure([account, address])
        LOGINS.labels("password", "failed").inc()
        await audit.record(
            session,
            "login.failed",
            actor=str(user.id) if user else None,
            customer_id=user.customer_id if user else None,
            details={
                "reason": reason,
                "ip": client_ip,
                # The attempted name is personal data when it is nobody's: keep a hash,
                # enough to spot a targeted series.
                **({} if user else {"login_sha256": secret_hash(login)}),
            },
            now=now,
        )
        if address_wait is not None:
            LOGINS.labels("password", "throttled").inc()
            return _throttled(address_wait)
        return _invalid_grant(BAD_CREDENTIALS)

    assert credential is not None
    if deps.passwords.needs_rehash(credential.password_hash):
        credential.password_hash = await deps.passwords.hash(password)
        credential.updated_at = now
    user.last_login_at = now
    await deps.throttle.reset(account)
    pair = await _issue_user_tokens(session, deps, user, family_id=None)
    LOGINS.labels("password", "ok").inc()
    await audit.record(
        session,
        "login.succeeded",
        actor=str(user.id),
        customer_id=user.customer_id,
        details={"ip": client_ip, "kind": user.kind},
        now=now,
    )
    return pair


async def refresh_grant(
    session: AsyncSession, deps: Deps, refresh_token: str, client_ip: str
) -> TokenPair | Problem:
    token_hash = secret_hash(refresh_token)
    now = deps.now()
    found = await repo.refresh_token_with_family(session, token_hash)
    if found is None:
        LOGINS.labels("refresh_token", "failed").inc()
        return _invalid_grant(BAD_REFRESH)
    token, family = found
    user = await repo.get_user(session, family.user_id)
    state = RefreshTokenState(
        found=True,
        used=token.used_at is not None,
        family_revoked=family.revoked_at is not None,
        expired=token.expires_at <= now,
        user_active=user is not None and _may_log_in(user, now),
    )
    outcome = refresh_outcome(state)
    # The atomic "mark used" settles a race between two requests with the same token:
    # the loser is treated exactly like a replay.
    if outcome is RefreshOutcome.ROTATE and not await repo.use_refresh_token(
        session, token_hash, now
    ):
        outcome = RefreshOutcome.REVOKE_FAMILY
        state = RefreshTokenState(found=True, used=True)
    if outcome is RefreshOutcome.ROTATE:
        assert user is not None
        LOGINS.labels("refresh_token", "ok").inc()
        return await _issue_user_tokens(session, deps, user, family_id=family.id)

    LOGINS.labels("refresh_token", "failed").inc()
    if outcome is RefreshOutcome.REVOKE_FAMILY:
        reason = "reuse" if state.used else "user_inactive"
        await repo.revoke_family(session, family.id, now, reason)
        if state.used:
            log.warning("refresh token reused: family revoked", extra={"family": str(family.id)})
            await audit.record(
                session,
                "token.refresh_reused",
                actor=str(family.user_id),
                subject=family.id,
                customer_id=user.customer_id if user else None,
                details={"ip": client_ip},
                now=now,
            )
    return _invalid_grant(BAD_REFRESH)


async def client_credentials_grant(
    session: AsyncSession, deps: Deps, client_id: str, client_secret: str, client_ip: str
) -> TokenPair | Problem:
    s = deps.settings
    # Per address only, never per client id: anyone could otherwise lock a service out of
    # renewing its token by sending its id with wrong secrets.
    buckets = [deps.throttle.bucket("ip", client_ip, s.login_max_failures_per_ip)]
    await _refuse_if_throttled(deps, buckets, "client_credentials")
    expected = s.service_clients.get(client_id)
    # compare_digest on a stand-in too, so an unknown client costs the same.
    ok = (
        hmac.compare_digest((expected or "\x00unknown-client").encode(), client_secret.encode())
        and expected is not None
    )
    if not ok:
        await deps.throttle.record_failure(buckets)
        LOGINS.labels("client_credentials", "failed").inc()
        await audit.record(
            session,
            "client.auth_failed",
            actor=client_id if expected is not None else None,
            details={
                "ip": client_ip,
                "reason": "unknown_client" if expected is None else "bad_secret",
            },
        )
        return _invalid_client()
    LOGINS.labels("client_credentials", "ok").inc()
    access = await mint_service_token(
        session,
        deps.keyring,
        client_id=client_id,
        ttl_s=s.access_token_ttl_s,
        issuer=s.token_issuer,
    )
    return TokenPair(access_token=access, expires_in=s.access_token_ttl_s)


async def _issue_user_tokens(
    session: AsyncSession, deps: Deps, user: User, *, family_id: uuid.UUID | None
) -> TokenPair:
    s = deps.settings
    access = await mint_access_token(
        session,
        deps.keyring,
        subject=str(user.id),
        kind="operator" if user.kind == "operator" else "user",
        customer_id=user.customer_id,
        ttl_s=s.access_token_ttl_s,
        issuer=s.token_issuer,
        audience=s.token_audience,
    )
    refresh = await issue_refresh_token(
        session, user_id=user.id, family_id=family_id, ttl_s=s.refresh_token_ttl_s
    )
    await session.flush()
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=s.access_token_ttl_s)


async def logout(
    session: AsyncSession, deps: Deps, principal: Principal, refresh_token: str
) -> None:
    """Revoke the family of ``refresh_token`` if it is the caller's; silent otherwise, so
    the answer never confirms someone else's token."""
    found = await repo.refresh_token_with_family(session, secret_hash(refresh_token))
    if found is None or principal.is_service:
        return
    _, family = found
    if str(family.user_id) != principal.subject or family.revoked_at is not None:
        return
    now = deps.now()
    await repo.revoke_family(session, family.id, now, "logout")
    await audit.record(
        session,
        "logout",
        actor=principal.subject,
        subject=family.id,
        customer_id=principal.customer_id,
        now=now,
    )
