"""Every service's migrations build exactly the tables its models describe (kit tables
included), so a model change without its migration fails here, not in production."""

import importlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from servicekit.migrations import upgrade_to_head

SERVICES = ["identity", "delegation", "billing", "fleet", "einvoice", "notifier"]


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_build_the_models(service: str, tmp_path: Path) -> None:
    models = importlib.import_module(f"{service}.models")
    main = importlib.import_module(f"{service}.main")
    path = tmp_path / f"{service}.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{path}", main.MIGRATIONS_DIR)
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": False})
            diff = compare_metadata(ctx, models.Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
