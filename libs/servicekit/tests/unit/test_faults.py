"""What counts as "our database is unavailable" (retry / 503), and what does not."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from servicekit.faults import is_database_unavailable


class _Orig(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def _dbapi(sqlstate: str) -> DBAPIError:
    return DBAPIError("SELECT 1", {}, _Orig(sqlstate))


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connect call failed"),  # asyncpg, server stopped
        OSError(113, "No route to host"),
        ConnectionResetError(104, "reset by peer"),
        _dbapi("57P01"),  # admin shutdown
        _dbapi("57P02"),  # crash shutdown
        _dbapi("57P03"),  # the database system is starting up
        _dbapi("08006"),  # connection failure
        _dbapi("53300"),  # too many connections
        asyncpg.exceptions.CannotConnectNowError("starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        OperationalError("SELECT 1", {}, Exception("database is locked")),
        PoolTimeout("QueuePool limit reached"),
    ],
    ids=repr,
)
def test_outages_are_recognised(exc: BaseException) -> None:
    assert is_database_unavailable(exc)


def test_an_error_explicitly_caused_by_an_outage_is_one() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "Connect call failed")
        except ConnectionRefusedError as cause:
            raise RuntimeError("could not load") from cause
    except RuntimeError as exc:
        assert is_database_unavailable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        IntegrityError("INSERT", {}, _Orig("23505")),  # unique violation: a real conflict
        _dbapi("22P02"),  # invalid text representation: a bug or bad data
        _dbapi("40001"),  # serialization failure: retried as an ordinary error
        ValueError("bad payload"),
        KeyError("missing"),
    ],
    ids=repr,
)
def test_other_failures_are_not(exc: BaseException) -> None:
    assert not is_database_unavailable(exc)


def test_an_outage_met_while_handling_another_error_is_not_its_cause() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "refused")
        except ConnectionRefusedError:
            raise ValueError("bad payload")  # the context, not the cause, is the point
    except ValueError as exc:
        assert not is_database_unavailable(exc)
