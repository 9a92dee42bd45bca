from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from delegation_env import Env, delegation_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    """The app on a fresh SQLite file, without Kafka (relay and consumer off)."""
    async with delegation_env(f"sqlite+aiosqlite:///{tmp_path}/delegation.db") as e:
        yield e
