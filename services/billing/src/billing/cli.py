"""``portal-billing``: start a billing run and follow it, or follow one already running.

    portal-billing run --period 2026-11 [--account ID ...] [--no-wait]
    portal-billing status RUN_ID [--watch]

It talks to the billing API like any operator client (``POST /v1/operator/billing-runs``,
``GET /v1/operator/billing-runs/{id}``), so a run started here is worked by the service's
own instances and the same rights apply. The operator token is taken from
``PORTAL_OPERATOR_TOKEN``, or obtained from identity with ``IDENTITY_OPERATOR_EMAIL`` and
``IDENTITY_OPERATOR_PASSWORD`` (from the environment only: never on the command line,
where other users of the machine could read it).

While following a run it draws a progress bar with the accounts done and failed, the
rate and an estimate of the time left, and exits 0 when the run is done, 1 when it
finished with failed accounts, 2 on a usage or API error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import httpx

DEFAULT_BILLING_URL = "http://127.0.0.1:8003"
DEFAULT_IDENTITY_URL = "http://127.0.0.1:8001"
BAR_WIDTH = 30


class CliError(Exception):
    """Something the operator must fix (a refused request, missing credentials)."""


@dataclass(frozen=True)
class Progress:
    """What the bar shows of a run at one moment."""

    period: str
    status: str
    done: int
    failed: int
    total: int

    @classmethod
    def of(cls, run: dict[str, Any]) -> Progress:
        return cls(
            period=str(run["period"]),
            status=str(run["status"]),
            done=int(run["done_accounts"]),
            failed=int(run["failed_accounts"]),
            total=int(run["total_accounts"]),
        )

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def progress_line(progress: Progress, *, worked_s: float, worked_accounts: int) -> str:
    """One line: bar, counts, rate and ETA.

    ``worked_accounts`` accounts were finished (done or failed) in the ``worked_s``
    seconds this command has watched; the rate and the ETA come from those only, so a
    run resumed half-way does not show an absurd rate."""
    finished = progress.done + progress.failed
    if progress.total:
        filled = min(BAR_WIDTH, BAR_WIDTH * finished // progress.total)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        share = f"{100 * finished // progress.total:3d}%"
    else:
        bar, share = ("#" if progress.finished else ".") * BAR_WIDTH, "  -"
    line = (
        f"{progress.period} [{bar}] {share} {finished}/{progress.total} accounts"
        f" ({progress.done} done, {progress.failed} failed)"
    )
    if progress.finished:
        return f"{line} - {progress.status}"
    if progress.status == "pending":
        return f"{line} - waiting for a billing worker"
    if worked_accounts > 0 and worked_s > 0:
        rate = worked_accounts / worked_s
        left = (progress.total - finished) / rate
        return f"{line} - {rate:.1f} accounts/s, ETA {format_duration(left)}"
    return f"{line} - ETA unknown"


def operator_token(identity_url: str, env: dict[str, str]) -> str:
    token = env.get("PORTAL_OPERATOR_TOKEN")
    if token:
        return token
    email, password = env.get("IDENTITY_OPERATOR_EMAIL"), env.get("IDENTITY_OPERATOR_PASSWORD")
    if not email or not password:
        raise CliError(
            "no operator credentials: set PORTAL_OPERATOR_TOKEN, or IDENTITY_OPERATOR_EMAIL "
            "and IDENTITY_OPERATOR_PASSWORD"
        )
    resp = httpx.post(
        f"{identity_url}/v1/auth/token",
        data={"grant_type": "password", "username": email, "password": password},
        timeout=10,
    )
    if resp.status_code != 200:
        raise CliError(f"identity refused the operator login ({resp.status_code})")
    return str(resp.json()["access_token"])


def _problem(resp: httpx.Response) -> str:
    try:
        body = resp.json()
        return str(body.get("detail") or body.get("title") or resp.text)
    except ValueError:
        return resp.text


class BillingApi:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def start(self, period: str, accounts: Sequence[str] | None) -> str:
        body: dict[str, Any] = {"period": period}
        if accounts:
            body["billing_account_ids"] = list(accounts)
        resp = self.client.post("/v1/operator/billing-runs", json=body)
        if resp.status_code != 202:
            raise CliError(f"the run was refused ({resp.status_code}): {_problem(resp)}")
        return str(resp.json()["run_id"])

    def run(self, run_id: str) -> dict[str, Any]:
        resp = self.client.get(f"/v1/operator/billing-runs/{run_id}")
        if resp.status_code != 200:
            raise CliError(f"cannot read run {run_id} ({resp.status_code}): {_problem(resp)}")
        result: dict[str, Any] = resp.json()
        return result


def follow(
    api: BillingApi,
    run_id: str,
    out: TextIO,
    *,
    every_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Progress:
    """Redraw the bar until the run finishes; its last state."""
    started = clock()
    first: int | None = None
    tty = out.isatty()
    while True:
        progress = Progress.of(api.run(run_id))
        finished = progress.done + progress.failed
        if first is None and progress.status != "pending":
            first, started = finished, clock()
        line = progress_line(
            progress, worked_s=clock() - started, worked_accounts=finished - (first or 0)
        )
        out.write(("\r" + line + "\x1b[K") if tty else line + "\n")
        out.flush()
        if progress.finished:
            if tty:
                out.write("\n")
            return progress
        sleep(every_s)


def exit_code(progress: Progress) -> int:
    return 0 if progress.status == "done" else 1


def main(argv: Sequence[str] | None = None, env: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if env is None else env
    parser = argparse.ArgumentParser(prog="portal-billing", description=__doc__.splitlines()[0])
    parser.add_argument("--billing-url", default=env.get("BILLING_URL", DEFAULT_BILLING_URL))
    parser.add_argument("--identity-url", default=env.get("IDENTITY_URL", DEFAULT_IDENTITY_URL))
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start a billing run and follow it")
    run.add_argument("--period", required=True, help="the period to close, YYYY-MM")
    run.add_argument("--account", action="append", help="only this billing account (repeatable)")
    run.add_argument("--no-wait", action="store_true", help="print the run id and return")
    status = commands.add_parser("status", help="show (or --watch) a billing run")
    status.add_argument("run_id")
    status.add_argument("--watch", action="store_true", help="follow it until it finishes")
    args = parser.parse_args(argv)
    try:
        token = operator_token(args.identity_url, env)
        with httpx.Client(
            base_url=args.billing_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as client:
            api = BillingApi(client)
            if args.command == "run":
                run_id = api.start(args.period, args.account)
                print(f"billing run {run_id} started for {args.period}", file=sys.stderr)
                if args.no_wait:
                    print(run_id)
                    return 0
                return exit_code(follow(api, run_id, sys.stdout))
            if args.watch:
                return exit_code(follow(api, args.run_id, sys.stdout))
            progress = Progress.of(api.run(args.run_id))
            print(progress_line(progress, worked_s=0, worked_accounts=0))
            return exit_code(progress) if progress.finished else 0
    except CliError as exc:
        print(f"portal-billing: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"portal-billing: cannot reach the service: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
