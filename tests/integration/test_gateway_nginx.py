"""Real nginx with the generated configuration in front of six stub upstreams.

Each stub answers with its service name, the path and the headers it received, and records
every request, so the tests see what crossed the gateway and what did not.
"""

from __future__ import annotations

import json
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import gateway

pytestmark = pytest.mark.integration

ORIGIN = "https://app.portal.example"
SIM = "/v1/sims/0c0ffee0-0000-4000-8000-000000000001"


@dataclass
class Stub:
    service: str
    server: ThreadingHTTPServer
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    # A request whose query has ``hold=1`` waits for this before it is answered.
    release: threading.Event = field(default_factory=threading.Event)


def _stub(service: str) -> Stub:
    stub: Stub

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            stub.seen.append((self.command, self.path, headers))
            if "hold=1" in self.path:
                stub.release.wait(30)
            body = json.dumps({"service": service, "path": self.path, "headers": headers})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _answer

        def log_message(self, *_args: object) -> None:
            pass

    stub = Stub(service, ThreadingHTTPServer(("127.0.0.1", 0), Handler))
    threading.Thread(target=stub.server.serve_forever, daemon=True).start()
    return stub


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Gateway:
    url: str
    tls_url: str
    certificate: Path
    stubs: dict[str, Stub]


def _start(tmp: Path, stubs: dict[str, Stub], **edge: object) -> Iterator[Gateway]:
    port, tls_port = _free_port(), _free_port()
    extra_ports: dict[str, int] = edge.pop("extra_ports", {})  # type: ignore[assignment]
    cfg = gateway.local_config(
        ports={s: stub.server.server_address[1] for s, stub in stubs.items()} | extra_ports,
        port=port,
        tls_port=tls_port,
        prefix=tmp,
        cors_origins=[ORIGIN],
        **edge,  # type: ignore[arg-type]
    )
    gateway.self_signed_certificate(tmp)
    conf = tmp / "nginx.conf"
    conf.write_text(
        gateway.render_nginx(gateway.route_table(gateway.load_paths()), cfg, source="test")
    )
    proc = gateway.start_nginx(conf, tmp / "nginx.log")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(url + "/gateway/healthz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((tmp / "nginx.log").read_text())
        time.sleep(0.1)
    try:
        yield Gateway(url, f"https://127.0.0.1:{tls_port}", tmp / "tls.crt", stubs)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def stubs() -> Iterator[dict[str, Stub]]:
    made = {s: _stub(s) for s in gateway.SERVICES}
    yield made
    for stub in made.values():
        stub.server.shutdown()


@pytest.fixture(scope="module")
def gw(stubs: dict[str, Stub], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from _start(
        tmp_path_factory.mktemp("gateway"), stubs, rate="1000r/s", burst=1000, body_size="1k"
    )


@pytest.fixture(scope="module")
def strict_gw(
    stubs: dict[str, Stub], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """One request a minute per address, plus a burst of two."""
    yield from _start(tmp_path_factory.mktemp("strict"), stubs, rate="1r/m", burst=2)


@pytest.fixture
def busy_gw(tmp_path: Path) -> Iterator[Gateway]:
    """At most one request in flight per service; notifier's address answers nothing."""
    made = {s: _stub(s) for s in gateway.SERVICES if s != "notifier"}
    nobody = _free_port()
    try:
        yield from _start(
            tmp_path,
            made,
            rate="1000r/s",
            burst=1000,
            upstream_max_conns=1,
            extra_ports={"notifier": nobody},
        )
    finally:
        for stub in made.values():
            stub.release.set()
            stub.server.shutdown()


def _problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    return dict(body)


def test_each_openapi_path_reaches_the_service_that_declares_it(gw: Gateway) -> None:
    expected = {
        "/v1/auth/token": "identity",
        "/.well-known/jwks.json": "identity",
        "/v1/customers/c1/users/u1": "identity",
        "/v1/check/batch": "delegation",
        "/v1/customers/c1/assignments": "delegation",
        "/v1/customers/c1/billing-accounts": "billing",
        "/v1/invoices/i1/pdf?download=1": "billing",
        "/v1/catalogue": "fleet",
        SIM + "/options/roaming": "fleet",
        "/v1/customers/c1/sims": "fleet",
        "/v1/billing-accounts/b1/delivery/email": "einvoice",
        "/v1/billing-accounts/b1/invoices": "billing",
        "/v1/operator/notifications/n1/resend": "notifier",
    }
    for path, service in expected.items():
        answer = httpx.get(gw.url + path)
        assert answer.status_code == 200, path
        assert answer.json()["service"] == service, path
        assert answer.json()["path"] == path  # path and query passed on unchanged


def test_paths_no_service_declares_are_404_problems_and_reach_no_one(gw: Gateway) -> None:
    before = sum(len(s.seen) for s in gw.stubs.values())
    for path in ("/docs", "/openapi.json", "/metrics", "/readyz", "/v1/sims", "/v1/me/x"):
        _problem(httpx.get(gw.url + path), 404)
    assert sum(len(s.seen) for s in gw.stubs.values()) == before


def test_forwarded_for_gets_the_client_address_appended(gw: Gateway) -> None:
    answer = httpx.get(gw.url + "/v1/me", headers={"X-Forwarded-For": "203.0.113.9"})
    headers = answer.json()["headers"]
    # The service (TRUSTED_PROXIES = the gateway) takes the right-most address: the real one.
    assert headers["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"


def test_traceparent_and_request_id_are_passed_on(gw: Gateway) -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    answer = httpx.get(
        gw.url + "/v1/me", headers={"traceparent": traceparent, "X-Request-Id": "req-42"}
    )
    headers = answer.json()["headers"]
    assert headers["traceparent"] == traceparent
    assert headers["x-request-id"] == "req-42"
    assert answer.headers["x-request-id"] == "req-42"


def test_a_request_without_trace_starts_one_named_by_its_request_id(gw: Gateway) -> None:
    answer = httpx.get(gw.url + "/v1/me")
    request_id = answer.headers["x-request-id"]
    version, trace_id, span_id, flags = answer.json()["headers"]["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", request_id, "01")
    assert len(trace_id) == 32 and len(span_id) == 16
    assert answer.json()["headers"]["x-request-id"] == request_id


def test_a_malformed_traceparent_is_replaced(gw: Gateway) -> None:
    answer = httpx.get(gw.url + "/v1/me", headers={"traceparent": "garbage"})
    assert answer.json()["headers"]["traceparent"].split("-")[1] == answer.headers["x-request-id"]


def test_a_body_over_the_limit_is_a_413_problem_and_not_forwarded(gw: Gateway) -> None:
    before = len(gw.stubs["billing"].seen)
    answer = httpx.post(gw.url + "/v1/operator/usage", content=b"x" * 2048)
    _problem(answer, 413)
    assert len(gw.stubs["billing"].seen) == before
    assert httpx.post(gw.url + "/v1/operator/usage", content=b"x" * 512).status_code == 200


def test_cors_preflight_from_a_configured_origin_is_answered_at_the_edge(gw: Gateway) -> None:
    before = len(gw.stubs["fleet"].seen)
    answer = httpx.options(
        gw.url + SIM,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert "PATCH" in answer.headers["access-control-allow-methods"]
    assert "Authorization" in answer.headers["access-control-allow-headers"]
    assert answer.headers["access-control-max-age"] == "600"
    assert len(gw.stubs["fleet"].seen) == before


def test_cors_preflight_from_another_origin_is_refused(gw: Gateway) -> None:
    answer = httpx.options(
        gw.url + SIM,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "DELETE"},
    )
    _problem(answer, 403)
    assert "access-control-allow-origin" not in answer.headers


def test_cors_headers_only_for_configured_origins(gw: Gateway) -> None:
    allowed = httpx.get(gw.url + SIM, headers={"Origin": ORIGIN})
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "Retry-After" in allowed.headers["access-control-expose-headers"]
    assert "access-control-allow-methods" not in allowed.headers  # preflight only
    other = httpx.get(gw.url + SIM, headers={"Origin": "https://evil.example"})
    assert other.status_code == 200
    assert "access-control-allow-origin" not in other.headers


def test_tls_is_terminated_with_the_configured_certificate(gw: Gateway) -> None:
    answer = httpx.get(
        gw.tls_url + "/v1/catalogue", verify=ssl.create_default_context(cafile=gw.certificate)
    )
    assert answer.json()["service"] == "fleet"
    assert answer.json()["headers"]["x-forwarded-proto"] == "https"
    assert answer.headers["strict-transport-security"].startswith("max-age=")


def test_past_the_burst_an_address_gets_429_with_retry_after(strict_gw: Gateway) -> None:
    before = len(strict_gw.stubs["fleet"].seen)
    answers = [httpx.get(strict_gw.url + "/v1/catalogue") for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    refused = answers[3]
    _problem(refused, 429)
    assert refused.headers["retry-after"] == "60"
    assert refused.headers["x-request-id"]
    assert len(strict_gw.stubs["fleet"].seen) == before + 3


def test_a_saturated_service_is_refused_at_the_edge_with_503_and_retry_after(
    busy_gw: Gateway,
) -> None:
    fleet = busy_gw.stubs["fleet"]
    held: list[httpx.Response] = []
    first = threading.Thread(
        target=lambda: held.append(httpx.get(busy_gw.url + "/v1/catalogue?hold=1", timeout=30))
    )
    first.start()
    deadline = time.monotonic() + 10
    while not fleet.seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(fleet.seen) == 1  # the first request is in flight at fleet

    refused = httpx.get(busy_gw.url + "/v1/catalogue")
    body = _problem(refused, 503)
    assert str(body["type"]).endswith("/overloaded")
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["x-request-id"]
    assert len(fleet.seen) == 1  # the refused one never reached fleet

    # The limit is per service: billing is not saturated.
    assert httpx.get(busy_gw.url + "/v1/customers/c1/billing-accounts").status_code == 200

    fleet.release.set()
    first.join(timeout=30)
    assert [r.status_code for r in held] == [200]
    assert httpx.get(busy_gw.url + "/v1/catalogue").status_code == 200
    assert len(fleet.seen) == 2


def test_a_service_that_does_not_answer_is_502_not_overloaded(busy_gw: Gateway) -> None:
    answer = httpx.get(busy_gw.url + "/v1/operator/notifications")
    body = _problem(answer, 502)
    assert body["type"] == "about:blank"
    assert "retry-after" not in answer.headers
