"""Open-loop load on the authorization path, and OpenFGA side by side, in one run.

    uv run python bench/authz_load.py [--db sqlite|postgres] [--duration 10]
        [--port-base 19501] [--skip-openfga] [--skip-overload]
        [--skip-gateway] [--skip-direct] [--gateway-max-conns 32]

vegeta (``GOSUMDB=off go install github.com/tsenart/vegeta/v12@v12.12.0``) sends requests
at fixed rates, whatever the answers' latency (a closed-loop client would hide queueing).
Phases, each printed as a row ``what  rate  p50  p99  success  503s``:

1. ``GET /v1/billing-accounts/{id}/invoices`` (passes a check; a year of invoices on the
   account) at 250, 500, 1,000/s;
2. ``POST /v1/check`` (an access owner on a billing account) at 500, 1,000, 2,000/s;
3. ``POST /v1/check/batch`` with 100 checks at 50, 100, 200 batches/s;
4. overload: the check and the invoice list each offered twice their measured capacity for
   30 s (the answered rate, refusals within 50 ms with 503 + Retry-After), then the normal
   latency again 5 s after the burst; and the issue's scenario: a burst of 1,000 checks/s
   on delegation while billing is asked 50/s;
4b. phases 1, 2 and 4 again through the API gateway (nginx, ``tools/gateway.py``), the way
   web clients come: at most ``--gateway-max-conns`` requests in flight per service, the
   rest refused by the gateway (ADR 28);
5. OpenFGA v1.22.1 (``GOSUMDB=off go install github.com/openfga/openfga/cmd/openfga@v1.22.1``,
   memory datastore) with the same model and tuples (profiles, scopes, the affiliate
   rule), checked at the same rates by the same generator.

The generator shares the machine's cores with the services: the figures are for the
whole machine, see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from authz_stack import (  # noqa: E402
    People,
    Stack,
    add_invoices,
    check_body,
    invoices_path,
    portal_of,
    running_stack,
    set_up_people,
)
from proc import cpu_seconds  # noqa: E402

GOBIN = Path(os.environ.get("GOBIN", Path.home() / "go" / "bin"))
VEGETA = shutil.which("vegeta") or str(GOBIN / "vegeta")
OPENFGA = shutil.which("openfga") or str(GOBIN / "openfga")


@dataclass
class Result:
    what: str
    rate: float
    requests: int
    p50_ms: float
    p99_ms: float
    success: float  # share of 2xx
    refused: int  # 503s
    refused_p99_ms: float  # latency of the 503s
    ok_per_s: float  # 2xx answered per second
    cpu_ms: float = 0.0  # CPU time of the service processes per answered request

    def row(self) -> str:
        return (
            f"{self.what:<34} {self.rate:>6.0f}/s  p50 {self.p50_ms:7.2f} ms  "
            f"p99 {self.p99_ms:8.2f} ms  ok {self.success * 100:6.2f} %  "
            f"ok/s {self.ok_per_s:7.1f}  503 {self.refused:>6} (p99 {self.refused_p99_ms:.1f} ms)"
            f"  cpu {self.cpu_ms:.2f} ms/answer"
        )


PIDS: list[int] = []  # the service processes whose CPU time is counted


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _target(method: str, url: str, token: str, body: Any | None = None) -> str:
    target: dict[str, Any] = {
        "method": method,
        "url": url,
        "header": {"Authorization": [f"Bearer {token}"], "Content-Type": ["application/json"]},
    }
    if body is not None:
        target["body"] = base64.b64encode(json.dumps(body).encode()).decode()
    return json.dumps(target)


def attack(what: str, targets: str, rate: float, duration_s: float) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(targets + "\n")
        path = f.name
    try:
        attack_cmd = [
            VEGETA,
            "attack",
            f"-targets={path}",
            "-format=json",
            f"-rate={max(1, round(rate))}/s",
            f"-duration={duration_s:g}s",
            "-timeout=5s",
            "-max-workers=2000",
        ]
        cpu_before = cpu_seconds(PIDS)
        attacked = subprocess.run(attack_cmd, capture_output=True, check=True)
        cpu_used = cpu_seconds(PIDS) - cpu_before
        encoded = subprocess.run(
            [VEGETA, "encode", "--to=json"], input=attacked.stdout, capture_output=True, check=True
        )
    finally:
        os.unlink(path)
    lat_ok, lat_all, lat_503 = [], [], []
    for line in encoded.stdout.splitlines():
        r = json.loads(line)
        ms = r["latency"] / 1e6
        lat_all.append(ms)
        if 200 <= r["code"] < 300:
            lat_ok.append(ms)
        elif r["code"] == 503:
            lat_503.append(ms)
    n = len(lat_all)
    return Result(
        what=what,
        rate=rate,
        requests=n,
        p50_ms=_pct(lat_all, 0.50),
        p99_ms=_pct(lat_all, 0.99),
        success=len(lat_ok) / n if n else 0.0,
        refused=len(lat_503),
        refused_p99_ms=_pct(lat_503, 0.99),
        ok_per_s=len(lat_ok) / duration_s,
        cpu_ms=cpu_used * 1000 / max(1, len(lat_ok)),
    )


def _batch(people: People, size: int) -> dict[str, Any]:
    return {
        "checks": [
            {
                "subject": people.owner_id,
                "action": "invoice.read",
                "resource": {
                    "type": "invoice",
                    "id": str(uuid.uuid4()),
                    "customer_id": people.customer_id,
                    "billing_account_id": people.account_id,
                },
            }
            for _ in range(size)
        ]
    }


def _print(result: Result, results: list[Result]) -> Result:
    print(result.row(), flush=True)
    results.append(result)
    return result


def capacity(results: list[Result], what: str) -> float:
    """The best rate answered fully (≥ 99.9 % success), as measured in this run."""
    answered = [r.ok_per_s for r in results if r.what == what and r.success >= 0.999]
    return (
        max(answered)
        if answered
        else max((r.ok_per_s for r in results if r.what == what), default=100.0)
    )


def sweep(
    what: str,
    target: str,
    rates: list[float],
    duration_s: float,
    results: list[Result],
    warm_up_rate: float = 0,
) -> None:
    """One row per rate, after a short warm-up at ``warm_up_rate`` (none if 0)."""
    if warm_up_rate:
        attack("warm-up", target, warm_up_rate, 2)
    for rate in rates:
        _print(attack(what, target, rate, duration_s), results)


def overload(what: str, target: str, results: list[Result], duration_s: float = 30) -> None:
    """Twice the capacity ``what`` showed in this run, then half of it 5 s later."""
    cap = capacity(results, what)
    _print(attack(f"{what} @2x capacity", target, 2 * cap, duration_s), results)
    time.sleep(5)
    _print(attack(f"{what} 5 s after", target, cap / 2, 5), results)


def run_ours(args: argparse.Namespace, results: list[Result]) -> None:
    with running_stack(args.db, args.port_base) as stack:
        portal = portal_of(stack)
        people = set_up_people(portal)
        shown = add_invoices(portal, people)
        print(f"the invoice list shows {shown} invoices", flush=True)
        billing_db = stack.service_env["billing"]["BILLING_DATABASE_URL"]
        print(f"billing's database: {billing_db.split('://', 1)[0]}", flush=True)
        PIDS[:] = [p.pid for p in stack.processes.values()]
        if not args.skip_direct:
            direct_phases(args, stack, people, results)
        if not args.skip_gateway:
            gateway_phases(args, stack, people, results)


def direct_phases(
    args: argparse.Namespace, stack: Stack, people: People, results: list[Result]
) -> None:
    """Each service asked directly, as the services ask each other."""
    token, db, d = people.owner_token, args.db, args.duration
    deleg, billing = stack.url("delegation"), stack.url("billing")
    check = _target("POST", f"{deleg}/v1/check", token, check_body(people))
    batch = _target("POST", f"{deleg}/v1/check/batch", token, _batch(people, 100))
    invoices = _target("GET", f"{billing}{invoices_path(people)}", token)
    # The invoice list first: a delegation saturated by the check phases would
    # otherwise be measured through billing too.
    sweep(f"invoices list [{db}]", invoices, _rates(args.invoice_rates), d, results, 100)
    sweep(f"check [{db}]", check, _rates(args.check_rates), d, results, 200)
    sweep(f"check/batch x100 [{db}]", batch, _rates(args.batch_rates), d, results)
    if args.skip_overload:
        return
    overload(f"check [{db}]", check, results)
    overload(f"invoices list [{db}]", invoices, results)
    # The scenario: delegation flooded, billing asked meanwhile.
    burst = subprocess.Popen(
        [sys.executable, __file__, "--_burst", check, "--_burst-rate", "1000"],
    )
    try:
        _print(attack(f"invoices list during check burst [{db}]", invoices, 50, 10), results)
    finally:
        burst.wait()
    _print(attack(f"invoices list after check burst [{db}]", invoices, 50, 10), results)


def gateway_phases(
    args: argparse.Namespace, stack: Stack, people: People, results: list[Result]
) -> None:
    """Web clients reach the services through the gateway (ADR 28): the check and the
    list through it, then twice their capacity; its per-address limit is out of the way
    (one generator stands for many users)."""
    token, db, d = people.owner_token, args.db, args.duration
    stack.gateway_dir = stack.log_dir / "gateway"
    edge = stack.start_gateway(
        args.port_base + 10,
        rate="1000000r/s",
        burst=1000000,
        upstream_max_conns=args.gateway_max_conns,
    )
    PIDS.append(stack.processes["gateway"].pid)
    check = _target("POST", f"{edge}/v1/check", token, check_body(people))
    invoices = _target("GET", f"{edge}{invoices_path(people)}", token)
    via = f"via gateway [{db}]"
    sweep(f"invoices list {via}", invoices, _rates(args.invoice_rates), d, results, 100)
    sweep(f"check {via}", check, _rates(args.check_rates), d, results, 200)
    if args.skip_overload:
        return
    overload(f"check {via}", check, results)
    overload(f"invoices list {via}", invoices, results)


# -- OpenFGA --------------------------------------------------------------------------

MODEL = {
    "schema_version": "1.1",
    "type_definitions": [
        {"type": "user"},
        {
            "type": "customer",
            "relations": {
                "parent": {"this": {}},
                # [9.1] the access owner of a parent owns its affiliates too
                "access_owner": {
                    "union": {
                        "child": [
                            {"this": {}},
                            {
                                "tupleToUserset": {
                                    "tupleset": {"relation": "parent"},
                                    "computedUserset": {"relation": "access_owner"},
                                }
                            },
                        ]
                    }
                },
                "access_manager": {"this": {}},
            },
            "metadata": {
                "relations": {
                    "parent": {"directly_related_user_types": [{"type": "customer"}]},
                    "access_owner": {"directly_related_user_types": [{"type": "user"}]},
                    "access_manager": {"directly_related_user_types": [{"type": "user"}]},
                }
            },
        },
        {
            "type": "billing_account",
            "relations": {
                "customer": {"this": {}},
                # a portal user's grant scoped to this account (my-invoice-online, read)
                "invoice_reader": {"this": {}},
                "manager": {
                    "tupleToUserset": {
                        "tupleset": {"relation": "customer"},
                        "computedUserset": {"relation": "access_manager"},
                    }
                },
                "owner": {
                    "tupleToUserset": {
                        "tupleset": {"relation": "customer"},
                        "computedUserset": {"relation": "access_owner"},
                    }
                },
                # [8.4] an access manager holds no data rights, whatever it was granted
                "can_read_invoice": {
                    "union": {
                        "child": [
                            {"computedUserset": {"relation": "owner"}},
                            {
                                "difference": {
                                    "base": {"computedUserset": {"relation": "invoice_reader"}},
                                    "subtract": {"computedUserset": {"relation": "manager"}},
                                }
                            },
                        ]
                    }
                },
            },
            "metadata": {
                "relations": {
                    "customer": {"directly_related_user_types": [{"type": "customer"}]},
                    "invoice_reader": {"directly_related_user_types": [{"type": "user"}]},
                }
            },
        },
    ],
}


def _tuples(customers: int = 50) -> tuple[list[dict[str, str]], dict[str, str]]:
    tuples: list[dict[str, str]] = []
    for i in range(customers):
        c, parent = f"customer:c{i}", f"customer:c{i - 1}" if i % 2 else None
        tuples += [
            {"user": f"user:owner{i}", "relation": "access_owner", "object": c},
            {"user": f"user:manager{i}", "relation": "access_manager", "object": c},
            {"user": c, "relation": "customer", "object": f"billing_account:ba{i}"},
            {
                "user": f"user:reader{i}",
                "relation": "invoice_reader",
                "object": f"billing_account:ba{i}",
            },
        ]
        if parent:
            tuples.append({"user": parent, "relation": "parent", "object": c})
        asked = {
            "user": "user:owner0",
            "relation": "can_read_invoice",
            "object": "billing_account:ba1",
        }
    return tuples, asked


def run_openfga(args: argparse.Namespace, results: list[Result]) -> None:
    http_port, grpc_port = args.port_base + 90, args.port_base + 91
    proc = subprocess.Popen(
        [
            OPENFGA,
            "run",
            "--datastore-engine",
            "memory",
            "--playground-enabled=false",
            "--metrics-enabled=false",
            "--log-level",
            "warn",
            "--http-addr",
            f"127.0.0.1:{http_port}",
            "--grpc-addr",
            f"127.0.0.1:{grpc_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{http_port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            for _ in range(100):
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            store = http.post("/stores", json={"name": "portal"}).json()["id"]
            model = http.post(f"/stores/{store}/authorization-models", json=MODEL)
            assert model.status_code == 201, model.text
            model_id = model.json()["authorization_model_id"]
            tuples, asked = _tuples()
            for i in range(0, len(tuples), 100):
                w = http.post(
                    f"/stores/{store}/write", json={"writes": {"tuple_keys": tuples[i : i + 100]}}
                )
                assert w.status_code == 200, w.text
            body = {"tuple_key": asked, "authorization_model_id": model_id}
            answer = http.post(f"/stores/{store}/check", json=body).json()
            assert answer["allowed"] is True, answer  # the affiliate rule holds
        target = json.dumps(
            {
                "method": "POST",
                "url": f"{base}/stores/{store}/check",
                "header": {"Content-Type": ["application/json"]},
                "body": base64.b64encode(json.dumps(body).encode()).decode(),
            }
        )
        attack("warm-up", target, 200, 2)
        for rate in _rates(args.check_rates):
            PIDS[:] = [proc.pid]
            _print(attack("openfga check", target, rate, args.duration), results)
    finally:
        proc.terminate()
        proc.wait()


def _rates(text: str) -> list[float]:
    return [float(r) for r in text.split(",") if r]


def burst_main(target: str, rate: float) -> None:
    attack("burst", target, rate, 10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--port-base", type=int, default=19501)
    parser.add_argument("--check-rates", default="500,1000,2000")
    parser.add_argument("--batch-rates", default="50,100,200")
    parser.add_argument("--invoice-rates", default="250,500,1000")
    parser.add_argument("--skip-openfga", action="store_true")
    parser.add_argument("--skip-overload", action="store_true")
    parser.add_argument(
        "--skip-gateway", action="store_true", help="no phases through the API gateway"
    )
    parser.add_argument(
        "--skip-direct", action="store_true", help="only the phases through the gateway"
    )
    parser.add_argument("--gateway-max-conns", type=int, default=32)
    parser.add_argument("--_burst", help=argparse.SUPPRESS)
    parser.add_argument("--_burst-rate", type=float, default=1000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._burst:
        burst_main(args._burst, args._burst_rate)
        return 0
    for tool in (VEGETA,) + (() if args.skip_openfga else (OPENFGA,)):
        if not Path(tool).exists():
            print(f"{tool} is missing; see the module docstring for how to build it")
            return 2
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, "
        f"python {platform.python_version()}, load {os.getloadavg()}"
    )
    results: list[Result] = []
    run_ours(args, results)
    if not args.skip_openfga:
        run_openfga(args, results)
    for rate in _rates(args.check_rates):
        ours = next((r for r in results if r.what.startswith("check [") and r.rate == rate), None)
        fga = next((r for r in results if r.what == "openfga check" and r.rate == rate), None)
        if ours and fga and fga.ok_per_s and fga.cpu_ms:
            print(
                f"ratio at {rate:.0f}/s: answered/s ours/OpenFGA "
                f"{ours.ok_per_s / fga.ok_per_s:.2f}, CPU per answer ours (six services) / "
                f"OpenFGA {ours.cpu_ms / fga.cpu_ms:.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
