"""Generate the API gateway from the services' OpenAPI documents (docs/openapi/*.json).

    uv run python tools/gateway.py            # write the committed files below
    uv run python tools/gateway.py --check    # fail when one of them is stale
    uv run python tools/gateway.py local --out var/gateway/nginx.conf --port 8080 ...

One origin for web clients: every path of every service's OpenAPI document is routed to
that service, nothing else is (no /docs, /openapi.json, /metrics, /readyz of a service at
the edge). Generation fails when two services claim the same path, i.e. when one request
path could match a path of each (``/v1/sims/{sim_id}`` and ``/v1/sims/catalogue`` of two
services conflict; within one service FastAPI orders its own routes).

Committed outputs (ADR 0018, docs/deploy.md "The gateway"):

- ``deploy/gateway/nginx.compose.conf``: nginx for docker-compose, upstreams by service
  name (``identity:8001`` ...), HTTP on 8080 and TLS on 8443 with the certificate mounted
  at ``/etc/nginx/tls/`` (``deploy/gateway/selfsigned.sh`` makes a development one).
- ``deploy/gateway/nginx.production.conf``: the same edge for a VM or a pod: 80 redirects
  to 443, TLS with the certificate paths of ``/etc/nginx/tls/``.
- ``deploy/k8s/gateway/httproutes.yaml``: the same table as Gateway API HTTPRoutes.

``make run`` writes its own ``var/gateway/nginx.conf`` with this module (deploy/local/stack.py).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OPENAPI_DIR = REPO / "docs" / "openapi"
SERVICES = ("identity", "delegation", "billing", "fleet", "einvoice", "notifier")
PORTS = {s: 8001 + i for i, s in enumerate(SERVICES)}
# Answered by the gateway itself; a service claiming one of them is a conflict too.
RESERVED_PATHS = ("/gateway/healthz",)
# Headers a browser may send cross-origin, and those it may read from a response.
CORS_ALLOW_HEADERS = (
    "Authorization, Content-Type, Accept, Idempotency-Key, X-Request-Id, traceparent"
)
CORS_EXPOSE_HEADERS = "Retry-After, X-Request-Id, Location, Content-Disposition"
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE"

_SEGMENT = re.compile(r"^(?:\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z0-9._~-]+)$")


class RouteConflictError(ValueError):
    """Two services claim a path that one request could reach in both."""


@dataclass(frozen=True)
class Route:
    path: str  # the OpenAPI path template, e.g. /v1/sims/{sim_id}/options
    service: str

    @property
    def segments(self) -> tuple[str | None, ...]:
        """Literal segments as they are, a path parameter as None (matches any segment)."""
        return tuple(None if s.startswith("{") else s for s in self.path.strip("/").split("/"))

    @property
    def templated(self) -> bool:
        return None in self.segments

    def regex(self) -> str:
        """Anchored PCRE of the path: a parameter is one non-empty segment."""
        parts = ["[^/]+" if s is None else s.replace(".", r"\.") for s in self.segments]
        return "^/" + "/".join(parts) + "$"


def _overlap(a: Route, b: Route) -> bool:
    sa, sb = a.segments, b.segments
    return len(sa) == len(sb) and all(
        x is None or y is None or x == y for x, y in zip(sa, sb, strict=False)
    )


def load_paths(openapi_dir: Path = OPENAPI_DIR) -> dict[str, list[str]]:
    """Each service's OpenAPI paths, from the committed documents."""
    paths: dict[str, list[str]] = {}
    for service in SERVICES:
        document = json.loads((openapi_dir / f"{service}.json").read_text())
        paths[service] = sorted(document.get("paths", {}))
    return paths


def route_table(paths_by_service: Mapping[str, Iterable[str]]) -> list[Route]:
    """The gateway's routes; RouteConflictError when two services claim the same path."""
    routes: list[Route] = []
    for service, paths in paths_by_service.items():
        for path in paths:
            segments = path.strip("/").split("/")
            if not path.startswith("/") or not all(_SEGMENT.match(s) for s in segments):
                raise ValueError(f"{service}: path {path!r} cannot be routed by the gateway")
            routes.append(Route(path, service))
    reserved = [Route(p, "gateway") for p in RESERVED_PATHS]
    conflicts = [
        f"{a.path} ({a.service}) and {b.path} ({b.service})"
        for i, a in enumerate(routes + reserved)
        for b in (routes + reserved)[i + 1 :]
        if a.service != b.service and _overlap(a, b)
    ]
    if conflicts:
        raise RouteConflictError(
            "two services claim the same path: " + "; ".join(sorted(conflicts))
        )
    # Exact paths first, then the templated ones, longest first: the order of the files.
    return sorted(routes, key=lambda r: (r.templated, -len(r.segments), r.path))


