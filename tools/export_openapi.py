"""Write each service's OpenAPI document to docs/openapi/<service>.json.

    uv run python tools/export_openapi.py [--check]

The services serve the same document at /openapi.json; the committed copies let reviewers
see API changes in a diff and let the gateway team consume the contract without running
anything. `--check` (run by the test suite) fails when a copy is stale.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

SERVICES = ("identity", "delegation", "billing", "fleet", "einvoice", "notifier")
OUT = Path(__file__).resolve().parents[1] / "docs" / "openapi"


def render(service: str) -> str:
    app = importlib.import_module(f"{service}.main").create_app()
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def stale(out: Path = OUT) -> list[str]:
    return [
        s
        for s in SERVICES
        if not (out / f"{s}.json").is_file()
        or (out / f"{s}.json").read_text(encoding="utf-8") != render(s)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="export_openapi")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale()
        for s in outdated:
            print(f"stale: docs/openapi/{s}.json")
        return 1 if outdated else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for s in SERVICES:
        (OUT / f"{s}.json").write_text(render(s), encoding="utf-8")
    print(f"wrote {len(SERVICES)} OpenAPI documents to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
