import sys
from pathlib import Path

# pytest runs with --import-mode=importlib, which does not put test folders on sys.path;
# the shared helpers live in support/.
sys.path.insert(0, str(Path(__file__).parent / "support"))

import pytest
from billing_peppol import PeppolValidator, ensure_artefacts


@pytest.fixture(scope="session")
def peppol() -> PeppolValidator:
    """The UBL 2.1 schemas and the two Peppol rule sets, compiled once per session."""
    return PeppolValidator(ensure_artefacts())
