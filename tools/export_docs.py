"""Write the documents generated from the code: each service's OpenAPI document
(docs/openapi/<service>.json) and the settings reference (docs/settings.md).

    uv run python tools/export_docs.py [--check]

The services serve the same OpenAPI document at /openapi.json; the committed copies let
reviewers see API changes in a diff and let the gateway team read the contract without
running anything. `--check` (run by the test suite) fails when a copy is stale.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import AliasChoices
from pydantic.fields import FieldInfo

SERVICES = ("identity", "delegation", "billing", "fleet", "einvoice", "notifier")
DOCS = Path(__file__).resolve().parents[1] / "docs"


def openapi(service: str) -> str:
    app = importlib.import_module(f"{service}.main").create_app()
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _settings_class(service: str) -> Any:
    module = importlib.import_module(f"{service}.settings")
    base = importlib.import_module("servicekit.settings").ServiceSettings
    return next(
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, base) and v is not base
    )


def _env_names(name: str, field: FieldInfo, prefix: str) -> str:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        names = [str(c) for c in alias.choices if str(c).isupper()]
        return ", ".join(f"`{n}`" for n in names)
    return f"`{prefix}{name.upper()}`"


def _default(name: str, field: FieldInfo, secrets: set[str]) -> str:
    if name in secrets:
        return "development placeholder, refused in production"
    if field.default_factory is not None:
        return "computed"
    value = field.default
    if value in ("", None):
        return "—"
    return f"`{value}`"


def settings_reference() -> str:
    base = importlib.import_module("servicekit.settings").ServiceSettings
    lines = [
        "# Settings reference",
        "",
        "Generated from the settings classes by `uv run python tools/export_docs.py`; a test",
        "fails when this file is stale. Every service reads its settings from the environment",
        "at start-up and refuses to start on an invalid value.",
        "",
        "## Every service",
        "",
        "`<SERVICE>` is the service's name in capitals (e.g. `BILLING_DATABASE_URL`). Settings",
        "shown without prefix are shared by all services.",
        "",
        "| variable | default |",
        "|---|---|",
    ]
    shared_secrets = {"client_secret"}
    for name, field in base.model_fields.items():
        env = _env_names(name, field, "<SERVICE>_")
        default = _default(name, field, shared_secrets)
        if name == "database_url":
            default = "SQLite file `var/data/<service>.db` (or under `PORTAL_DATA_DIR`)"
        elif name in ("service_name", "port"):
            default = "the service's own"
        elif name in ("client_id", "consumer_group", "kafka_sasl_username"):
            default = "the service's name"
        elif name == "kafka_sasl_password":
            default = "`<service>-local-only` (the local broker's; refused in production)"
        lines.append(f"| {env} | {default} |")
    for service in SERVICES:
        cls = _settings_class(service)
        prefix = str(cls.model_config.get("env_prefix", ""))
        secrets = set(cls.secret_fields(cls.model_construct()))
        # Its own settings, and shared ones whose default it changes.
        own = [
            (n, f)
            for n, f in cls.model_fields.items()
            if n not in base.model_fields
            or (n not in ("service_name", "port") and f.default != base.model_fields[n].default)
        ]
        lines += [
            "",
            f"## {service}",
            "",
            f"Port {cls.model_fields['port'].default}; prefix `{prefix}`.",
            "",
        ]
        if not own:
            lines.append("No settings of its own.")
            continue
        lines += ["| variable | default |", "|---|---|"]
        for name, field in own:
            lines.append(
                f"| {_env_names(name, field, prefix)} | {_default(name, field, secrets)} |"
            )
    return "\n".join(lines) + "\n"


def render() -> dict[Path, str]:
    files = {DOCS / "openapi" / f"{s}.json": openapi(s) for s in SERVICES}
    files[DOCS / "settings.md"] = settings_reference()
    return files


def stale() -> list[str]:
    return [
        str(path.relative_to(DOCS.parent))
        for path, content in render().items()
        if not path.is_file() or path.read_text(encoding="utf-8") != content
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="export_docs")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale()
        for path in outdated:
            print(f"stale: {path}")
        return 1 if outdated else 0
    for path, content in render().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    print(f"wrote {len(render())} documents under {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
