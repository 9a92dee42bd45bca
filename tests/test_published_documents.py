"""Documents generated from the code (OpenAPI per service, settings reference) must be current."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from export_docs import stale


def test_committed_openapi_documents_and_settings_reference_are_current() -> None:
    outdated = stale()
    assert not outdated, (
        f"stale documents: {outdated}; regenerate with `uv run python tools/export_docs.py`"
    )
