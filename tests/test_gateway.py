"""The gateway's route table, generated from the services' OpenAPI documents."""

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import gateway
from gateway import Route, RouteConflictError, load_paths, route_table

DOCS = Path(__file__).resolve().parents[1] / "docs" / "openapi"


def _example(path: str) -> str:
    """A concrete request path for an OpenAPI path template."""
    return re.sub(r"\{[^}]+\}", "0c0ffee0-0000-4000-8000-000000000001", path)


def _nginx_locations(conf: str) -> list[tuple[str, str, str]]:
    """(kind, pattern, service) of each route location of the first server block."""
    server = conf.split("    server {", 1)[1].split("\n    }\n", 1)[0]
    found = re.findall(
        r'location (=|~) "?([^"{ ]+)"? \{[^\n]*\n\s+proxy_pass http://([a-z]+);', server
    )
    return [(kind, pattern, service) for kind, pattern, service in found]


def _route_of(locations: list[tuple[str, str, str]], request_path: str) -> str | None:
    """The service nginx picks: exact matches first, then regexes in file order."""
    for kind, pattern, service in locations:
        if kind == "=" and pattern == request_path:
            return service
    for kind, pattern, service in locations:
        if kind == "~" and re.search(pattern, request_path):
            return service
    return None


def test_generation_fails_when_two_services_claim_the_same_path() -> None:
    with pytest.raises(RouteConflictError, match=r"/v1/sims/\{sim_id\} \(fleet\)"):
        route_table({"fleet": ["/v1/sims/{sim_id}"], "billing": ["/v1/sims/{sim_id}"]})


def test_generation_fails_when_a_template_of_one_service_covers_a_path_of_another() -> None:
    with pytest.raises(RouteConflictError, match="catalogue"):
        route_table({"fleet": ["/v1/sims/{sim_id}"], "billing": ["/v1/sims/catalogue"]})
    with pytest.raises(RouteConflictError):
        route_table({"fleet": ["/v1/a/{x}/b"], "billing": ["/v1/a/c/{y}"]})


def test_generation_fails_when_a_service_claims_the_gateways_own_health_path() -> None:
    with pytest.raises(RouteConflictError, match="/gateway/healthz"):
        route_table({"fleet": ["/gateway/healthz"]})


def test_paths_sharing_a_prefix_but_not_a_shape_are_no_conflict() -> None:
    routes = route_table(
        {
            "billing": ["/v1/customers/{customer_id}/billing-accounts"],
            "fleet": ["/v1/customers/{customer_id}/sims"],
            "identity": ["/v1/customers/{customer_id}/users/{user_id}"],
        }
    )
    assert {(r.path, r.service) for r in routes} == {
        ("/v1/customers/{customer_id}/billing-accounts", "billing"),
        ("/v1/customers/{customer_id}/sims", "fleet"),
        ("/v1/customers/{customer_id}/users/{user_id}", "identity"),
    }


def test_a_path_the_gateway_cannot_express_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be routed"):
        route_table({"fleet": ['/v1/sims/{sim_id}"; return 200']})


def test_the_committed_documents_have_no_conflicting_paths() -> None:
    routes = route_table(load_paths())
    assert len(routes) == sum(len(p) for p in load_paths().values())


def test_every_openapi_path_is_routed_to_its_service_by_the_nginx_config() -> None:
    conf = (gateway.REPO / "deploy/gateway/nginx.compose.conf").read_text()
    locations = _nginx_locations(conf)
    checked = 0
    for document in sorted(DOCS.glob("*.json")):
        service = document.stem
        for path in json.loads(document.read_text())["paths"]:
            assert _route_of(locations, _example(path)) == service, path
            checked += 1
    assert checked == len(locations) > 50
    # Nothing else reaches a service: its docs, metrics and probes stay internal.
    for internal in ("/docs", "/openapi.json", "/metrics", "/readyz", "/v1/sims"):
        assert _route_of(locations, internal) is None


def test_every_openapi_path_is_routed_to_its_service_by_the_httproutes() -> None:
    documents = list(
        yaml.safe_load_all((gateway.REPO / "deploy/k8s/gateway/httproutes.yaml").read_text())
    )
    table: list[tuple[str, str, str]] = []
    for doc in filter(None, documents):
        assert doc["kind"] == "HTTPRoute"
        assert doc["spec"]["parentRefs"] == [{"name": "portal", "sectionName": "https"}]
        for rule in doc["spec"]["rules"]:
            assert len(rule["matches"]) <= 8
            (backend,) = rule["backendRefs"]
            for match in rule["matches"]:
                kind = "=" if match["path"]["type"] == "Exact" else "~"
                table.append((kind, match["path"]["value"], backend["name"]))
            assert backend["port"] == gateway.PORTS[backend["name"]]
    for document in sorted(DOCS.glob("*.json")):
        for path in json.loads(document.read_text())["paths"]:
            assert _route_of(table, _example(path)) == document.stem, path
    assert len([d for d in documents if d]) == 6


def test_committed_gateway_files_are_current() -> None:
    assert gateway.stale() == [], "regenerate with `uv run python tools/gateway.py`"


def test_retry_after_follows_the_configured_rate() -> None:
    cfg = gateway.compose_config()
    assert gateway.EdgeConfig(upstreams={}, rate="20r/s").retry_after_s == 1
    assert gateway.EdgeConfig(upstreams={}, rate="2r/m").retry_after_s == 30
    assert f"add_header Retry-After {cfg.retry_after_s} always;" in gateway.render_nginx(
        [Route("/v1/me", "identity")], cfg, source="test"
    )


def test_a_malformed_cors_origin_is_refused() -> None:
    cfg = gateway.EdgeConfig(upstreams={"identity": "x:1"}, cors_origins=("*",))
    with pytest.raises(ValueError, match="CORS origin"):
        gateway.render_nginx([Route("/v1/me", "identity")], cfg, source="test")


def test_the_gateways_overload_refusal_has_the_services_problem_type() -> None:
    from servicekit.problems import TYPE_BASE

    assert gateway.OVERLOADED_TYPE == TYPE_BASE + "overloaded"


def test_each_service_is_limited_in_flight_unless_the_limit_is_off() -> None:
    routes = [Route("/v1/me", "identity"), Route("/v1/catalogue", "fleet")]
    limited = gateway.render_nginx(
        routes,
        gateway.EdgeConfig(upstreams={"identity": "i:1", "fleet": "f:2"}, upstream_max_conns=8),
        source="test",
    )
    assert "server i:1 max_conns=8;" in limited and "server f:2 max_conns=8;" in limited
    assert "zone upstream_identity 64k;" in limited
    assert "return 503 " in limited and "/problems/overloaded" in limited
    unlimited = gateway.render_nginx(
        routes,
        gateway.EdgeConfig(upstreams={"identity": "i:1", "fleet": "f:2"}, upstream_max_conns=0),
        source="test",
    )
    assert "max_conns" not in unlimited and "zone upstream_" not in unlimited
    # No overload branch refers to a variable that is then not defined.
    assert "portal_overload_retry_after" not in unlimited