@dataclass(frozen=True)
class EdgeConfig:
    """What the edge enforces and where nginx keeps its files."""

    upstreams: Mapping[str, str]  # service -> host:port
    http_port: int | None = 8080
    https_port: int | None = None
    tls_certificate: str = "/etc/nginx/tls/tls.crt"
    tls_certificate_key: str = "/etc/nginx/tls/tls.key"
    redirect_http_to_https: bool = False
    cors_origins: Sequence[str] = ()
    # Per client address (after real_ip): a sustained rate and the burst answered at once.
    rate: str = "20r/s"
    burst: int = 40
    client_max_body_size: str = "10m"
    # Requests in flight to one service instance, across the gateway's workers; beyond
    # that the gateway answers 503 overloaded at once (ADR 0028). 0: no limit.
    upstream_max_conns: int = 32
    overload_retry_after_s: int = 1
    proxy_connect_timeout_s: int = 5
    proxy_read_timeout_s: int = 60
    # Load balancers in front whose X-Forwarded-For is believed (real_ip); none by default.
    trusted_proxies: Sequence[str] = ()
    listen_address: str = ""  # "" = all addresses; "127.0.0.1" for make run
    prefix: str = "/tmp"  # pid file and temporary files (writable by any user)
    access_log: str = "/dev/stdout"
    error_log: str = "stderr"
    worker_processes: str = "auto"

    @property
    def retry_after_s(self) -> int:
        """Seconds until the rate limit lets one more request through."""
        m = re.fullmatch(r"(\d+)r/([sm])", self.rate)
        if not m:
            raise ValueError(f"rate {self.rate!r}: expected <n>r/s or <n>r/m")
        per_s = int(m.group(1)) / (1 if m.group(2) == "s" else 60)
        return max(1, math.ceil(1 / per_s))


def _problem(status: int, title: str, detail: str, type_: str = "about:blank") -> str:
    body = json.dumps(
        {"type": type_, "title": title, "status": status, "detail": detail},
        separators=(",", ":"),
    )
    return "'" + body.replace("'", "\\'") + "'"


# The problem type of the services' own AdmissionLimit refusals (servicekit.overload).
OVERLOADED_TYPE = "https://portal.example/problems/overloaded"


def _overloaded() -> str:
    return _problem(
        503,
        "Service Unavailable",
        "The service is saturated; retry after the indicated delay",
        OVERLOADED_TYPE,
    )


_ERRORS = {
    404: ("Not Found", "no service serves this path"),
    413: ("Content Too Large", "the request body is larger than the gateway accepts"),
    429: ("Too Many Requests", "too many requests from this address; retry later"),
    502: ("Bad Gateway", "the service is not reachable"),
    503: ("Service Unavailable", "the service is not reachable"),
    504: ("Gateway Timeout", "the service did not answer in time"),
}


def _common_headers(indent: str) -> list[str]:
    """Response headers of every answer; repeated where a location adds its own."""
    return [
        f"{indent}add_header X-Request-Id $portal_request_id always;",
        f"{indent}add_header X-Content-Type-Options nosniff always;",
        f"{indent}add_header Vary Origin always;",
        f"{indent}add_header Access-Control-Allow-Origin $portal_cors_origin always;",
        f"{indent}add_header Access-Control-Expose-Headers $portal_cors_expose always;",
        f"{indent}add_header Access-Control-Allow-Methods $portal_cors_methods always;",
        f"{indent}add_header Access-Control-Allow-Headers $portal_cors_headers always;",
        f"{indent}add_header Access-Control-Max-Age $portal_cors_max_age always;",
    ]


