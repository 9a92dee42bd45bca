"""Inspect and requeue the events a service's relay set aside in ``outbox_parked``.

    portal-outbox list    --database-url postgresql+asyncpg://.../billing
    portal-outbox requeue --database-url ... (--seq 41 --seq 42 | --all)

The relay parks an event the broker can never take (larger than the broker's limit, or
for a topic that does not exist) with an alert (``OutboxEventsParked``). Fix the cause (create
the topic, raise the limit), then requeue: the events go back to the end of the outbox
with their original ids, so consumers that already saw one drop it through their inbox.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select

from servicekit.db import Database, new_metadata


async def list_parked(db: Database) -> list[dict[str, Any]]:
    parked = db.outbox_parked
    async with db.sessions() as session:
        rows = (await session.execute(select(parked).order_by(parked.c.seq))).all()
    return [
        {
            "seq": r.seq,
            "event_id": r.event_id,
            "topic": r.topic,
            "key": r.key,
            "bytes": len(r.value),
            "created_at": r.created_at.isoformat(),
            "parked_at": r.parked_at.isoformat(),
            "error": r.error,
        }
        for r in rows
    ]


async def requeue(db: Database, seqs: Sequence[int] | None) -> int:
    """Move parked events (all when ``seqs`` is None) back into the outbox; returns how many."""
    parked, outbox = db.outbox_parked, db.outbox
    async with db.transaction() as session:
        query = select(parked).order_by(parked.c.seq)
        if seqs is not None:
            query = query.where(parked.c.seq.in_(list(seqs)))
        rows = (await session.execute(query)).all()
        for r in rows:
            await session.execute(
                outbox.insert().values(
                    event_id=r.event_id,
                    topic=r.topic,
                    key=r.key,
                    value=r.value,
                    headers=r.headers,
                    created_at=r.created_at,
                )
            )
        if rows:
            await session.execute(delete(parked).where(parked.c.seq.in_([r.seq for r in rows])))
    return len(rows)


async def _main(args: argparse.Namespace) -> int:
    db = Database(args.database_url, new_metadata())
    try:
        if args.command == "list":
            for item in await list_parked(db):
                print(json.dumps(item))
            return 0
        if not args.all and not args.seq:
            print("requeue needs --seq N (repeatable) or --all", file=sys.stderr)
            return 2
        count = await requeue(db, None if args.all else args.seq)
        print(f"requeued {count} event(s)")
        return 0
    finally:
        await db.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="portal-outbox", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["list", "requeue"])
    parser.add_argument("--database-url", required=True, help="the service's database")
    parser.add_argument("--seq", type=int, action="append", help="a parked event's seq")
    parser.add_argument("--all", action="store_true", help="requeue every parked event")
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
