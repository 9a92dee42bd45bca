"""``python -m <service> [serve|migrate]``: the same entry point for every service."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from fastapi import FastAPI

from servicekit.app import serve
from servicekit.migrations import upgrade_to_head
from servicekit.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def run_cli(
    settings_factory: Callable[[], S],
    app_factory: Callable[[S], FastAPI],
    migrations_dir: Path,
    argv: list[str] | None = None,
) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    args = parser.parse_args(argv)
    settings = settings_factory()
    if args.command == "migrate":
        upgrade_to_head(settings.database_url, migrations_dir)
        print(f"{settings.service_name}: database at head")
        return 0
    serve(lambda: app_factory(settings), settings)
    return 0


def main_for(
    settings_factory: Callable[[], S],
    app_factory: Callable[[S], FastAPI],
    migrations_dir: Path,
) -> None:
    sys.exit(run_cli(settings_factory, app_factory, migrations_dir))
