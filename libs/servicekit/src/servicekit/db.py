"""Async SQLAlchemy engine and sessions, plus the outbox and inbox tables.

PostgreSQL when ``<SERVICE>_DATABASE_URL`` points at it, one SQLite file per service as
the embedded default. The entry point (HTTP request or Kafka message) owns the
transaction: use cases add and flush, ``Database.transaction`` commits once.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections import namedtuple
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    TypeDecorator,
    event,
    text,
)
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlalchemy.pool import StaticPool
from sqlalchemy.util import greenlet_spawn

from servicekit.faults import is_database_unavailable

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that only takes and gives aware UTC datetimes.

    Binding a naive datetime is refused (it is a bug: its zone is unknown); an aware one
    is converted to UTC. Results are aware UTC on both databases: SQLite stores no offset
    (its values are UTC, so UTC is attached), PostgreSQL's are converted to UTC. The DDL
    is that of ``DateTime(timezone=True)``, so migrations need not change.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime takes a datetime, not {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} refused: give an aware datetime (UTC)"
            )
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # SQLite: stored as UTC without an offset
        return value.astimezone(UTC)


async def database_now(session: AsyncSession) -> datetime:
    """The database server's clock (aware UTC), for times several instances compare, such
    as claim leases: one clock for all of them, whatever each machine's clock says."""
    if session.get_bind().dialect.name == "sqlite":
        value = (
            await session.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"))
        ).scalar_one()
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
    value = (await session.execute(text("SELECT clock_timestamp()"))).scalar_one()
    return value.astimezone(UTC)  # type: ignore[no-any-return]  # asyncpg gives a datetime


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def outbox_table(metadata: MetaData) -> Table:
    """Events written in the caller's transaction, published later by the relay."""
    if "outbox" in metadata.tables:
        return metadata.tables["outbox"]
    return Table(
        "outbox",
        metadata,
        # BigInteger autoincrement keeps insertion order (per-key order for the relay).
        Column(
            "seq",
            BigInteger().with_variant(Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        # Not unique-indexed: ids are new random UUIDs, nothing looks rows up by id, and
        # consumers' inboxes absorb a repeated id anyway; the index cost every event a
        # random b-tree insert (~15 % of the database's work per usage record, ADR 32).
        Column("event_id", String(36), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=True),
        Column("value", LargeBinary, nullable=False),
        Column("headers", JSON, nullable=False, default=dict),
        Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
    )


def inbox_table(metadata: MetaData) -> Table:
    """Ids of events already applied, per consumer, written in the effect's transaction."""
    if "inbox" in metadata.tables:
        return metadata.tables["inbox"]
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(100), nullable=False),
        Column("event_id", String(64), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("processed_at", UTCDateTime(), nullable=False, default=utcnow),
        PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox"),
        Index("ix_inbox_processed_at", "processed_at"),
    )


def outbox_parked_table(metadata: MetaData) -> Table:
    """Events the relay set aside because the broker can never take them (too large, no
    such topic), with when and why; ``portal-outbox`` lists and requeues them."""
    if "outbox_parked" in metadata.tables:
        return metadata.tables["outbox_parked"]
    return Table(
        "outbox_parked",
        metadata,
        # The seq it had in the outbox (not generated here).
        Column(
            "seq",
            BigInteger().with_variant(Integer, "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        Column("event_id", String(36), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=True),
        Column("value", LargeBinary, nullable=False),
        Column("headers", JSON, nullable=False, default=dict),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("parked_at", UTCDateTime(), nullable=False, default=utcnow),
        Column("error", String(1000), nullable=False),
    )


def add_kit_tables(metadata: MetaData) -> None:
    """Put the kit's tables on a service's metadata (so its migrations create them)."""
    outbox_table(metadata)
    inbox_table(metadata)
    outbox_parked_table(metadata)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> str:
    """The file of a SQLite URL; ``""`` or ``":memory:"`` for an in-memory database."""
    return url.split(":///", 1)[1] if ":///" in url else ""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers go on while a writer commits; NORMAL is durable across a process
    # crash (what we need), only an OS crash can lose the last transactions.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    if is_sqlite(url):
        path = sqlite_path(url)
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {}
        if path in ("", ":memory:"):
            kwargs["poolclass"] = StaticPool
        engine = create_async_engine(url, echo=echo, **kwargs)
        sync_engine: Engine = engine.sync_engine
        event.listen(sync_engine, "connect", _sqlite_pragmas)
        _multi_row_inserts(engine)
        return engine
    # No pre-ping: it cost three round trips (BEGIN, a ping, ROLLBACK) on every checkout,
    # as many as the request's own statements. A connection that died with the server is
    # found by the statement that uses it: that request gets 503 with Retry-After
    # (problems.problem_for_failure) and SQLAlchemy, seeing a disconnect, invalidates the
    # whole pool, so the next requests connect afresh. Connections are also renewed
    # every half hour (a proxy or firewall may drop idle ones silently).
    # Up to 20 connections, all kept once opened (no overflow): an overflow connection
    # is closed when it is handed back to a full pool, so under load connections were
    # opened and closed continually, each a server process, a TLS handshake and a
    # password exchange (ADR 33).
    engine = create_async_engine(
        url, echo=echo, pool_size=20, max_overflow=0, pool_pre_ping=False, pool_recycle=1800
    )
    _multi_row_inserts(engine)
    return engine


def _multi_row_inserts(engine: AsyncEngine) -> None:
    """An ``execute(table.insert(), [rows...])`` becomes one ``INSERT ... VALUES (...),
    (...)`` per page of rows (SQLAlchemy's "insertmanyvalues", which it already uses for
    inserts with RETURNING) instead of the driver's executemany, one statement per row.
    Same rows, same errors, same transaction; measured ~2x faster for the consumer's
    inbox and the handlers' batch inserts on asyncpg (docs/benchmarks.md)."""
    engine.sync_engine.dialect.use_insertmanyvalues_wo_returning = True


class Database:
    """One per service process: engine, session factory and the kit tables."""

    def __init__(self, url: str, metadata: MetaData) -> None:
        add_kit_tables(metadata)
        self.url = url
        self.metadata = metadata
        self.engine = create_engine(url)
        self._after_write_commit: list[Callable[[], None]] = []
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=self._watched_sessions()
        )
        self.outbox = outbox_table(metadata)
        self.inbox = inbox_table(metadata)
        self.outbox_parked = outbox_parked_table(metadata)
        self._reader: sqlite3.Connection | None = None  # read_rows on SQLite
        path = sqlite_path(url) if is_sqlite(url) else None
        self._reader_path = path if path and path != ":memory:" else None

    def _watched_sessions(self) -> type[Session]:
        """This database's own session class, which notes whether a transaction wrote
        anything, so ``on_write_commit`` callbacks run after exactly those commits."""
        watched = type("WatchedSession", (Session,), {})
        callbacks = self._after_write_commit

        def executed(state: ORMExecuteState) -> None:
            if state.is_insert or state.is_update or state.is_delete:
                state.session.info["wrote"] = True

        def flushed(session: Session, _ctx: UOWTransaction) -> None:
            if session.new or session.dirty or session.deleted:
                session.info["wrote"] = True

        def committed(session: Session) -> None:
            if session.info.pop("wrote", False):
                for callback in callbacks:
                    callback()

        def rolled_back(session: Session, *_: Any) -> None:
            session.info.pop("wrote", None)

        event.listen(watched, "do_orm_execute", executed)
        event.listen(watched, "after_flush", flushed)
        event.listen(watched, "after_commit", committed)
        event.listen(watched, "after_rollback", rolled_back)
        return watched

    @property
    def dialect(self) -> str:
        return "sqlite" if is_sqlite(self.url) else "postgresql"

    def on_write_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every commit of a transaction that wrote (inserted,
        updated or deleted anything), whichever path opened it: in-process caches of this
        database's rows forget what may have changed (delegation's decision projection), the
        outbox relay publishes at once. A read-only transaction (a check, an invoice list)
        calls nothing: under read load the relay is not woken thousands of times a second
        to find an empty outbox."""
        self._after_write_commit.append(callback)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commit on success, roll back on error, in one place."""
        async with self.sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A transaction opened only if used: for a read that is usually answered from
        memory (delegation's check), the session, its greenlet hops and its commit cost
        as much as the rest of the request. If the block touches the session, it is a
        normal ``transaction()``; if not, nothing was opened."""
        lazy = _LazySession(self.sessions)
        try:
            yield cast(AsyncSession, lazy)
            if lazy.opened is not None:
                await lazy.opened.commit()
        except BaseException:
            if lazy.opened is not None:
                await lazy.opened.rollback()
            raise
        finally:
            if lazy.opened is not None:
                await lazy.opened.close()

    @asynccontextmanager
    async def statements(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection in autocommit mode, for a hot read-only route (ADR 26):
        each statement stands alone, with no ORM session and no BEGIN and ROLLBACK round
        trips around it. Statements do not share a snapshot; use ``transaction()`` for
        anything that must be consistent across statements, and for every write."""
        async with self.engine.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    async def read_rows(self, stmt: Any, params: dict[str, Any]) -> list[Any]:
        """The rows of a read-only Core ``select``, each with its columns as attributes,
        as ``conn.execute`` gives them, for a fraction of the CPU: the statement is
        compiled once and run straight on the driver, with SQLAlchemy's conversions of
        its parameters and columns (``_converter``) but without its connection, execution
        context and result objects. One statement standing alone (autocommit), as in
        ``statements()``: for the hottest reads (ADR 36).

        PostgreSQL: on a pooled asyncpg connection (asyncpg's own prepared-statement
        cache). SQLite: on a read-only connection of this process, in the event loop's
        thread. A read of an indexed page takes tens of microseconds, less than the hop
        to aiosqlite's thread and back; WAL lets it read while a writer commits."""
        if self.engine.dialect.driver == "asyncpg":
            return await self._read_asyncpg(stmt, params)
        if self._reader_path is not None:
            return self._read_sqlite(self._reader_path, stmt, params)
        async with self.statements() as conn:  # an in-memory database: its one connection
            return list(await conn.execute(stmt, params))

    async def _read_asyncpg(self, stmt: Any, params: dict[str, Any]) -> list[Any]:
        plan = _driver_plan(stmt, self.engine.dialect)
        args = _args(plan, params)
        pooled = await self.engine.raw_connection()
        try:
            driver: Any = pooled.driver_connection
            records = await driver.fetch(plan.sql, *args)
        except Exception as exc:
            if not (driver.is_closed() or is_database_unavailable(exc)):
                raise
            # What SQLAlchemy does on a disconnect: this connection and every one opened
            # before it are replaced (the server restarted), so the next requests
            # connect afresh; the client gets 503 with Retry-After (problems).
            await greenlet_spawn(self.engine.sync_engine.pool._invalidate, pooled, exc)
            raise ConnectionError("the connection to the database was lost") from exc
        finally:
            await greenlet_spawn(pooled.close)  # back to the pool
        return _rows(plan, records)

    def _read_sqlite(self, path: str, stmt: Any, params: dict[str, Any]) -> list[Any]:
        plan = _driver_plan(stmt, self.engine.dialect)
        try:
            if self._reader is None:
                # Read-only, autocommit (each SELECT sees the last commit); a short busy
                # timeout, as the event loop waits on it (in WAL a reader is not kept
                # waiting by writers, only by a rare recovery).
                reader = sqlite3.connect(path, isolation_level=None)
                reader.execute("PRAGMA query_only=ON")
                reader.execute("PRAGMA busy_timeout=200")
                self._reader = reader
            records = self._reader.execute(plan.sql, _args(plan, params)).fetchall()
        except sqlite3.OperationalError as exc:
            if not any(w in str(exc) for w in ("locked", "busy", "unable to open")):
                raise  # a bug (no such table...), not an outage
            raise ConnectionError("the database is not available to read") from exc
        return _rows(plan, records)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        await self.engine.dispose()


@dataclass(frozen=True)
class _DriverPlan:
    sql: str
    names: tuple[str, ...]  # the parameters, in the order of ``$1, $2...`` (or ``?``)
    given: dict[str, Any]
    binds: tuple[Callable[[Any], Any] | None, ...]
    results: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column, processor)
    row: type[tuple[Any, ...]]


_plans: dict[tuple[int, str], tuple[Any, _DriverPlan]] = {}


def _converter(type_: Any, dialect: Dialect, way: str) -> Callable[[Any], Any] | None:
    """How a value of ``type_`` goes to (``bind``) or comes from (``result``) the driver.

    SQLite's driver knows only text, numbers and bytes: SQLAlchemy's own conversions
    apply (uuids stored as hex, Decimal, dates and datetimes as text). asyncpg gives and
    takes what SQLAlchemy's asyncpg dialect passes through for the base types (uuid,
    str, int, bool, Decimal, date, aware datetime): only a ``TypeDecorator``'s own
    conversion applies (``UTCDateTime``)."""
    if dialect.driver != "asyncpg":
        impl = type_.dialect_impl(dialect)
        if way == "bind":
            return cast("Callable[[Any], Any] | None", impl.bind_processor(dialect))
        return cast("Callable[[Any], Any] | None", impl.result_processor(dialect, None))
    if not isinstance(type_, TypeDecorator):
        return None
    convert = type_.process_bind_param if way == "bind" else type_.process_result_value
    return lambda value: convert(value, dialect)


def _driver_plan(stmt: Any, dialect: Dialect) -> _DriverPlan:
    key = (id(stmt), dialect.name)
    found = _plans.get(key)
    if found is not None and found[0] is stmt:
        return found[1]
    compiled = stmt.compile(dialect=dialect)
    names = tuple(compiled.positiontup or ())
    # Values the statement carries itself (a literal in an expression: ``param_1``).
    given = {n: compiled.binds[n].effective_value for n in names if not compiled.binds[n].required}
    binds = tuple(_converter(compiled.binds[n].type, dialect, "bind") for n in names)
    columns = list(stmt.selected_columns)
    results = tuple(
        (i, proc)
        for i, c in enumerate(columns)
        if (proc := _converter(c.type, dialect, "result")) is not None
    )
    row = namedtuple("DriverRow", [c.key for c in columns])  # type: ignore[misc]
    plan = _DriverPlan(compiled.string, names, given, binds, results, row)
    _plans[key] = (stmt, plan)
    return plan


def _args(plan: _DriverPlan, params: dict[str, Any]) -> list[Any]:
    return [
        value if bind is None else bind(value)
        for bind, value in zip(
            plan.binds,
            (params[n] if n in params else plan.given[n] for n in plan.names),
            strict=True,
        )
    ]


def _rows(plan: _DriverPlan, records: list[Any]) -> list[Any]:
    if not plan.results:
        return [plan.row(*r) for r in records]
    rows = []
    for record in records:
        values = list(record)
        for i, proc in plan.results:
            values[i] = proc(values[i])
        rows.append(plan.row(*values))
    return rows


class _LazySession:
    """Stands for an ``AsyncSession`` made on first attribute access (``Database.reading``)."""

    def __init__(self, factory: Callable[[], AsyncSession]) -> None:
        self._factory = factory
        self.opened: AsyncSession | None = None

    def __getattr__(self, name: str) -> Any:
        if self.opened is None:
            self.opened = self._factory()
        return getattr(self.opened, name)


def new_id() -> uuid.UUID:
    return uuid.uuid4()