def _server_body(routes: Sequence[Route], cfg: EdgeConfig, tls: bool) -> list[str]:
    i = "        "
    lines = [
        f"{i}default_type application/problem+json;",
        *_common_headers(i),
    ]
    if tls:
        lines.append(f'{i}add_header Strict-Transport-Security "max-age=31536000" always;')
    lines += [
        "",
        f"{i}# CORS preflight: answered here, never forwarded.",
        f"{i}if ($portal_preflight = allowed) {{",
        f"{i}    return 204;",
        f"{i}}}",
        f"{i}if ($portal_preflight = refused) {{",
        f"{i}    return 403 "
        + _problem(403, "Forbidden", "cross-origin requests from this origin are not allowed")
        + ";",
        f"{i}}}",
        "",
        f"{i}limit_req zone=portal_per_address burst={cfg.burst} nodelay;",
        f"{i}limit_req_status 429;",
        f"{i}client_max_body_size {cfg.client_max_body_size};",
        f"{i}client_body_buffer_size 128k;",
        f"{i}client_header_timeout 30s;",
        f"{i}client_body_timeout 30s;",
        f"{i}send_timeout 60s;",
        "",
        f"{i}proxy_http_version 1.1;",
        f'{i}proxy_set_header Connection "";',
        f"{i}proxy_set_header Host $host;",
        f"{i}# The services believe X-Forwarded-For only from the gateway (TRUSTED_PROXIES)",
        f"{i}# and take the right-most address the gateway appended.",
        f"{i}proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        f"{i}proxy_set_header X-Forwarded-Proto $scheme;",
        f"{i}proxy_set_header X-Forwarded-Host $host;",
        f"{i}proxy_set_header X-Request-Id $portal_request_id;",
        f"{i}proxy_set_header traceparent $portal_traceparent;",
        f"{i}proxy_connect_timeout {cfg.proxy_connect_timeout_s}s;",
        f"{i}proxy_send_timeout {cfg.proxy_read_timeout_s}s;",
        f"{i}proxy_read_timeout {cfg.proxy_read_timeout_s}s;",
        f"{i}proxy_hide_header Access-Control-Allow-Origin;",
        f"{i}proxy_hide_header X-Request-Id;",
        "",
    ]
    for status in sorted(_ERRORS):
        # "=": the named location's own status stands (502 may become 503 overloaded).
        keep = "= " if status == 502 else ""
        lines.append(f"{i}error_page {status} {keep}@portal_{status};")
    lines.append("")
    lines += [
        f"{i}location = /gateway/healthz {{",
        f"{i}    access_log off;",
        f"{i}    default_type application/json;",
        f'{i}    return 200 \'{{"status":"ok"}}\';',
        f"{i}}}",
        "",
    ]
    for route in routes:
        if route.templated:
            lines.append(f'{i}location ~ "{route.regex()}" {{  # {route.path}')
        else:
            lines.append(f"{i}location = {route.path} {{")
        lines.append(f"{i}    proxy_pass http://{route.service};")
        lines.append(f"{i}}}")
    lines += [
        "",
        f"{i}location / {{",
        f"{i}    return 404;",
        f"{i}}}",
    ]
    for status, (title, detail) in sorted(_ERRORS.items()):
        lines += [
            "",
            f"{i}location @portal_{status} {{",
            f"{i}    default_type application/problem+json;",
        ]
        lines += _common_headers(i + "    ")
        if status == 429:
            lines.append(f"{i}    add_header Retry-After {cfg.retry_after_s} always;")
        if status == 502 and cfg.upstream_max_conns > 0:
            # nginx answers 502 "no live upstreams" when the service is at max_conns;
            # $upstream_addr is then the upstream's name instead of an address.
            lines += [
                f"{i}    add_header Retry-After $portal_overload_retry_after always;",
                f"{i}    if ($portal_overload_retry_after) {{",
                f"{i}        return 503 {_overloaded()};",
                f"{i}    }}",
            ]
        lines += [f"{i}    return {status} {_problem(status, title, detail)};", f"{i}}}"]
    return lines


