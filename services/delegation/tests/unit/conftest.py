from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from delegation_env import Env, delegation_env


@pytest.fixture(scope="session")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    """The app on a fresh SQLite file, without Kafka (relay and consumer off). Shared by
    the tests: each makes its own customers and users with fresh ids."""
    folder: Path = tmp_path_factory.mktemp("delegation")
    async with delegation_env(f"sqlite+aiosqlite:///{folder}/delegation.db") as e:
        yield e
