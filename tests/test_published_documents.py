"""The API documents committed under docs/openapi must match what the services serve."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from export_openapi import stale


def test_committed_openapi_documents_match_the_services() -> None:
    outdated = stale()
    assert not outdated, (
        f"stale OpenAPI documents: {outdated}; regenerate with "
        "`uv run python tools/export_openapi.py`"
    )
