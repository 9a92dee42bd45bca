"""A billing run at scale: N billing accounts, R usage records, one period.

    uv run python bench/billing_run.py [--accounts 1000] [--records 100000]
    uv run python bench/billing_run.py --curve            # 1k/100k, 3k/300k, 10k/1M
    uv run --with pyinstrument python bench/billing_run.py --profile

Seeds a fresh PostgreSQL database (``TEST_POSTGRES_URL``, else the local one) with COPY (seeding is
not what is measured): customers with legal parties (enterprise number, address,
language), one billing account each, 1-3 SIMs per account on Smart S/M/L with the options
DATA_5GB and INTL_CALLS in mixed combinations (each with its ``sim_history`` entry, as
fleet's ``sim.changed`` leaves it), the seed price catalogue, and R usage records rated at
standard prices (voice national/EU/world, SMS, data) spread over the accounts and the
last ended period.

Then it does what production does: ``runs.request_run`` (the operator route's use case,
every account) and ``jobs.work_next_run`` (the scheduled worker's pass), timed. Afterwards
it counts invoices, PDFs, UBL documents and ``invoice.closed`` outbox rows (the relay
publishes them later; not measured here, see bench/throughput.py), then asks for a second
run of the same period and counts what it added (must be nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from sqlalchemy import func, select

from billing import jobs
from billing.deps import Deps
from billing.domain.calendar import Period
from billing.domain.catalogue import seed_history
from billing.domain.rating import ExclusionRules, rate
from billing.main import MIGRATIONS_DIR
from billing.models import (
    Base,
    BillingRun,
    Invoice,
    InvoicePdf,
    InvoiceUbl,
)
from billing.service import runs
from billing.service.catalogue import publish_catalogue
from billing.service.documents import DocumentRenderer
from billing.settings import BillingSettings
from servicekit.db import Database
from servicekit.migrations import upgrade_to_head
from servicekit.outbox import Outbox
from servicekit.testing import FakeDelegation, drop_database, fresh_database_url, use_postgres

PLANS = ("SMART_S", "SMART_M", "SMART_L")
OPTION_SETS: tuple[tuple[str, ...], ...] = ((), ("DATA_5GB",), ("INTL_CALLS",),
                                           ("DATA_5GB", "INTL_CALLS"))  # fmt: skip
CITIES = (("1000", "Brussel"), ("2000", "Antwerpen"), ("9000", "Gent"), ("4000", "Liège"))
# (kind, destination, share): mostly national, some EU and world calls.
DESTINATIONS = (
    ("voice", "+32475123456"),
    ("voice", "021234567"),
    ("voice", "+33612345678"),
    ("voice", "+14155550100"),
    ("sms", "+32475123456"),
    ("sms", "+49151234567"),
    ("data", "internet"),
    ("data", "internet"),
)
CUSTOMER_COLUMNS = ["customer_id", "enterprise_number", "company_name", "address", "language",
                    "registered_at"]  # fmt: skip
SIM_COLUMNS = ["sim_id", "customer_id", "billing_account_id", "msisdn", "tariff_plan", "options",
               "status", "active_since", "changed_at"]  # fmt: skip
CHUNK = 50_000  # records per COPY: keeps the seeding's memory small


def enterprise_number(i: int) -> str:
    base = 10_000_000 + i
    return f"{base:08d}{97 - base % 97:02d}"


@dataclass
class Seeded:
    accounts: int
    sims: int
    records: int


async def seed(
    url: str, n_accounts: int, n_records: int, period: Period, rng: random.Random
) -> Seeded:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        created = period.starts_at - timedelta(days=90)
        customers, accounts, sims, history = [], [], [], []
        lines_of: list[tuple[uuid.UUID, uuid.UUID, list[str]]] = []
        msisdn = 0
        for i in range(n_accounts):
            customer_id, account_id = uuid.uuid4(), uuid.uuid4()
            postal, city = CITIES[i % len(CITIES)]
            street = {"street": "Wetstraat", "number": str(1 + i % 200)}
            address = json.dumps({**street, "postal_code": postal, "city": city, "country": "BE"})
            customers.append((customer_id, enterprise_number(i), f"Bench Company {i} NV",
                              address, ("nl", "fr", "en")[i % 3], created))  # fmt: skip
            accounts.append((account_id, customer_id, "mobile", f"Account {i}", "active", created))
            numbers = []
            for _ in range(1 + rng.randrange(3)):
                msisdn += 1
                number = f"+3247{msisdn:07d}"
                numbers.append(number)
                sim_id = uuid.uuid4()
                plan, options = rng.choice(PLANS), rng.choice(OPTION_SETS)
                options_json = "[" + ", ".join(f'"{o}"' for o in options) + "]"
                sims.append((sim_id, customer_id, account_id, number, plan, options_json,
                             "active", created, created))  # fmt: skip
                history.append((sim_id, "activated", True, plan, options_json, created))
            lines_of.append((account_id, customer_id, numbers))
        await conn.copy_records_to_table(
            "customers",
            records=customers,
            columns=CUSTOMER_COLUMNS,
        )
        await conn.copy_records_to_table(
            "billing_accounts",
            records=accounts,
            columns=["id", "customer_id", "kind", "name", "status", "created_at"],
        )
        await conn.copy_records_to_table(
            "sims",
            records=sims,
            columns=SIM_COLUMNS,
        )
        await conn.copy_records_to_table(
            "sim_history",
            records=history,
            columns=["sim_id", "change", "active", "tariff_plan", "options", "changed_at"],
        )

        prices = seed_history().valid_at(period.starts_at).prices
        seconds = int((period.ends_at - period.starts_at).total_seconds()) - 3600
        rated: dict[tuple[str, str, int], Any] = {}
        columns = ["record_id", "billing_account_id", "customer_id", "line", "kind",
                   "destination", "zone", "started_at", "quantity", "amount", "period",
                   "received_at"]  # fmt: skip
        now, name = datetime.now(UTC), str(period)
        for start in range(0, n_records, CHUNK):
            rows = []
            for j in range(start, min(start + CHUNK, n_records)):
                account_id, customer_id, numbers = lines_of[j % n_accounts]
                kind, destination = DESTINATIONS[rng.randrange(len(DESTINATIONS))]
                if kind == "voice":
                    quantity = rng.randrange(0, 900)
                elif kind == "sms":
                    quantity = 1
                else:
                    quantity = rng.randrange(100_000, 200_000_000)
                key = (kind, destination, quantity)
                r = rated.get(key)
                if r is None:
                    r = rated[key] = rate(kind, destination, quantity, prices)
                rows.append((
                    f"bench-{j}-{uuid.uuid4().hex[:8]}", account_id, customer_id,
                    numbers[j % len(numbers)], kind, destination, r.zone.value,
                    period.starts_at + timedelta(seconds=rng.randrange(seconds)),
                    quantity, Decimal(r.amount), name, now,
                ))  # fmt: skip
            await conn.copy_records_to_table("usage_records", records=rows, columns=columns)
        await conn.execute("ANALYZE")
        return Seeded(n_accounts, len(sims), n_records)
    finally:
        await conn.close()


async def counts(db: Database) -> dict[str, int]:
    async with db.sessions() as s:
        out = {}
        for name, model in (("invoices", Invoice), ("pdfs", InvoicePdf), ("ubl", InvoiceUbl)):
            out[name] = int(await s.scalar(select(func.count()).select_from(model)) or 0)
        outbox = db.outbox
        out["invoice.closed"] = int(
            await s.scalar(
                select(func.count()).select_from(outbox).where(outbox.c.topic == "invoice.closed")
            )
            or 0
        )
        return out


def postgres_cpu_s() -> float:
    """CPU seconds of every PostgreSQL process on this machine (the server is shared: other
    sessions' queries count too)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        if name.startswith("postgres"):
            fields = rest.split()
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


async def bill(db: Database, deps: Deps, period: Period) -> tuple[float, BillingRun]:
    async with db.transaction() as s:
        run = await runs.request_run(
            s, deps, period_text=str(period), account_ids=None, requested_by="bench"
        )
    started, cpu, pg = time.perf_counter(), time.process_time(), postgres_cpu_s()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    worked = await jobs.work_next_run(db, deps)
    elapsed = time.perf_counter() - started
    deps.documents.close(wait=True)  # so the rendering processes' CPU time is counted
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        f"CPU during the run: this process {time.process_time() - cpu:.2f} s, rendering "
        f"processes {after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime:.2f}"
        f" s, all PostgreSQL processes {postgres_cpu_s() - pg:.2f} s"
    )
    assert worked, "no run was claimed"
    async with db.sessions() as s:
        done = await s.get(BillingRun, run.id)
    assert done is not None
    return elapsed, done


