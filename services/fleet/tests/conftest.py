import sys
from pathlib import Path

# pytest runs with --import-mode=importlib, which does not put test folders on sys.path;
# the helpers shared by unit and integration tests live in support/.
sys.path.insert(0, str(Path(__file__).parent / "support"))