def render_nginx(routes: Sequence[Route], cfg: EdgeConfig, *, source: str) -> str:
    """A complete nginx.conf (``nginx -c <file>``), runnable by root or any user."""
    services = sorted({r.service for r in routes}, key=SERVICES.index)
    origins = list(cfg.cors_origins)
    for origin in origins:
        if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d+)?", origin):
            raise ValueError(f"CORS origin {origin!r}: expected scheme://host[:port]")
    listen = f"{cfg.listen_address}:" if cfg.listen_address else ""
    out = [
        f"# GENERATED by tools/gateway.py from {source}: do not edit.",
        "# The API gateway: one origin in front of the six services (ADR 0018).",
        "worker_processes " + cfg.worker_processes + ";",
        f"pid {cfg.prefix}/nginx.pid;",
        # nginx's error lines carry the client address and the request line with its query
        # (confirmation tokens): only critical ones. Failures show in the access log
        # (status, upstream, upstream time), which holds neither.
        f"error_log {cfg.error_log} crit;",
        "",
        "events {",
        "    worker_connections 1024;",
        "}",
        "",
        "http {",
        f"    client_body_temp_path {cfg.prefix}/nginx-client-body;",
        f"    proxy_temp_path {cfg.prefix}/nginx-proxy;",
        f"    fastcgi_temp_path {cfg.prefix}/nginx-fastcgi;",
        f"    uwsgi_temp_path {cfg.prefix}/nginx-uwsgi;",
        f"    scgi_temp_path {cfg.prefix}/nginx-scgi;",
        "    server_tokens off;",
        "    keepalive_timeout 65s;",
        "    sendfile on;",
        "",
        "    # No client address, query string or header values: no personal data in logs.",
        '    log_format portal_json escape=json \'{"time":"$time_iso8601",\'',
        '        \'"request_id":"$portal_request_id","trace_id":"$portal_trace_id",\'',
        '        \'"method":"$request_method","path":"$uri","status":$status,\'',
        '        \'"bytes":$body_bytes_sent,"duration_s":$request_time,\'',
        '        \'"upstream":"$upstream_addr","upstream_s":"$upstream_response_time"}\';',
        f"    access_log {cfg.access_log} portal_json;",
        "",
    ]
    if cfg.trusted_proxies:
        out.append("    # Load balancers in front: their X-Forwarded-For gives the client address.")
        out += [f"    set_real_ip_from {p};" for p in cfg.trusted_proxies]
        out += ["    real_ip_header X-Forwarded-For;", "    real_ip_recursive on;", ""]
    out += [
        f"    limit_req_zone $binary_remote_addr zone=portal_per_address:10m rate={cfg.rate};",
        "",
        "    # X-Request-Id: the client's when well-formed, else nginx's own (32 hex digits).",
        "    map $http_x_request_id $portal_request_id {",
        '        "~^[A-Za-z0-9._:-]{1,128}$" $http_x_request_id;',
        "        default $request_id;",
        "    }",
        "    # W3C traceparent passed on; a request without one starts a trace whose id is",
        "    # nginx's request id, so the gateway's log line and the services' spans meet.",
        "    map $request_id $portal_span_id {",
        '        "~^(?<head>[0-9a-f]{16})" $head;',
        "    }",
        "    map $http_traceparent $portal_traceparent {",
        '        "~^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$" $http_traceparent;',
        '        default "00-$request_id-$portal_span_id-01";',
        "    }",
        "    map $portal_traceparent $portal_trace_id {",
        '        "~^[0-9a-f]{2}-(?<trace>[0-9a-f]{32})-" $trace;',
        '        default "";',
        "    }",
        "",
        "    # CORS: only the configured web origins (an origin is scheme://host[:port]).",
        "    map $http_origin $portal_cors_origin {",
        '        default "";',
    ]
    out += [f'        "{o}" $http_origin;' for o in origins]
    out += [
        "    }",
        '    map "$request_method $http_origin $http_access_control_request_method"'
        " $portal_preflight_asked {",
        "        default 0;",
        '        "~^OPTIONS [^ ]+ [^ ]+$" 1;',
        "    }",
        '    map "$portal_preflight_asked:$portal_cors_origin" $portal_preflight {',
        '        default "";',
        '        "1:" refused;',
        '        "~^1:." allowed;',
        "    }",
        "    map $portal_cors_origin $portal_cors_expose {",
        '        "" "";',
        f'        default "{CORS_EXPOSE_HEADERS}";',
        "    }",
        "    map $portal_preflight $portal_cors_methods {",
        f'        allowed "{CORS_METHODS}";',
        '        default "";',
        "    }",
        "    map $portal_preflight $portal_cors_headers {",
        f'        allowed "{CORS_ALLOW_HEADERS}";',
        '        default "";',
        "    }",
        "    map $portal_preflight $portal_cors_max_age {",
        "        allowed 600;",
        '        default "";',
        "    }",
        "",
    ]
    if cfg.upstream_max_conns > 0:
        out += [
            "    # A request refused because its service is at max_conns (no live upstream):",
            "    # $upstream_addr names the upstream, not an address.",
            "    map $upstream_addr $portal_overload_retry_after {",
            '        "~^[a-z]+$" ' + str(cfg.overload_retry_after_s) + ";",
            '        default "";',
            "    }",
            "",
        ]
    for service in services:
        limit = f" max_conns={cfg.upstream_max_conns}" if cfg.upstream_max_conns > 0 else ""
        out += [f"    upstream {service} {{"]
        if limit:
            # Shared by the workers, so the limit is the gateway's, not each worker's.
            out.append(f"        zone upstream_{service} 64k;")
        # Idle connections kept per worker: as many as may be in flight, or every request
        # past the 16th would open (and the service accept) a new connection.
        out += [
            f"        server {cfg.upstreams[service]}{limit};",
            f"        keepalive {max(16, cfg.upstream_max_conns)};",
            "    }",
        ]
    out.append("")
    if cfg.http_port is not None:
        out += ["    server {", f"        listen {listen}{cfg.http_port};"]
        if cfg.redirect_http_to_https:
            https = f":{cfg.https_port}" if cfg.https_port not in (None, 443) else ""
            out += [
                "        location = /gateway/healthz {",
                "            access_log off;",
                "            default_type application/json;",
                '            return 200 \'{"status":"ok"}\';',
                "        }",
                "        location / {",
                f"            return 301 https://$host{https}$request_uri;",
                "        }",
            ]
        else:
            out += _server_body(routes, cfg, tls=False)
        out += ["    }", ""]
    if cfg.https_port is not None:
        out += [
            "    server {",
            f"        listen {listen}{cfg.https_port} ssl http2;",
            f"        ssl_certificate {cfg.tls_certificate};",
            f"        ssl_certificate_key {cfg.tls_certificate_key};",
            "        ssl_protocols TLSv1.2 TLSv1.3;",
            "        ssl_prefer_server_ciphers off;",
            "        ssl_session_cache shared:portal_tls:10m;",
            "        ssl_session_timeout 1h;",
            "        ssl_session_tickets off;",
            "",
            *_server_body(routes, cfg, tls=True),
            "    }",
            "",
        ]
    out.append("}")
    return "\n".join(out) + "\n"