@dataclass
class Result:
    accounts: int
    records: int
    seconds: float
    rss_mib: float
    children_rss_mib: float
    ok: bool


async def one(n_accounts: int, n_records: int, *, profile: bool = False) -> Result:
    rng = random.Random(8)
    period = Period.of(datetime.now(UTC)).previous()
    url = await fresh_database_url("bench_billing_run")
    db = Database(url, Base.metadata)
    try:
        # The schema as the service builds it at start-up (its migrations).
        await asyncio.to_thread(upgrade_to_head, url, MIGRATIONS_DIR)
        settings = BillingSettings(database_url=url)  # BILLING_* variables apply
        deps = Deps(
            settings=settings,
            outbox=Outbox(db, source="/services/billing"),
            delegation=FakeDelegation(),
            rules=ExclusionRules(),
            documents=DocumentRenderer(settings.billing_render_processes),  # as main.py
        )
        async with db.transaction() as s:
            await publish_catalogue(s, deps)
        t0 = time.perf_counter()
        seeded = await seed(url, n_accounts, n_records, period, rng)
        print(
            f"seeded {seeded.accounts} accounts, {seeded.sims} SIMs, {seeded.records} records "
            f"for {period} in {time.perf_counter() - t0:.1f} s (peak RSS {rss_mib():.0f} MiB)"
        )
        print(f"load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        profiler = None
        if profile:
            from pyinstrument import Profiler  # uv run --with pyinstrument

            profiler = Profiler(async_mode="enabled")
            profiler.start()
        elapsed, run = await bill(db, deps, period)
        if profiler is not None:
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False, show_all=False))
        after = await counts(db)
        print(f"run {run.status}: {run.done_accounts} done, {run.failed_accounts} failed "
              f"of {run.total_accounts}")  # fmt: skip
        print(
            f"accounts {n_accounts}, records {n_records}: {elapsed:.2f} s, "
            f"{n_accounts / elapsed:,.0f} accounts/s, {n_records / elapsed:,.0f} records/s, "
            f"peak RSS {rss_mib():.0f} MiB (children {rss_mib(resource.RUSAGE_CHILDREN):.0f} MiB)"
        )
        print("in the database: " + ", ".join(f"{k} {v}" for k, v in after.items()))
        again, rerun = await bill(db, deps, period)
        second = await counts(db)
        added = {k: second[k] - after[k] for k in second}
        print(
            f"second run ({rerun.status}, {again:.2f} s) added: "
            + ", ".join(f"{k} {v}" for k, v in added.items())
        )
        ok = all(v == n_accounts for v in after.values()) and not any(added.values())
        print("OK" if ok else "MISMATCH")
        return Result(
            n_accounts, n_records, elapsed, rss_mib(), rss_mib(resource.RUSAGE_CHILDREN), ok
        )
    finally:
        await db.dispose()
        await drop_database(url)


async def main(args: argparse.Namespace) -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")  # fmt: skip
    if not args.curve:
        await one(args.accounts, args.records, profile=args.profile)
        return
    results = []
    for n_accounts, n_records in ((1_000, 100_000), (3_000, 300_000), (10_000, 1_000_000)):
        results.append(await one(n_accounts, n_records))
    print(f"{'accounts':>9} {'records':>9} {'seconds':>8} {'accounts/s':>10} {'records/s':>10} "
          f"{'µs/record':>9} {'ok':>3}")  # fmt: skip
    for r in results:
        print(
            f"{r.accounts:>9} {r.records:>9} {r.seconds:>8.2f} {r.accounts / r.seconds:>10,.0f} "
            f"{r.records / r.seconds:>10,.0f} {r.seconds / r.records * 1e6:>9.1f} "
            f"{'yes' if r.ok else 'NO':>3}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--curve", action="store_true", help="1k/100k, 3k/300k, 10k/1M")
    parser.add_argument("--profile", action="store_true", help="pyinstrument (uv run --with)")
    use_postgres()
    asyncio.run(main(parser.parse_args()))
