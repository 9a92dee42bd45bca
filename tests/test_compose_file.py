"""docker-compose.yml runs the images built here, each with a healthcheck, on its own
network, and publishes only ports that do not clash with the local infrastructure; the
Grafana dashboards speak of metrics the code exports and Prometheus scrapes all six.

(`make compose-test` is the proof that the stack runs: these checks are its static half.)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from promql import exported_metric_names, metric_names  # noqa: E402

COMPOSE = ROOT / "docker-compose.yml"
DASHBOARDS = sorted((ROOT / "deploy" / "monitoring" / "grafana" / "dashboards").glob("*.json"))
SERVICES = ("identity", "delegation", "billing", "fleet", "einvoice", "notifier")
# The host ports deploy/local's processes hold on a development or CI machine: Kafka,
# PostgreSQL, Redis, the SMTP and HTTP sinks, and the six services.
LOCAL_INFRA_PORTS = {9092, 9093, 5432, 6379, 1025, 8025, *range(8001, 8007)}
# Services that need an image from a registry: only behind a profile, never by default.
REGISTRY_ONLY = {"grafana"}


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _services() -> dict[str, dict[str, Any]]:
    return _compose()["services"]


def _default_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in _services().items() if not s.get("profiles")}


PORT_MAPPING = re.compile(
    r"(?:[0-9.]+:)?(?:\$\{[A-Z_]+:-(?P<default>\d+)\}|(?P<port>\d+)):\d+(?:/(?:tcp|udp))?"
)


def _host_port(mapping: str | dict[str, Any]) -> int:
    """The host port of a `ports:` entry ("8080:8080", "${X:-8080}:8080", long form)."""
    if isinstance(mapping, dict):
        return int(mapping["published"])
    match = PORT_MAPPING.fullmatch(str(mapping))
    assert match, f"{mapping}: not HOST:CONTAINER (a lone container port gets a random host port)"
    return int(match["default"] or match["port"])


def test_every_default_service_runs_an_image_built_here() -> None:
    build_script = (ROOT / "deploy" / "images" / "build.sh").read_text()
    for name, service in _default_services().items():
        image = service.get("image", "")
        assert image.startswith("localhost/portal-"), f"{name}: image {image!r} is not built here"
        assert "build" not in service, f"{name}: builds in compose instead of `make images`"
        repo = image.split(":")[0].removeprefix("localhost/")
        assert repo in build_script or repo.removeprefix("portal-") in SERVICES, (
            f"{name}: deploy/images/build.sh does not make {image}"
        )


def test_image_tags_carry_the_versions_pinned_in_versions_env() -> None:
    pinned = dict(
        line.split("=", 1)
        for line in (ROOT / "deploy" / "local" / "versions.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    services = _services()
    for broker in ("kafka-1", "kafka-2", "kafka-3"):
        assert services[broker]["image"] == f"localhost/portal-kafka:{pinned['KAFKA_VERSION']}"
    assert services["postgres"]["image"] == f"localhost/portal-postgres:{pinned['POSTGRES_MAJOR']}"


def test_registry_images_are_only_behind_a_profile() -> None:
    for name, service in _services().items():
        if not service["image"].startswith("localhost/"):
            assert name in REGISTRY_ONLY and service.get("profiles"), name


def test_every_long_running_service_has_a_healthcheck_and_the_job_completes() -> None:
    for name, service in _services().items():
        check = service.get("healthcheck", {})
        if name == "topics":  # a one-shot job: the others wait for it to complete
            assert check.get("disable") is True and service["restart"] == "no"
            continue
        assert check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable"), name


def test_services_wait_for_healthy_infrastructure_and_created_topics() -> None:
    services = _services()
    for name in SERVICES:
        deps = services[name]["depends_on"]
        for infra in ("postgres", "redis", "kafka-1", "kafka-2", "kafka-3"):
            assert deps[infra]["condition"] == "service_healthy", (name, infra)
        assert deps["topics"]["condition"] == "service_completed_successfully", name
    gateway = services["gateway"]["depends_on"]
    assert {n for n, d in gateway.items() if d["condition"] == "service_healthy"} == set(SERVICES)


def test_every_service_uses_its_own_database_and_three_brokers() -> None:
    services = _services()
    databases = set(services["postgres"]["environment"]["POSTGRES_DATABASES"].split(","))
    assert databases == set(SERVICES)
    for name in SERVICES:
        env = services[name]["environment"]
        url = env[f"{name.upper()}_DATABASE_URL"]
        assert url.endswith(f"@postgres:5432/{name}"), url
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka-1:9092,kafka-2:9092,kafka-3:9092"
    assert services["topics"]["environment"]["KAFKA_REPLICATION_FACTOR"] == "3"
    voters = {
        services[f"kafka-{i}"]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"] for i in (1, 2, 3)
    }
    assert voters == {"1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"}
    assert {
        services[f"kafka-{i}"]["environment"]["KAFKA_MIN_INSYNC_REPLICAS"] for i in (1, 2, 3)
    } == {"2"}


def test_all_containers_share_one_named_network() -> None:
    compose = _compose()
    [(key, network)] = compose["networks"].items()
    assert network["name"] == "portal-net"
    for name, service in _services().items():
        networks = service.get("networks")
        assert list(networks) == [key], name  # a list, or a mapping with the gateway's address


def test_only_the_gateway_prometheus_and_grafana_publish_host_ports_none_clashing() -> None:
    published = {
        name: [_host_port(p) for p in service.get("ports", [])]
        for name, service in _services().items()
    }
    assert {n for n, ports in published.items() if ports} == {"gateway", "prometheus", "grafana"}
    assert published["gateway"] == [8080, 8443]
    every = [p for ports in published.values() for p in ports]
    assert len(every) == len(set(every)), "two services publish the same host port"
    assert not set(every) & LOCAL_INFRA_PORTS


def test_the_gateway_runs_the_generated_route_table_and_is_the_only_trusted_proxy() -> None:
    """The table itself (every documented path to its service) is tested in test_gateway.py."""
    services = _services()
    [mount] = [v for v in services["gateway"]["volumes"] if v.endswith(":/etc/nginx/nginx.conf:ro")]
    assert mount.split(":")[0] == "./deploy/gateway/nginx.compose.conf"
    gateway_address = services["gateway"]["networks"]["portal"]["ipv4_address"]
    for service in SERVICES:
        assert services[service]["environment"]["TRUSTED_PROXIES"] == gateway_address


def test_prometheus_scrapes_the_six_services_and_loads_the_alert_rules() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "monitoring" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    [portal] = [job for job in config["scrape_configs"] if job["job_name"] == "portal"]
    targets = {t for group in portal["static_configs"] for t in group["targets"]}
    ports = {s: 8001 + i for i, s in enumerate(SERVICES)}
    assert targets == {f"{s}:{port}" for s, port in ports.items()}
    mounts = _services()["prometheus"]["volumes"]
    assert "./deploy/monitoring/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts


# --------------------------------------------------------------------- dashboards


def _expressions() -> list[tuple[str, str]]:
    found = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                found.append((f"{path.name}: {panel['title']}", target["expr"]))
    return found


def test_the_metric_extraction_sees_names_and_ignores_functions_and_labels() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (service, le) "
        '(rate(http_request_duration_seconds_bucket{service=~"$service"}[$__rate_interval])))'
    )
    assert metric_names(expr) == {"http_request_duration_seconds"}


def test_every_metric_on_a_dashboard_is_exported_by_the_code() -> None:
    exported = exported_metric_names()
    expressions = _expressions()
    assert len(expressions) >= 10
    for where, expr in expressions:
        used = metric_names(expr)
        assert used, f"{where}: no metric in {expr!r}"
        assert used <= exported, f"{where} uses unknown metrics {used - exported}"


def test_dashboards_cover_requests_latency_errors_outbox_lag_dead_letters_and_notifier() -> None:
    exprs = " ".join(expr for _, expr in _expressions())
    for needed in (
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        'status=~"5..',
        "outbox_oldest_event_age_seconds",
        "consumer_group_lag_events",
        'outcome="dead_lettered"',
        "notifier_send_attempts_total",
    ):
        assert needed in exprs, needed
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        datasources = {p["datasource"]["uid"] for p in dashboard["panels"]}
        assert datasources == {"portal-prometheus"}, path.name
    provisioned = yaml.safe_load(
        (ROOT / "deploy/monitoring/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    assert provisioned["datasources"][0]["uid"] == "portal-prometheus"
