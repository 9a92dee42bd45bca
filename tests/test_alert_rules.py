"""The alert rules speak of metrics the code exports, and each has a runbook section.

(`make check-alerts` runs promtool on the same file: syntax, and the rules' unit tests.)
"""

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "monitoring" / "alerts.yml"
sys.path.insert(0, str(ROOT / "tools"))

from promql import exported_metric_names, metric_names  # noqa: E402


def _alerts() -> list[dict]:  # type: ignore[type-arg]
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_metric_in_an_alert_is_exported_by_the_code() -> None:
    exported = exported_metric_names()
    for rule in _alerts():
        used = metric_names(str(rule["expr"]))
        assert used, rule["alert"]
        assert used <= exported, f"{rule['alert']} uses unknown metrics {used - exported}"


def test_every_alert_has_a_runbook_section() -> None:
    runbook = (ROOT / "docs" / "operations.md").read_text()
    for rule in _alerts():
        name = rule["alert"]
        assert f"### {name}" in runbook, f"no runbook section for {name}"
        assert rule["annotations"]["runbook"].endswith("#" + name.lower())
