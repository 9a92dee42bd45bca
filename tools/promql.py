"""Which metrics a PromQL expression speaks of, and which the code exports.

Used by the tests that hold the dashboards (``tests/test_compose_file.py``) and the alert
rules (``tests/test_alert_rules.py``) to the metrics the services really export.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_QUOTED = re.compile(r'"[^"]*"')
_GROUPING = re.compile(r"\b(?:by|on|without|ignoring)\s*\([^)]*\)")
_LABEL_MATCHERS = re.compile(r"\{[^}]*\}")
_GRAFANA_VARIABLE = re.compile(r"\$\w+")
_IDENTIFIER = re.compile(r"\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b")
_FUNCTIONS = {"histogram_quantile", "label_replace", "label_join", "count_values"}


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (or a Grafana one with ``$variables``):
    identifiers with an underscore, once quoted strings, label matchers, grouping label
    lists and functions are removed; a histogram's ``_bucket``/``_sum``/``_count`` is the
    histogram."""
    bare = _GRAFANA_VARIABLE.sub(
        "", _LABEL_MATCHERS.sub("", _GROUPING.sub("", _QUOTED.sub("", expr)))
    )
    names = set(_IDENTIFIER.findall(bare)) - _FUNCTIONS
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}


def exported_metric_names(root: Path = REPO) -> set[str]:
    """The names of the Prometheus Counters, Gauges and Histograms the code declares."""
    names: set[str] = set()
    for path in [*root.glob("libs/*/src/**/*.py"), *root.glob("services/*/src/**/*.py")]:
        names |= set(re.findall(r'(?:Counter|Gauge|Histogram)\(\s*"([a-z_]+)"', path.read_text()))
    return names
