"""``portal-audit verify``: recompute the customers' audit chains end to end.

    portal-audit verify                      every customer's chain
    portal-audit verify --customer <id>      one customer's chain
    portal-audit verify --database-url postgresql+asyncpg://.../identity

Reads identity's database (``IDENTITY_DATABASE_URL`` unless ``--database-url``). Prints one
line per chain; for a broken chain it names the first broken link (its seq, what was
expected and what was found) and exits 1. Exit 0 when every chain holds; 2 on bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Sequence

from identity.models import Base
from identity.service import audit_trail
from identity.settings import IdentitySettings
from servicekit.db import Database


async def verify(database_url: str, customer_id: uuid.UUID | None) -> int:
    db = Database(database_url, Base.metadata)
    broken = 0
    try:
        async with db.sessions() as session:
            customers = (
                [customer_id]
                if customer_id is not None
                else await audit_trail.audited_customers(session)
            )
            for cid in customers:
                check = await audit_trail.verify_trail(session, cid)
                if check.ok:
                    print(f"customer {cid}: ok, {check.checked} entries")
                    continue
                broken += 1
                print(
                    f"customer {cid}: BROKEN at seq {check.first_bad_seq}: {check.problem}"
                    f" (expected {check.expected}, found {check.found});"
                    f" {check.checked} entries before it hold"
                )
    finally:
        await db.dispose()
    return 1 if broken else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="portal-audit", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["verify"])
    parser.add_argument("--customer", type=uuid.UUID, help="only this customer's chain")
    parser.add_argument("--database-url", help="identity's database (default: its settings)")
    args = parser.parse_args(argv)
    url = args.database_url or IdentitySettings().database_url
    return asyncio.run(verify(url, args.customer))


if __name__ == "__main__":
    sys.exit(main())
