"""A database outage as asyncpg really reports it: recognised as one, answered 503."""

from __future__ import annotations

import os
import socket

import asyncpg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text

from servicekit.db import Database, new_metadata
from servicekit.faults import is_database_unavailable
from servicekit.problems import install_problem_handlers
from servicekit.testing import drop_database, fresh_database_url

pytestmark = pytest.mark.integration


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


def _app(db: Database) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things")
    async def write() -> dict[str, int]:
        async with db.transaction() as session:
            value = (await session.execute(text("SELECT 1"))).scalar_one()
        return {"value": value}

    return app


async def test_a_stopped_server_answers_503_with_retry_after_not_500() -> None:
    url = f"postgresql+asyncpg://portal:portal@127.0.0.1:{_closed_port()}/nothing"
    db = Database(url, new_metadata())
    try:
        transport = ASGITransport(app=_app(db), raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://t") as client:
            resp = await client.post("/things")
    finally:
        await db.dispose()
    assert resp.status_code == 503, resp.text
    assert resp.headers["retry-after"] == "5"
    assert resp.headers["content-type"] == "application/problem+json"


async def test_a_connection_terminated_by_the_server_is_an_outage() -> None:
    """What a restart does to open connections: SQLSTATE 57P01 (admin shutdown)."""
    url = await fresh_database_url("kit_outage")
    db = Database(url, new_metadata())
    admin = await asyncpg.connect(
        os.environ["TEST_POSTGRES_URL"].replace("postgresql+asyncpg://", "postgresql://")
    )
    try:
        async with db.sessions() as session:
            pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
            with pytest.raises(Exception) as caught:
                await session.execute(text("SELECT 1"))
        assert is_database_unavailable(caught.value), repr(caught.value)
    finally:
        await admin.close()
        await db.dispose()
        await drop_database(url)
