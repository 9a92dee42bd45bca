"""Start the six services as local processes, wait until they are ready, stop them cleanly.

    python deploy/local/stack.py            # used by `make run`
    from stack import Stack                 # used by tests-e2e

Each service runs as ``python -m <service> serve`` with its own environment. The
environment of the caller is passed through, so every setting can be pointed elsewhere
(``KAFKA_BOOTSTRAP_SERVERS``, ``REDIS_URL``, ``<SERVICE>_DATABASE_URL``,
``NOTIFIER_SMTP_HOST``, ...). Without them the services use SQLite files under
``var/data`` and the local Kafka, Redis and sinks of ``deploy/local/infra.sh``.

``make run`` also starts the API gateway (nginx, a child process like the services) with
a configuration generated into ``var/gateway/`` by ``tools/gateway.py``: one origin on
``GATEWAY_PORT`` (8080) and TLS with a self-signed certificate on ``GATEWAY_TLS_PORT``
(8443); ``GATEWAY_CORS_ORIGINS`` (comma-separated) lists the web origins allowed by CORS;
``GATEWAY_UPSTREAM_MAX_CONNS`` (32) requests may be in flight to each service, the rest are
refused by the gateway with 503 (ADR 0028).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

import gateway  # noqa: E402  (tools/gateway.py)

SERVICES = ("identity", "delegation", "billing", "fleet", "einvoice", "notifier")
DEFAULT_PORTS = {s: 8001 + i for i, s in enumerate(SERVICES)}
# Services whose readiness also waits until their consumer holds partitions.
CONSUMERS = ("delegation", "billing", "fleet", "einvoice", "notifier")


@dataclass
class Stack:
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    env: dict[str, str] = field(default_factory=dict)  # extra environment for all
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    log_dir: Path = REPO / "var" / "log"
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    gateway_dir: Path = REPO / "var" / "gateway"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def environment(self, service: str, name: str | None = None) -> dict[str, str]:
        """The environment of ``service``'s process ``name`` (an extra instance has a
        name of its own and a port of its own; everything else is shared)."""
        env = dict(os.environ)
        env.update(
            {
                "IDENTITY_URL": env.get("IDENTITY_URL", self.url("identity")),
                "DELEGATION_URL": env.get("DELEGATION_URL", self.url("delegation")),
                "BILLING_URL": env.get("BILLING_URL", self.url("billing")),
                "FLEET_URL": env.get("FLEET_URL", self.url("fleet")),
                "IDENTITY_PUBLIC_URL": env.get("IDENTITY_PUBLIC_URL", self.url("identity")),
                "EINVOICE_PUBLIC_URL": env.get("EINVOICE_PUBLIC_URL", self.url("einvoice")),
                f"{service.upper()}_PORT": str(self.ports[name or service]),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.env)
        env.update(self.service_env.get(service, {}))
        return env

    def start(
        self,
        service: str,
        *,
        instance: str = "",
        port: int | None = None,
        extra_env: dict[str, str] | None = None,
        prefix: tuple[str, ...] = (),
    ) -> str:
        """Start ``service``; with ``instance``, an extra instance named
        ``<service>@<instance>`` on ``port`` (same database and consumer group). ``prefix``
        runs the process under a wrapper (e.g. ``faketime``). Returns the process name."""
        name = f"{service}@{instance}" if instance else service
        if port is not None:
            self.ports[name] = port
        env = self.environment(service, name)
        env.update(extra_env or {})
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (child owns it)
        self.processes[name] = subprocess.Popen(
            [*prefix, sys.executable, "-m", service, "serve"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return name

    def start_all(self) -> None:
        for service in SERVICES:
            self.start(service)

    def start_gateway(
        self,
        port: int,
        tls_port: int | None = None,
        cors_origins: tuple[str, ...] = (),
        **edge: Any,
    ) -> str:
        """nginx in front of the services (the route table of tools/gateway.py); its URL.
        ``edge``: more of ``gateway.local_config``'s settings (rate, burst, ...)."""
        self.gateway_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        cfg = gateway.local_config(
            ports={s: self.ports[s] for s in SERVICES},
            port=port,
            tls_port=tls_port,
            prefix=self.gateway_dir,
            cors_origins=cors_origins,
            **edge,
        )
        if tls_port is not None:
            gateway.self_signed_certificate(self.gateway_dir)
        conf = self.gateway_dir / "nginx.conf"
        routes = gateway.route_table(gateway.load_paths())
        conf.write_text(gateway.render_nginx(routes, cfg, source="tools/gateway.py (make run)"))
        self.processes["gateway"] = gateway.start_nginx(conf, self.log_dir / "gateway.log")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/gateway/healthz", timeout=2):
                    return url
            except (urllib.error.URLError, OSError):
                pass
            proc = self.processes["gateway"]
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not start; see {self.log_dir}/gateway.log")
            time.sleep(0.2)

    def ready(self, name: str) -> bool:
        try:
            with urllib.request.urlopen(self.url(name) + "/readyz", timeout=2) as resp:
                body = json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError):
            return False
        if name.partition("@")[0] in CONSUMERS and body.get("consumer") not in (None, "assigned"):
            return False
        return body.get("status") == "ready"

    def wait_ready(self, services: tuple[str, ...] = SERVICES, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        pending = list(services)
        while pending:
            for service in list(pending):
                proc = self.processes.get(service)
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(
                        f"{service} exited with {proc.returncode}; see "
                        f"{self.log_dir / (service + '.log')}"
                    )
                if self.ready(service):
                    pending.remove(service)
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"not ready after {timeout_s:.0f}s: {', '.join(pending)}")
            if pending:
                time.sleep(0.5)

    def kill(self, service: str) -> None:
        """SIGKILL: the crash the reliability tests simulate."""
        proc = self.processes.pop(service)
        proc.kill()
        proc.wait()

    def stop(self, service: str, timeout_s: float = 20) -> None:
        proc = self.processes.pop(service, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for service in reversed(list(self.processes)):
            self.stop(service)


def _banner(stack: Stack, gateway_url: str, tls_port: int) -> str:
    lines = ["", "The portal backend is running:"]
    lines.append(f"  gateway     {gateway_url}   (one origin for web clients; every API path)")
    lines.append(f"              https://127.0.0.1:{tls_port}   (self-signed certificate)")
    for s in SERVICES:
        lines.append(f"  {s:<11} {stack.url(s)}   (OpenAPI: {stack.url(s)}/docs)")
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    smtp = os.environ.get("NOTIFIER_SMTP_HOST")
    lines += [
        f"  kafka       {kafka}",
        f"  redis       {redis}",
        "  mails, SMS  " + ("sent to " + smtp if smtp else "http://127.0.0.1:8025/"),
        f"  logs        {stack.log_dir}/<service>.log",
        "  operator    " + os.environ.get("IDENTITY_OPERATOR_EMAIL", "operator@portal.local"),
        "",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


def main() -> int:
    stack = Stack()
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    port = int(os.environ.get("GATEWAY_PORT", "8080"))
    tls_port = int(os.environ.get("GATEWAY_TLS_PORT", "8443"))
    origins = tuple(o for o in os.environ.get("GATEWAY_CORS_ORIGINS", "").split(",") if o)
    max_conns = int(os.environ.get("GATEWAY_UPSTREAM_MAX_CONNS", "32"))
    stack.start_all()
    try:
        stack.wait_ready()
        gateway_url = stack.start_gateway(port, tls_port, origins, upstream_max_conns=max_conns)
        print(_banner(stack, gateway_url, tls_port), flush=True)
        while not stopping:
            for service, proc in list(stack.processes.items()):
                if proc.poll() is not None:
                    print(f"{service} exited with {proc.returncode}; stopping", flush=True)
                    stopping = True
            time.sleep(0.5)
    except (TimeoutError, RuntimeError) as exc:
        print(f"start-up failed: {exc}", file=sys.stderr)
        stack.stop_all()
        return 1
    print("stopping services...", flush=True)
    stack.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
