"""Export the payload models as JSON Schema files, for systems outside this codebase.

    python -m contracts.export            # (re)write libs/contracts/schemas
    python -m contracts.export --check    # exit 1 if the committed files are stale

Layout: ``<out>/<event type>/v<version>.json`` per payload version (``$id`` = the
``dataschema`` URN), and ``<out>/catalogue.json`` describing every topic.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from contracts.base import EventPayload, registered_payloads
from contracts.examples import EXAMPLES
from contracts.topics import CATALOGUE

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "schemas"
"""``libs/contracts/schemas`` (next to ``src``) when run from the source tree."""
CATALOGUE_FILE = "catalogue.json"
ASYNCAPI_FILE = "asyncapi.json"
REGENERATE_HINT = "uv run python -m contracts.export"

_MANAGED_SCHEMA_RE = re.compile(r"^v[1-9]\d*\.json$")


def schema_file(event_type: str, version: int) -> str:
    """Path of a payload schema relative to the output directory."""
    return f"{event_type}/v{version}.json"


def _normalize(node: Any) -> Any:
    # Pydantic < 2.10 writes both "const" and a one-value "enum" for a one-value Literal;
    # keep only "const" so the files do not depend on the pydantic version.
    if isinstance(node, dict):
        if "const" in node and node.get("enum") == [node["const"]]:
            node = {k: v for k, v in node.items() if k != "enum"}
        return {k: _normalize(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_normalize(item) for item in node]
    return node


def payload_schema(payload_cls: type[EventPayload]) -> dict[str, Any]:
    """The JSON Schema of one payload version, as it appears on the wire."""
    schema: dict[str, Any] = _normalize(payload_cls.model_json_schema(mode="serialization"))
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["$id"] = payload_cls.dataschema()
    schema["title"] = payload_cls.__name__
    schema["x-event-type"] = payload_cls.event_type
    schema["x-schema-version"] = payload_cls.version
    sample = EXAMPLES.get(payload_cls)
    if sample is not None:
        schema["examples"] = [sample.model_dump(mode="json")]
    return schema


def catalogue_document() -> dict[str, Any]:
    """What ``catalogue.json`` holds: every topic with its key, sizing and schemas."""
    topics = []
    for spec in CATALOGUE.values():
        current = (
            schema_file(spec.name, spec.schema_version) if spec.schema_version is not None else None
        )
        topics.append(
            {
                "name": spec.name,
                "key": spec.key,
                "partitions": spec.partitions,
                "retention_ms": spec.retention_ms,
                "schema_version": spec.schema_version,
                "schema": current,
                "dataschema": spec.payload.dataschema() if spec.payload else None,
                "schemas": [schema_file(spec.name, v) for v in spec.payload_versions()],
                "description": spec.description,
                "producers": list(spec.producers),
                "consumers": list(spec.consumers),
            }
        )
    return {
        "$comment": f"Generated from the contracts package; regenerate with: {REGENERATE_HINT}",
        "content_type": "application/cloudevents+json",
        "topics": topics,
    }


def asyncapi_document() -> dict[str, Any]:
    """An AsyncAPI 3.0 description of the event topics, for other internal systems.

    Payloads reference the exported JSON Schemas; every message is a CloudEvent in
    structured mode whose ``data`` follows that schema.
    """
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for spec in CATALOGUE.values():
        channel_id = spec.name.replace(".", "_").replace("-", "_")
        payload: dict[str, Any] = (
            {"$ref": schema_file(spec.name, spec.schema_version)}
            if spec.schema_version is not None
            else {"description": "The original message, unchanged, with dlq.* headers."}
        )
        channels[channel_id] = {
            "address": spec.name,
            "description": spec.description,
            "messages": {
                "event": {
                    "name": spec.name,
                    "contentType": "application/cloudevents+json",
                    "summary": f"Key: {spec.key}. Partitions: {spec.partitions}.",
                    "payload": payload,
                }
            },
            "bindings": {
                "kafka": {
                    "topic": spec.name,
                    "partitions": spec.partitions,
                    "topicConfiguration": {"retention.ms": spec.retention_ms},
                }
            },
        }
        for producer in spec.producers:
            operations[f"{producer}_sends_{channel_id}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "summary": f"{producer} publishes through its outbox",
            }
        for consumer in spec.consumers:
            operations[f"{consumer}_receives_{channel_id}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "summary": f"{consumer} consumes at least once, de-duplicated by its inbox",
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Enterprise self-service portal events",
            "version": "1.0.0",
            "description": f"Generated from the contracts package; regenerate with: "
            f"{REGENERATE_HINT}",
        },
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "deploy/local/infra.sh",
            },
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
    }


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render() -> dict[str, str]:
    """Every file the export writes: relative path -> content."""
    files = {
        schema_file(event_type, version): _dump(payload_schema(cls))
        for (event_type, version), cls in sorted(registered_payloads().items())
    }
    files[CATALOGUE_FILE] = _dump(catalogue_document())
    files[ASYNCAPI_FILE] = _dump(asyncapi_document())
    return files


def _managed_files(out_dir: Path) -> set[str]:
    # Only files that look like ours; anything else in the folder (a README) is left alone.
    found: set[str] = set()
    for name in (CATALOGUE_FILE, ASYNCAPI_FILE):
        if (out_dir / name).is_file():
            found.add(name)
    if out_dir.is_dir():
        for path in out_dir.glob("*/*.json"):
            if path.is_file() and _MANAGED_SCHEMA_RE.match(path.name):
                found.add(path.relative_to(out_dir).as_posix())
    return found


def check(out_dir: Path = DEFAULT_OUT) -> list[str]:
    """Differences between ``out_dir`` and a fresh export: ``missing: ...``,
    ``stale: ...``, ``extra: ...``. Empty when up to date. Writes nothing."""
    expected = render()
    present = _managed_files(out_dir)
    problems = [f"missing: {rel}" for rel in sorted(expected.keys() - present)]
    problems += [
        f"stale: {rel}"
        for rel in sorted(expected.keys() & present)
        if (out_dir / rel).read_bytes() != expected[rel].encode()
    ]
    problems += [f"extra: {rel}" for rel in sorted(present - expected.keys())]
    return problems


def write(out_dir: Path = DEFAULT_OUT) -> list[str]:
    """Bring ``out_dir`` up to date; returns what changed (same form as ``check``)."""
    changes = check(out_dir)
    expected = render()
    for rel, content in expected.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_bytes() != content.encode():
            path.write_bytes(content.encode())
    for rel in _managed_files(out_dir) - expected.keys():
        path = out_dir / rel
        path.unlink()
        if path.parent != out_dir and not any(path.parent.iterdir()):
            path.parent.rmdir()
    return changes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m contracts.export",
        description="Export event payload JSON Schemas and the topic catalogue.",
    )
    parser.add_argument(
        "--check", action="store_true", help="only compare; exit 1 if files are stale"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})"
    )
    args = parser.parse_args(argv)
    out_dir: Path = args.out
    if args.check:
        problems = check(out_dir)
        if problems:
            print(f"JSON Schemas in {out_dir} are out of date:")
            for problem in problems:
                print(f"  {problem}")
            print(f"Regenerate with: {REGENERATE_HINT}")
            return 1
        print(f"JSON Schemas in {out_dir} are up to date.")
        return 0
    changes = write(out_dir)
    for change in changes:
        print(change)
    print(f"{len(render())} files in {out_dir}; {len(changes)} changed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