def render_httproutes(routes: Sequence[Route], *, source: str, gateway: str = "portal") -> str:
    """One HTTPRoute per service: Exact matches for literal paths, RegularExpression for
    templated ones (at most 8 matches per rule, as the Gateway API allows 16 rules)."""
    docs = [
        f"# GENERATED by tools/gateway.py from {source}: do not edit.\n"
        "# The gateway's route table as Gateway API HTTPRoutes (ADR 0018). RegularExpression\n"
        "# path matches are implementation-specific in the Gateway API; the regexes are RE2 and\n"
        "# PCRE compatible and anchored."
    ]
    for service in SERVICES:
        own = [r for r in routes if r.service == service]
        if not own:
            continue
        rules = []
        for start in range(0, len(own), 8):
            matches = []
            for r in own[start : start + 8]:
                if r.templated:
                    matches.append(
                        "        - path:\n"
                        "            type: RegularExpression\n"
                        f"            value: {json.dumps(r.regex())}"
                    )
                else:
                    matches.append(
                        f"        - path:\n            type: Exact\n            value: {r.path}"
                    )
            rules.append(
                "    - matches:\n" + "\n".join(matches) + "\n      backendRefs:\n"
                f"        - name: {service}\n"
                f"          port: {PORTS[service]}\n"
                "      timeouts:\n"
                "        request: 60s"
            )
        docs.append(
            "apiVersion: gateway.networking.k8s.io/v1\n"
            "kind: HTTPRoute\n"
            "metadata:\n"
            f"  name: {service}\n"
            "  labels:\n"
            f"    app.kubernetes.io/name: {service}\n"
            "    app.kubernetes.io/component: route\n"
            "spec:\n"
            "  parentRefs:\n"
            f"    - name: {gateway}\n"
            "      sectionName: https\n"
            "  rules:\n" + "\n".join(rules)
        )
    return "\n---\n".join(docs) + "\n"


def compose_config() -> EdgeConfig:
    return EdgeConfig(
        upstreams={s: f"{s}:{PORTS[s]}" for s in SERVICES},
        http_port=8080,
        https_port=8443,
        cors_origins=("http://localhost:3000", "http://127.0.0.1:3000"),
    )


def production_config() -> EdgeConfig:
    return EdgeConfig(
        upstreams={s: f"{s}:{PORTS[s]}" for s in SERVICES},
        http_port=80,
        https_port=443,
        redirect_http_to_https=True,
        cors_origins=("https://portal.example.com",),
    )


SOURCE = "docs/openapi/*.json"


