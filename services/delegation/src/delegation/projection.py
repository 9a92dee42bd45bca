"""What a decision reads, kept in memory: people with their grants, SIMs, terminated
customers and group links, loaded from the database on first use and forgotten when they
may have changed. See ADR 0022.

A check then costs no query at all once its subject is known: ``/v1/check`` answers from
memory. Everything is forgotten at once

- after every commit of this process that wrote to delegation's database (``Database.
  on_write_commit``: assignments, users, SIMs, customers, whichever use case or handler),
- on every ``delegation.changed`` event, read by every instance (``servicekit.broadcast``),
  so an instance also forgets what another instance changed,
- when that reader (re)starts (events may have been missed),

and each entry is at most ``ttl_s`` old besides, the bound for what another instance
changed without announcing it (a ``sim.changed`` applied by one instance of a group).

A load that overlaps an invalidation is used for its own request but not stored (the
generation counter), so an answer older than the change cannot stay in memory.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Hashable
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from delegation import repository as repo
from delegation.domain import Person
from delegation.domain.model import SimFacts

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_ABSENT: Any = object()


class _Table:
    """One kind of fact, by key; an absent row is remembered as absent."""

    def __init__(self, owner: Projection) -> None:
        self.owner = owner
        self.rows: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        # Loads under way, by key: concurrent requests for the same missing key wait for
        # the one load instead of each querying the database (an expired entry under load).
        self.loading: dict[Hashable, asyncio.Future[Any]] = {}

    async def get(
        self,
        keys: Collection[K],
        load: Callable[[set[K]], Awaitable[dict[K, V]]],
    ) -> dict[K, V]:
        now = self.owner.clock()
        found: dict[K, V] = {}
        missing: set[K] = set()
        for key in keys:
            hit = self.rows.get(key)
            if hit is None or hit[0] < now:
                missing.add(key)
            elif hit[1] is not _ABSENT:
                found[key] = hit[1]
        if not missing:
            self.owner.hits += 1
            return found
        generation = self.owner.generation
        waiting = {
            k: f
            for k in missing
            if (f := self.loading.get(k)) is not None and f.generation == generation  # type: ignore[attr-defined]
        }
        mine = missing - set(waiting)
        if mine:
            self.owner.misses += 1
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            future.generation = generation  # type: ignore[attr-defined]
            for key in mine:
                self.loading[key] = future
            try:
                loaded = await load(mine)
            except asyncio.CancelledError:
                future.cancel()  # the waiters load it themselves
                raise
            except BaseException as exc:
                future.set_exception(exc)
                future.exception()  # retrieved: the waiters get it too
                raise
            finally:
                for key in mine:
                    if self.loading.get(key) is future:
                        del self.loading[key]
            future.set_result(loaded)
            found.update(loaded)
            if generation == self.owner.generation:
                until = self.owner.clock() + self.owner.ttl_s
                for key in mine:
                    self.rows[key] = (until, loaded.get(key, _ABSENT))
                    self.rows.move_to_end(key)
                while len(self.rows) > self.owner.max_entries:
                    self.rows.popitem(last=False)
        for key, pending in waiting.items():
            try:
                result = await pending
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # this request itself is being cancelled
                result = await load({key})  # the request loading it went away: load it here
            if key in result:
                found[key] = result[key]
        return found


class Projection:
    def __init__(
        self,
        *,
        ttl_s: float = 5.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self.generation = 0
        self.hits = 0
        self.misses = 0
        self._people = _Table(self)
        self._sims = _Table(self)
        self._terminated = _Table(self)
        self._links = _Table(self)

    def invalidate(self, _event: object = None) -> None:
        self.generation += 1
        for table in (self._people, self._sims, self._terminated, self._links):
            table.rows.clear()

    def __len__(self) -> int:
        return sum(len(t.rows) for t in (self._people, self._sims, self._terminated, self._links))

    async def people(self, session: AsyncSession, user_ids: Collection[UUID]) -> dict[UUID, Person]:
        async def load(ids: set[UUID]) -> dict[UUID, Person]:
            return await repo.people(session, ids)

        return await self._people.get(user_ids, load)

    async def sims(self, session: AsyncSession, sim_ids: Collection[UUID]) -> dict[UUID, SimFacts]:
        async def load(ids: set[UUID]) -> dict[UUID, SimFacts]:
            return await repo.sims(session, ids)

        return await self._sims.get(sim_ids, load)

    async def terminated_among(
        self, session: AsyncSession, customer_ids: Collection[UUID]
    ) -> set[UUID]:
        async def load(ids: set[UUID]) -> dict[UUID, bool]:
            return {c: True for c in await repo.terminated_among(session, ids)}

        return set(await self._terminated.get(customer_ids, load))

    async def group_links(
        self, session: AsyncSession, parents: Collection[UUID], children: Collection[UUID]
    ) -> set[tuple[UUID, UUID]]:
        """(parent, affiliate) pairs among ``parents`` x ``children``; each parent's
        links are loaded (and kept) whole."""

        async def load(ids: set[UUID]) -> dict[UUID, frozenset[UUID]]:
            pairs = await repo.group_links(session, ids, None)
            by_parent: dict[UUID, set[UUID]] = {p: set() for p in ids}
            for parent, child in pairs:
                by_parent[parent].add(child)
            return {p: frozenset(c) for p, c in by_parent.items()}

        wanted = set(children)
        by_parent = await self._links.get(parents, load)
        return {(p, c) for p, kids in by_parent.items() for c in kids if c in wanted}
