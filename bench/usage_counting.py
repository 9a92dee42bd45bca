"""Fleet's counting of rated usage (``fleet.service.consumption.count_records``): records
a second and CPU per record, one record per transaction (a ``usage.rated`` v1 event) and
a batch of ``--batch`` per transaction (a v2 event, ADR 35). In this process, on a fresh
PostgreSQL database (``TEST_POSTGRES_URL``, else the local one) built by fleet's
migrations; no broker, no inbox: the use case and its statements only.

    uv run python bench/usage_counting.py [--sims 2000] [--records 20000] [--batch 1000]

Half the records name their SIM (as billing does when it knows the line), half only the
line (fleet finds the SIM); every record is counted, and the counters must add up to the
records' quantities.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select

from contracts.events.billing import RatedUsageV2
from fleet.main import MIGRATIONS_DIR
from fleet.models import Base, Sim, UsageCounter
from fleet.service.consumption import count_records
from servicekit.db import Database
from servicekit.migrations import upgrade_to_head
from servicekit.testing import drop_database, fresh_database_url, use_postgres

PERIOD = "2026-11"
KINDS = ("voice", "sms", "data")


def _records(n: int, sims: list[Sim]) -> list[RatedUsageV2]:
    at = datetime(2026, 11, 20, tzinfo=UTC)
    out = []
    for i in range(n):
        sim = random.choice(sims)
        out.append(
            RatedUsageV2(
                record_id=f"bench-{uuid.uuid4().hex}",
                customer_id=sim.customer_id,
                billing_account_id=sim.billing_account_id,
                sim_id=sim.id if i % 2 else None,
                line=sim.msisdn,
                kind=KINDS[i % 3],
                started_at=at,
                quantity=60,
                amount=Decimal("0.1000"),
                period=PERIOD,
            )
        )
    return out


async def _measure(db: Database, records: list[RatedUsageV2], batch: int) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(0, len(records), batch):
        async with db.transaction() as session:
            counted = await count_records(session, records[i : i + batch])
            assert counted == len(records[i : i + batch])
    return time.perf_counter() - wall, time.process_time() - cpu


async def main(n_sims: int, n: int, batch: int) -> None:
    url = await fresh_database_url("bench_fleet_counting")
    db = Database(url, Base.metadata)
    try:
        await asyncio.to_thread(upgrade_to_head, url, MIGRATIONS_DIR)
        sims = []
        customers = [uuid.uuid4() for _ in range(max(1, n_sims // 20))]
        async with db.transaction() as session:
            for i in range(n_sims):
                sim = Sim(
                    id=uuid.uuid4(),
                    customer_id=customers[i % len(customers)],
                    billing_account_id=uuid.uuid4(),
                    iccid=f"8932{i:016d}",
                    imsi=f"206{i:012d}",
                    msisdn=f"+3247{i:07d}",
                    status="active",
                    tariff_plan="SMART_M",
                )
                session.add(sim)
                sims.append(sim)
        python = platform.python_version()
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {python}")
        for size in (1, batch):
            records = _records(n if size > 1 else n // 10, sims)
            wall, cpu = await _measure(db, records, size)
            print(
                f"{size:>5} record(s) a transaction: {len(records)} in {wall:.2f} s = "
                f"{len(records) / wall:,.0f} records/s; "
                f"CPU {cpu / len(records) * 1e6:.0f} us/record"
            )
        async with db.sessions() as session:
            total = await session.scalar(select(func.sum(UsageCounter.records)))
        assert total == n + n // 10, f"counters hold {total} records"
        print(f"counters hold {total} records, as counted; load average {os.getloadavg()[0]:.2f}")
    finally:
        await db.dispose()
        await drop_database(url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sims", type=int, default=2000)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    use_postgres()
    asyncio.run(main(args.sims, args.records, args.batch))
