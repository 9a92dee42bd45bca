"""Is this failure our database being unavailable, or something wrong with the work?

The answer decides what happens next, the same way everywhere:
- the consumer waits and retries the same event without limit (never dead-letters a
  healthy event because the database restarted);
- the HTTP layer answers 503 with ``Retry-After`` (nothing was changed) instead of 500;
- the notifier keeps retrying the commit that records a message as sent.

With asyncpg an outage does not always arrive as SQLAlchemy's ``OperationalError``:
connecting to a stopped server raises a plain ``OSError``/``ConnectionRefusedError``, a
server shutting down or starting up answers SQLSTATE 57P01-57P03, a connection dropped
mid-query shows up as SQLSTATE class 08 or an invalidated connection, and a saturated
pool as SQLAlchemy's pool ``TimeoutError``. All of these are "unavailable".
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up),
# 53300 too_many_connections; class 08 is "connection exception".
UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def _sqlstate(exc: BaseException) -> str | None:
    for candidate in (exc, getattr(exc, "orig", None), getattr(exc, "__cause__", None)):
        if candidate is None:
            continue
        for attr in ("sqlstate", "pgcode"):
            code = getattr(candidate, attr, None)
            if isinstance(code, str) and code:
                return code
    return None


def _one(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout | OperationalError | ConnectionError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        code = _sqlstate(exc)
        return code is not None and (code.startswith("08") or code in UNAVAILABLE_SQLSTATES)
    # OSError covers refused/reset connections and unresolvable hosts; TimeoutError is an
    # OSError too (a connect that never completes).
    if isinstance(exc, OSError):
        return True
    code = _sqlstate(exc)  # asyncpg's own exceptions, when not wrapped by SQLAlchemy
    return code is not None and (code.startswith("08") or code in UNAVAILABLE_SQLSTATES)


def is_database_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) says the database cannot be reached now."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _one(current):
            return True
        current = current.__cause__  # explicit chaining only: a context is not a cause
    return False
