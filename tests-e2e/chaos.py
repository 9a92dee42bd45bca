"""Chaos rounds: faults at random points of a billing run and its notification fan-out,
with every effect counted. `make chaos` (not part of `make test`: it takes minutes).

    uv run python tests-e2e/chaos.py [--rounds 12] [--accounts 3] [--seed N]

Each round sets up fresh billing accounts (e-mail delivery), records one call per
account for last month, starts a billing run and, at a random moment of its fan-out,
injects one fault: ``kill -9`` of a service (restarted a second later), a PostgreSQL
stop of a few seconds, or a broker stop. Then it waits until the system has settled and
counts, per account, the effects the run must have had exactly once: the invoice
(billing), its delivery (einvoice) and its invoice mail (notifier → SMTP sink).

- lost: an effect missing after the wait;
- duplicated: an effect present twice (two invoices, two deliveries, two mails with
  different Message-IDs, or a mail sent twice by a notification claimed only once);
- in the crash window: the one duplicate the design cannot exclude (the notifier died
  after the mail server accepted a mail and before it recorded it as sent): same
  Message-ID, a notification claimed twice. Counted and reported, not a failure.

Prints a table of rounds and totals; exits 1 when anything was lost or duplicated.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from e2e_stack import (  # noqa: E402
    OPERATOR_EMAIL,
    OPERATOR_PASSWORD,
    SINK_URL,
    running_stack,
)
from portal_client import Portal, Sinks, bill_one_call_each, set_up_account  # noqa: E402
from stack import SERVICES, Stack  # noqa: E402

INFRA = HERE.parent / "deploy" / "local" / "infra.sh"
KILLABLE = ("billing", "einvoice", "notifier", "delegation", "fleet", "identity")
FAULTS = [*(f"kill -9 {s}" for s in KILLABLE), "postgres stopped 8 s", "kafka stopped 15 s"]


@dataclass
class Tally:
    round: int
    fault: str
    expected: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    in_window: list[str] = field(default_factory=list)


def infra(command: str) -> None:
    subprocess.run([str(INFRA), command], check=True, capture_output=True)


def inject(fault: str, stack: Stack, delay_s: float) -> None:
    time.sleep(delay_s)
    if fault.startswith("kill -9 "):
        service = fault.removeprefix("kill -9 ")
        stack.kill(service)
        time.sleep(1)
        stack.start(service)
        stack.wait_ready((service,), timeout_s=120)
    elif fault.startswith("postgres"):
        infra("postgres-stop")
        time.sleep(8)
        infra("postgres-start")
    elif fault.startswith("kafka"):
        infra("kafka-stop")
        time.sleep(15)
        infra("kafka-start")


def _get(client: Any, path: str, headers: dict[str, str], **params: Any) -> Any:
    """GET that waits out 503s (a database or rights service coming back)."""
    for _ in range(60):
        resp = client.get(path, headers=headers, params=params)
        if resp.status_code != 503:
            assert resp.status_code == 200, resp.text
            return resp.json()
        time.sleep(1)
    raise AssertionError(f"{path} kept answering 503")


def effects(portal: Portal, sinks: Sinks, owner: dict[str, Any], a: dict[str, Any]) -> dict:  # type: ignore[type-arg]
    op = portal.operator()
    account = a["account_id"]
    invoices = _get(portal.billing, f"/v1/billing-accounts/{account}/invoices", owner["headers"])
    deliveries = _get(portal.einvoice, f"/v1/billing-accounts/{account}/deliveries", op)
    log = _get(portal.notifier, "/v1/operator/notifications", op, recipient=a["email"], limit=100)
    notes = [n for n in log["items"] if n["template"] == "invoice_available"]
    mails = [m for m in sinks.mails(a["email"]) if m.get("attachments")]
    return {
        "invoices": len(invoices["items"]),
        "deliveries": len(deliveries["items"]),
        "notifications": notes,
        "mails": mails,
    }


def settled(fx: dict) -> bool:  # type: ignore[type-arg]
    notes = fx["notifications"]
    return (
        fx["invoices"] >= 1
        and fx["deliveries"] >= 1
        and bool(notes)
        and all(n["status"] == "sent" for n in notes)
    )


def count(tally: Tally, email: str, fx: dict) -> None:  # type: ignore[type-arg]
    tally.expected += 3
    for what in ("invoices", "deliveries"):
        if fx[what] == 0:
            tally.lost.append(f"{what} of {email}")
        elif fx[what] > 1:
            tally.duplicated.append(f"{fx[what]} {what} of {email}")
    mails, notes = fx["mails"], fx["notifications"]
    ids = {m["message_id"] for m in mails}
    if not mails:
        tally.lost.append(f"invoice mail to {email}")
    elif len(notes) > 1 or len(ids) > 1 or len(mails) > 2:
        tally.duplicated.append(f"{len(mails)} invoice mails ({len(ids)} ids) to {email}")
    elif len(mails) == 2:
        claims = notes[0]["attempts"] if notes else 0
        target = tally.in_window if claims > 1 else tally.duplicated
        target.append(f"2 invoice mails, one Message-ID, {claims} claims, to {email}")


def one_round(
    n: int,
    fault: str,
    rng: random.Random,
    portal: Portal,
    sinks: Sinks,
    stack: Stack,
    owner: dict[str, Any],
    accounts_per_round: int,
) -> Tally:
    tally = Tally(n, fault)
    accounts = [
        set_up_account(portal, sinks, owner, alerts=["email"]) for _ in range(accounts_per_round)
    ]
    bill_one_call_each(portal, accounts)
    fault_thread = threading.Thread(target=inject, args=(fault, stack, rng.uniform(0.2, 4.0)))
    fault_thread.start()
    fault_thread.join()
    deadline = time.monotonic() + 240
    pending = {a["email"]: a for a in accounts}
    while pending and time.monotonic() < deadline:
        for email, a in list(pending.items()):
            fx = effects(portal, sinks, owner, a)
            if settled(fx):
                del pending[email]
        time.sleep(2)
    time.sleep(3)  # a duplicate would be sent right behind the first
    for a in accounts:
        count(tally, a["email"], effects(portal, sinks, owner, a))
    return tally


def report(tallies: list[Tally]) -> None:
    print()
    print(f"{'round':>5}  {'fault':<22} {'expected':>8} {'lost':>5} {'dup':>5} {'window':>7}")
    for t in tallies:
        print(
            f"{t.round:>5}  {t.fault:<22} {t.expected:>8} {len(t.lost):>5} "
            f"{len(t.duplicated):>5} {len(t.in_window):>7}"
        )
    print(
        f"{'all':>5}  {'':<22} {sum(t.expected for t in tallies):>8} "
        f"{sum(len(t.lost) for t in tallies):>5} {sum(len(t.duplicated) for t in tallies):>5} "
        f"{sum(len(t.in_window) for t in tallies):>7}"
    )
    for t in tallies:
        for line in t.lost:
            print(f"  round {t.round}: LOST {line}")
        for line in t.duplicated:
            print(f"  round {t.round}: DUPLICATED {line}")
        for line in t.in_window:
            print(f"  round {t.round}: in the crash window: {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=len(FAULTS))
    parser.add_argument("--accounts", type=int, default=3)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"chaos: {args.rounds} rounds, {args.accounts} accounts each, seed {seed}")
    tallies: list[Tally] = []
    with running_stack() as stack:
        portal = Portal({s: stack.url(s) for s in SERVICES}, (OPERATOR_EMAIL, OPERATOR_PASSWORD))
        sinks = Sinks(SINK_URL)
        owner = portal.onboard(sinks)
        for n in range(1, args.rounds + 1):
            fault = FAULTS[(n - 1) % len(FAULTS)]
            tallies.append(one_round(n, fault, rng, portal, sinks, stack, owner, args.accounts))
            t = tallies[-1]
            print(
                f"round {n}: {fault}: {t.expected} effects, {len(t.lost)} lost, "
                f"{len(t.duplicated)} duplicated, {len(t.in_window)} in the crash window",
                flush=True,
            )
    report(tallies)
    failed = any(t.lost or t.duplicated for t in tallies)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
