"""``ServiceKit`` wires the plumbing of one service; ``create_app`` builds its FastAPI app.

A service's ``main.py`` does roughly::

    def create_app(settings: BillingSettings | None = None) -> FastAPI:
        settings = settings or BillingSettings()
        kit = ServiceKit(settings, metadata=Base.metadata, migrations_dir=MIGRATIONS)
        kit.subscribe(handlers.event_handlers(deps))  # {SimChangedV1: on_sim_changed, ...}
        return create_app(kit, routers=[api.router], title="billing")

The lifespan configures logs and traces, runs migrations, opens Redis, starts the outbox
relay and the consumer, and stops them in reverse order on shutdown (SIGTERM).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

from aiokafka import AIOKafkaClient
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from redis.asyncio import Redis
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import EventPayload
from contracts.events import DelegationChangedV1
from servicekit.asgi import FastHandler, FastLane, FastRoutes, RequestTelemetry
from servicekit.auth import ServiceTokenProvider, TokenVerifier, http_key_source
from servicekit.broadcast import BroadcastReader
from servicekit.consumer import EventConsumer, EventHandlers, GroupLagProbe, Handler
from servicekit.db import Database, utcnow
from servicekit.delegation_client import Delegation, DelegationClient
from servicekit.http import CircuitBreaker
from servicekit.inbox import INBOX_PURGED, inbox_retention, purge_inbox
from servicekit.kafka import KafkaSecurity, security_of
from servicekit.logging import configure_logging
from servicekit.loop import BackgroundLoop
from servicekit.migrations import upgrade_to_head_async
from servicekit.outbox import Outbox, OutboxRelay
from servicekit.overload import AdmissionLimit
from servicekit.problems import PROBLEM_JSON, install_problem_handlers
from servicekit.runtime import watch_runtime
from servicekit.settings import ServiceSettings
from servicekit.telemetry import configure_tracing

log = logging.getLogger(__name__)

DEPENDENCY_UP = Gauge(
    "dependency_up",
    "1 when the dependency answered its last probe (every dependency_probe_interval_s)",
    ["service", "dependency"],
)

Hook = Callable[["ServiceKit"], Awaitable[None]]


class ServiceKit:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        metadata: MetaData,
        migrations_dir: Path | None,
        uses_redis: bool = False,
    ) -> None:
        self.settings = settings
        self.service = settings.service_name
        self.db = Database(settings.database_url, metadata)
        self.migrations_dir = migrations_dir
        self.outbox = Outbox(self.db, source=f"/services/{self.service}")
        # The service's own Kafka principal, for every client it makes (ADR 24).
        self.kafka_security = security_of(settings)
        self.relay = OutboxRelay(
            self.db,
            service=self.service,
            bootstrap=settings.kafka_bootstrap_servers,
            security=self.kafka_security,
            batch_size=settings.relay_batch_size,
            poll_interval_s=settings.relay_poll_interval_s,
        )
        self.handlers = EventHandlers()
        self.consumer: EventConsumer | None = None
        # Only a service that keeps state in Redis connects to it (identity's throttling).
        self.redis: Redis | None = (
            Redis.from_url(settings.redis_url, socket_timeout=2.0) if uses_redis else None
        )
        self.dependencies: dict[str, str] = {}
        self.kafka_probe = KafkaProbe(settings.kafka_bootstrap_servers, self.kafka_security)
        self.lag_probe: GroupLagProbe | None = None
        self._stop_deadline: float | None = None
        self.verifier = TokenVerifier(
            http_key_source(settings.jwks_url, settings.http_timeout_s),
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            cache_size=settings.token_cache_size,
            service=settings.service_name,
        )
        self.tokens = ServiceTokenProvider(
            settings.token_url,
            settings.client_id,
            settings.client_secret,
            timeout_s=settings.http_timeout_s,
        )
        self.delegation: Delegation = DelegationClient(
            settings.delegation_url,
            self.tokens,
            ttl_s=settings.delegation_cache_ttl_s,
            timeout_s=settings.delegation_timeout_s,
            max_entries=settings.delegation_cache_size,
            breaker=CircuitBreaker(
                "rights",
                failures=settings.delegation_circuit_failures,
                open_s=settings.delegation_circuit_open_s,
            ),
            service=self.service,
        )
        # Caches that must forget when a right changes, on this instance (ADR 0022): each
        # is called with every delegation.changed event, and with None when the reader
        # (re)starts (events may have been missed: forget everything).
        self.on_delegation_changed: list[Callable[[EventPayload | None], None]] = []
        self.broadcast: BroadcastReader | None = None
        self.on_startup: list[Hook] = []
        self.on_shutdown: list[Hook] = []
        self.background: list[BackgroundLoop] = []  # the scheduled jobs
        self.fast_routes: FastRoutes = {}  # see fast_route

        async def probe_dependencies(kit: ServiceKit) -> None:
            await kit.check_dependencies()

        self.run_periodically(
            "dependency-probe", settings.dependency_probe_interval_s, probe_dependencies
        )

    def subscribe(self, handlers: Mapping[type[EventPayload], Handler]) -> None:
        """Consume events: handlers keyed by payload class, e.g. ``{SimChangedV1: on_sim}``.

        The topics come from the contracts catalogue; a class it does not know raises here
        (UnknownTopic), so a wrong declaration stops the service at start-up.
        """
        self.handlers.add(handlers)

    def fast_route(self, method: str, path: str, handler: FastHandler) -> None:
        """Answer ``method path`` (an exact path or a route template, also declared as a
        normal route) with ``handler`` when it can; see ``servicekit.asgi.FastLane`` and
        ADR 0026. Only for hot, read-only routes: a request the handler declines runs
        through the route."""
        self.fast_routes[(method, path)] = handler

    def run_periodically(
        self, name: str, interval_s: float, job: Callable[[ServiceKit], Awaitable[bool | None]]
    ) -> BackgroundLoop:
        """A scheduled job (retention, lifecycle rules, a worker), run every
        ``interval_s`` once the service has started; each run is its own span ``name``.

        Errors are logged, never fatal: a failed run is retried after a backoff that
        starts at a second (or ``interval_s`` if shorter) and doubles up to
        ``interval_s``. A job that returns True has more to do and runs again at once.
        The returned loop's ``wake()`` runs the job early.
        """

        async def work() -> bool | None:
            return await job(self)

        loop = BackgroundLoop(
            name,
            work,
            interval_s=interval_s,
            backoff_initial_s=min(1.0, interval_s),
            backoff_max_s=interval_s,
            span_name=name,
        )

        async def start(kit: ServiceKit) -> None:
            loop.start()

        self.background.append(loop)
        self.on_startup.append(start)
        return loop

    async def start(self) -> None:
        s = self.settings
        if self.migrations_dir is not None and s.run_migrations_on_start:
            await upgrade_to_head_async(s.database_url, self.migrations_dir)
        if s.relay_enabled:
            await self.relay.start()
        if self.handlers and s.consumer_enabled:
            self.consumer = EventConsumer(
                self.db,
                service=self.service,
                group_id=s.consumer_group,
                bootstrap=s.kafka_bootstrap_servers,
                handlers=self.handlers,
                max_attempts=s.consumer_max_attempts,
                backoff_initial_s=s.consumer_backoff_initial_s,
                backoff_max_s=s.consumer_backoff_max_s,
                offset_reset=s.consumer_offset_reset,
                security=self.kafka_security,
                transactions=s.consumer_transactions,
            )
            await self.consumer.start()
        if self.handlers:
            self._purge_inbox_periodically()
            if s.consumer_enabled:
                self._probe_lag_periodically()
        self._read_delegation_changes()
        for hook in self.on_startup:
            await hook(self)

    def _read_delegation_changes(self) -> None:
        s = self.settings
        listeners = list(self.on_delegation_changed)
        invalidate = getattr(self.delegation, "invalidate", None)  # not on test doubles
        if invalidate is not None:
            listeners.append(invalidate)
        if not listeners or not (s.delegation_changes_enabled and s.consumer_enabled):
            return

        def on_event(payload: EventPayload | None) -> None:
            for listener in listeners:
                listener(payload)

        self.broadcast = BroadcastReader(
            service=self.service,
            topic=DelegationChangedV1.event_type,
            bootstrap=s.kafka_bootstrap_servers,
            on_event=on_event,
            on_reset=lambda: on_event(None),
            security=self.kafka_security,
        )
        self.broadcast.start()

    def _purge_inbox_periodically(self) -> None:
        retention = inbox_retention(self.handlers.topics)

        async def purge(kit: ServiceKit) -> None:
            purged = await purge_inbox(kit.db, older_than=utcnow() - retention)
            if purged:
                INBOX_PURGED.labels(kit.service).inc(purged)
                log.info("purged %d inbox entries older than %s", purged, retention)

        self.run_periodically("inbox-purge", self.settings.inbox_purge_interval_s, purge)

    def _probe_lag_periodically(self) -> None:
        s = self.settings
        self.lag_probe = GroupLagProbe(
            s.kafka_bootstrap_servers, s.consumer_group, self.service, security=self.kafka_security
        )

        async def probe(kit: ServiceKit) -> None:
            if kit.lag_probe is not None:
                await kit.lag_probe()

        self.run_periodically("consumer-lag-probe", s.lag_probe_interval_s, probe)

    def shutdown_time_left(self) -> float:
        """Seconds left of the shutdown budget (the full budget before ``stop``)."""
        if self._stop_deadline is None:
            return self.settings.shutdown_budget_s
        return max(0.0, self._stop_deadline - time.monotonic())

    async def stop(self) -> None:
        """Stop within ``shutdown_budget_s``, so the process exits before Kubernetes'
        grace period runs out (30 s = 5 s preStop + 10 s for uvicorn's requests in flight +
        this budget + margin) rather than being killed mid-send.

        Hooks first, so a service can finish its own loops gracefully (the notifier's
        sender asks ``shutdown_time_left()``); then periodic jobs are cancelled (their open
        transaction rolls back) while the consumer finishes its batch; the relay flushes
        last with what is left.
        """
        self._stop_deadline = time.monotonic() + self.settings.shutdown_budget_s
        for hook in reversed(self.on_shutdown):
            try:
                await asyncio.wait_for(hook(self), timeout=max(self.shutdown_time_left(), 0.1))
            except TimeoutError:
                log.warning("a shutdown hook did not finish within the shutdown budget")
            except Exception:
                log.exception("shutdown hook failed")
        stopping: list[Awaitable[Any]] = [loop.stop(0) for loop in self.background]
        if self.consumer:
            stopping.append(self.consumer.stop(self.shutdown_time_left()))
        if self.broadcast is not None:
            stopping.append(self.broadcast.stop())
        await asyncio.gather(*stopping)
        await self.relay.stop(self.shutdown_time_left())
        await self.kafka_probe.close()
        if self.lag_probe is not None:
            await self.lag_probe.close()
        await self.delegation.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()

    # -- readiness -----------------------------------------------------------------

    async def check_ready(self) -> dict[str, str]:
        """What this instance needs to answer requests: its own database, nothing else.

        Kafka and Redis are shared: during their outage every replica would be taken out
        of its Service at once, although writes go on (events wait in the outbox) and
        logins go on (throttling falls back). Their health is in ``check_dependencies``.
        """
        return {"database": await _probe(self.db.ping())}

    async def check_dependencies(self) -> dict[str, str]:
        """Database, Kafka and (where used) Redis, for ``/healthz``, metrics and alerts."""
        probes: dict[str, Awaitable[Any]] = {
            "database": _probe(self.db.ping()),
            "kafka": _probe(self.kafka_probe()),
        }
        if self.redis is not None:
            probes["redis"] = _probe(self.redis.ping())
        results = await asyncio.gather(*probes.values())
        checks = dict(zip(probes, results, strict=True))
        for name, state in checks.items():
            DEPENDENCY_UP.labels(self.service, name).set(1 if state == "ok" else 0)
        self.dependencies = checks
        return checks


async def _probe(coro: Awaitable[Any]) -> str:
    try:
        await asyncio.wait_for(coro, timeout=2.0)
    except Exception as exc:
        return f"unavailable: {type(exc).__name__}"
    return "ok"


class KafkaProbe:
    """Asks the broker for its metadata over one long-lived connection: a new client for
    every probe (every 10 s) meant a new SASL/SCRAM handshake each time, thousands of
    PBKDF2 rounds on the event loop while requests wait. Reconnects after a failure."""

    def __init__(self, bootstrap: str, security: KafkaSecurity) -> None:
        self.bootstrap = bootstrap
        self.security = security
        self._client: AIOKafkaClient | None = None

    async def __call__(self) -> None:
        if self._client is None:
            client = AIOKafkaClient(
                bootstrap_servers=self.bootstrap, request_timeout_ms=2000, **self.security.options()
            )
            try:
                await client.bootstrap()  # a real metadata request
            except BaseException:
                await client.close()
                raise
            self._client = client
            return
        try:
            await self._client.fetch_all_metadata()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()


async def get_kit(request: Request) -> ServiceKit:
    kit: ServiceKit = request.app.state.kit
    return kit


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent."""
    kit: ServiceKit = request.app.state.kit
    async with kit.db.transaction() as session:
        yield session


