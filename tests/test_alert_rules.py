"""The alert rules speak of metrics the code exports, and each has a runbook section.

(`make check-alerts` runs promtool on the same file: syntax, and the rules' unit tests.)
"""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "monitoring" / "alerts.yml"
QUOTED = re.compile(r'"[^"]*"')
GROUPING = re.compile(r"\b(?:by|on|without|ignoring)\s*\([^)]*\)")
IDENTIFIER = re.compile(r"\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b")


def _metrics_in(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers with an underscore, once quoted
    label values and grouping label lists are removed."""
    return set(IDENTIFIER.findall(GROUPING.sub("", QUOTED.sub("", expr))))


def _alerts() -> list[dict]:  # type: ignore[type-arg]
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _exported_metric_names() -> set[str]:
    names: set[str] = set()
    for path in [*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]:
        names |= set(re.findall(r'(?:Counter|Gauge|Histogram)\(\s*"([a-z_]+)"', path.read_text()))
    return names


def test_every_metric_in_an_alert_is_exported_by_the_code() -> None:
    exported = _exported_metric_names()
    for rule in _alerts():
        used = _metrics_in(str(rule["expr"]))
        assert used, rule["alert"]
        assert used <= exported, f"{rule['alert']} uses unknown metrics {used - exported}"


def test_every_alert_has_a_runbook_section() -> None:
    runbook = (ROOT / "docs" / "operations.md").read_text()
    for rule in _alerts():
        name = rule["alert"]
        assert f"### {name}" in runbook, f"no runbook section for {name}"
        assert rule["annotations"]["runbook"].endswith("#" + name.lower())