def committed_files(routes: Sequence[Route]) -> dict[Path, str]:
    return {
        REPO / "deploy/gateway/nginx.compose.conf": render_nginx(
            routes, compose_config(), source=SOURCE
        ),
        REPO / "deploy/gateway/nginx.production.conf": render_nginx(
            routes, production_config(), source=SOURCE
        ),
        REPO / "deploy/k8s/gateway/httproutes.yaml": render_httproutes(routes, source=SOURCE),
    }


def stale() -> list[str]:
    routes = route_table(load_paths())
    return [
        str(path.relative_to(REPO))
        for path, text in committed_files(routes).items()
        if not path.exists() or path.read_text() != text
    ]


def local_config(
    *,
    ports: Mapping[str, int],
    port: int,
    tls_port: int | None,
    prefix: Path,
    cors_origins: Sequence[str] = (),
    rate: str = "20r/s",
    burst: int = 40,
    body_size: str = "10m",
    upstream_max_conns: int = 32,
) -> EdgeConfig:
    """The gateway of `make run` and of the gateway's integration tests: loopback only."""
    return EdgeConfig(
        upstreams={s: f"127.0.0.1:{p}" for s, p in ports.items()},
        http_port=port,
        https_port=tls_port,
        tls_certificate=str(prefix / "tls.crt"),
        tls_certificate_key=str(prefix / "tls.key"),
        cors_origins=tuple(cors_origins),
        rate=rate,
        burst=burst,
        client_max_body_size=body_size,
        upstream_max_conns=upstream_max_conns,
        listen_address="127.0.0.1",
        prefix=str(prefix),
        worker_processes="1",
    )


def self_signed_certificate(directory: Path, host: str = "localhost") -> None:
    """A development certificate (tls.crt, tls.key) unless one is there already."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "tls.crt").exists() and (directory / "tls.key").exists():
        return
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
            "-subj", f"/CN={host}",
            "-addext", f"subjectAltName=DNS:{host},IP:127.0.0.1",
            "-keyout", str(directory / "tls.key"), "-out", str(directory / "tls.crt"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    (directory / "tls.key").chmod(0o600)


def nginx_binary() -> str:
    """nginx from PATH, or Debian's /usr/sbin/nginx (not on a normal user's PATH)."""
    import shutil

    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise FileNotFoundError("nginx not found: apt-get install -y nginx-light")
    return found


def start_nginx(conf: Path, log: Path) -> subprocess.Popen[bytes]:
    """nginx in the foreground as a child process; its error log goes to ``log``.
    Stop it with SIGQUIT (graceful) or SIGTERM (fast)."""
    check = subprocess.run(
        [nginx_binary(), "-t", "-q", "-c", str(conf), "-p", str(conf.parent)],
        capture_output=True,
        text=True,
    )
    if check.returncode != 0:
        raise RuntimeError(f"nginx refused {conf}: {check.stderr.strip()}")
    with open(log, "ab") as out:
        return subprocess.Popen(
            [nginx_binary(), "-c", str(conf), "-p", str(conf.parent), "-g", "daemon off;"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    parser.add_argument("--check", action="store_true", help="fail when a committed file is stale")
    local = sub.add_parser("local", help="an nginx.conf for services on 127.0.0.1")
    local.add_argument("--out", type=Path, required=True)
    local.add_argument("--port", type=int, default=8080)
    local.add_argument("--tls-port", type=int, default=None)
    local.add_argument("--service-port-base", type=int, default=8001)
    local.add_argument("--cors-origin", action="append", default=[])
    local.add_argument("--rate", default="20r/s")
    local.add_argument("--burst", type=int, default=40)
    local.add_argument("--body-size", default="10m")
    args = parser.parse_args(argv)
    try:
        routes = route_table(load_paths())
    except (RouteConflictError, ValueError) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    if args.command == "local":
        prefix = args.out.resolve().parent
        cfg = local_config(
            ports={s: args.service_port_base + i for i, s in enumerate(SERVICES)},
            port=args.port,
            tls_port=args.tls_port,
            prefix=prefix,
            cors_origins=args.cors_origin,
            rate=args.rate,
            burst=args.burst,
            body_size=args.body_size,
        )
        if args.tls_port is not None:
            self_signed_certificate(prefix)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(render_nginx(routes, cfg, source=SOURCE))
        return 0
    if args.check:
        outdated = stale()
        if outdated:
            print(f"stale: {outdated}; run `uv run python tools/gateway.py`", file=sys.stderr)
            return 1
        return 0
    for path, text in committed_files(routes).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "EdgeConfig",
    "Route",
    "RouteConflictError",
    "local_config",
    "render_httproutes",
    "render_nginx",
    "route_table",
]
