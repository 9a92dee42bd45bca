"""The kit's migration steps build exactly the kit's tables, on SQLite and PostgreSQL."""

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from servicekit.db import add_kit_tables, create_engine, new_metadata
from servicekit.migrations import create_kit_tables_v1, drop_kit_tables_v1
from servicekit.testing import fresh_database_url

pytestmark = pytest.mark.integration


def _create_compare_drop(conn: Connection) -> tuple[list[Any], list[str]]:
    metadata = new_metadata()
    add_kit_tables(metadata)
    ctx = MigrationContext.configure(conn, opts={"target_metadata": metadata, "compare_type": True})
    with Operations.context(ctx):
        create_kit_tables_v1()
        diff = compare_metadata(ctx, metadata)
        drop_kit_tables_v1()
    return diff, inspect(conn).get_table_names()


async def test_kit_table_steps_build_exactly_the_kit_tables() -> None:
    engine = create_engine(await fresh_database_url("kit"))
    try:
        async with engine.begin() as conn:
            diff, left = await conn.run_sync(_create_compare_drop)
    finally:
        await engine.dispose()
    assert diff == []
    assert left == []