KitDep = Annotated[ServiceKit, Depends(get_kit)]

D = TypeVar("D")


def deps_dependency(cls: type[D]) -> Callable[[Request], Awaitable[D]]:
    """The FastAPI dependency giving a service's ``Deps`` (what its use cases need),
    built once in ``main.py`` and kept on ``app.state.deps``. A service declares
    ``DepsDep = Annotated[Deps, Depends(deps_dependency(Deps))]``."""

    # async although it awaits nothing: FastAPI runs a plain ``def`` dependency in a worker
    # thread, a thread hop on every request of every route.
    async def get_deps(request: Request) -> D:
        deps = request.app.state.deps
        if not isinstance(deps, cls):
            raise TypeError(f"app.state.deps is {type(deps).__name__}, not {cls.__name__}")
        return deps

    return get_deps


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def create_app(
    kit: ServiceKit,
    *,
    routers: Sequence[APIRouter],
    title: str,
    version: str = "1.0.0",
    description: str = "",
) -> FastAPI:
    s = kit.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(kit.service, s.log_level, access_log=s.access_log)
        configure_tracing(kit.service, s.otlp_endpoint)
        await kit.start()
        # What start-up built (modules, models, routes, caches) lives as long as the
        # process: out of the collector's sight, a full collection no longer walks it
        # while requests wait (tens of milliseconds at the check's tail latency).
        gc.freeze()
        stop_watching = watch_runtime()
        log.info("service started", extra={"port": s.port})
        try:
            yield
        finally:
            stop_watching()
            await kit.stop()
            log.info("service stopped")

    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,
        # The request's span is RequestTelemetry's, its metrics are Prometheus', errors are
        # logged by the problem handlers: FastAPI's own telemetry would add four spans and
        # OpenTelemetry metrics to every request (ADR 0026).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.kit = kit
    install_problem_handlers(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, Any]:
        # Liveness: the process answers. It never waits on a dependency (a probe that
        # times out would have Kubernetes restart healthy pods during a broker outage);
        # it shows what the background probe last saw.
        return {"status": "ok", "service": kit.service, "dependencies": kit.dependencies}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        checks = await kit.check_ready()
        ready = all(v == "ok" for v in checks.values())
        # Informational: whether this instance holds partitions (an instance may rightly
        # hold none when a group has more members than partitions).
        consumer = None
        if kit.consumer is not None:
            consumer = "assigned" if kit.consumer.assigned else "waiting"
        if ready:
            return JSONResponse({"status": "ready", "checks": checks, "consumer": consumer})
        return JSONResponse(
            {
                "type": "https://portal.example/problems/not-ready",
                "title": "Not ready",
                "status": 503,
                "detail": "The service's database is unavailable",
                "checks": checks,
            },
            status_code=503,
            media_type=PROBLEM_JSON,
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)

    # Plain ASGI middlewares (Starlette's BaseHTTPMiddleware would run each request
    # through an extra task and memory stream); the last added runs first.
    app.add_middleware(FastLane, routes=kit.fast_routes)  # ADR 0026
    # The request's span, metrics and X-Trace-Id; for a refused request none of it.
    app.add_middleware(RequestTelemetry, service=kit.service)
    # Outermost, so a refusal costs as little as possible (ADR 0023).
    app.add_middleware(
        AdmissionLimit,
        service=kit.service,
        max_concurrency=s.overload_max_concurrency,
        max_queue=s.overload_max_queue,
        queue_timeout_s=s.overload_queue_timeout_s,
        retry_after_s=s.overload_retry_after_s,
    )
    return app


def serve(app_factory: Callable[[], FastAPI], settings: ServiceSettings) -> None:
    """Run one service with uvicorn; SIGTERM/SIGINT stop it gracefully via the lifespan."""
    import uvicorn

    configure_logging(settings.service_name, settings.log_level, access_log=settings.access_log)
    uvicorn.run(
        app_factory(),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=settings.access_log,
        timeout_graceful_shutdown=10,
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxies,
    )
