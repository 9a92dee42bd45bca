"""The sender loop: picks due notifications and sends them, outside any Kafka handler.

Exactly one message per recipient per request rests on three steps, each its own
transaction:

1. the consumer records the notification and the inbox entry atomically (a redelivered
   event creates nothing);
2. the sender *claims* the row (status "sending", attempt counted) and commits before
   talking to the SMTP server or the SMS gateway, so another instance never picks it up;
3. right after the provider's reply it commits "sent" (or the failure).

The one window left is a crash between the provider's acceptance and step 3's commit.
The row then stays "sending"; once its lease (``sending_lease_s``) runs out it is sent
again, with the same ``Message-ID`` (e-mail) or ``Idempotency-Key`` (SMS) so that
receivers which de-duplicate on them show it once. We cannot ask an SMTP server whether
it accepted a message, so at most one duplicate remains possible in that window; we keep
the window short by committing "sent" immediately and retrying that commit when the
database blips.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from uuid import UUID

from opentelemetry import trace
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from notifier import service
from notifier.delivery import build_email
from notifier.deps import Deps
from notifier.domain import DeliveryError, attachment_filename, permanent, transient
from notifier.service import Job
from notifier.templates import TemplateProblem
from servicekit.app import ServiceKit
from servicekit.db import Database
from servicekit.faults import is_database_unavailable
from servicekit.loop import BackgroundLoop
from servicekit.telemetry import context_from_mapping, tracer

log = logging.getLogger(__name__)

SENDS = Counter(
    "notifier_send_attempts_total", "Send attempts by channel and outcome", ["channel", "outcome"]
)
SEND_DURATION = Histogram("notifier_send_duration_seconds", "Time to send one message", ["channel"])
CIRCUIT_OPEN = Gauge(
    "notifier_circuit_open", "1 while a channel's provider is considered down", ["channel"]
)
CHANNELS = ("email", "sms")


class Breaker:
    """One channel's circuit breaker: after ``failures`` provider failures in a row it opens
    for ``open_s`` (doubling up to ``max_open_s`` while the provider keeps failing); while
    open nothing is claimed for the channel, so an outage does not churn through messages.
    One success closes it."""

    def __init__(
        self,
        channel: str,
        *,
        failures: int,
        open_s: float,
        max_open_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channel = channel
        self.threshold = failures
        self.open_s = open_s
        self.max_open_s = max_open_s
        self.clock = clock
        self.failures = 0
        self.opened = 0  # how many times in a row it opened
        self.open_until = 0.0

    def is_open(self) -> bool:
        return self.clock() < self.open_until

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.open_until = self.clock() + min(self.open_s * 2**self.opened, self.max_open_s)
            self.opened += 1
            self.failures = 0
            CIRCUIT_OPEN.labels(self.channel).set(1)
            log.warning(
                "%s provider failing; not sending on it for %.0fs",
                self.channel,
                self.open_until - self.clock(),
            )

    def success(self) -> None:
        if self.opened or self.failures:
            log.info("%s provider answering again", self.channel)
        self.failures = 0
        self.opened = 0
        self.open_until = 0.0
        CIRCUIT_OPEN.labels(self.channel).set(0)


class Sender:
    def __init__(self, db: Database, deps: Deps) -> None:
        self.db = db
        self.deps = deps
        self._own_transactions = 0
        s = deps.settings
        self.breakers = {
            channel: Breaker(
                channel,
                failures=s.breaker_failures,
                open_s=s.breaker_open_s,
                max_open_s=s.breaker_open_max_s,
            )
            for channel in CHANNELS
        }
        self._loop = BackgroundLoop(
            "notifier-sender",
            self._send_pass,
            interval_s=s.sender_poll_interval_s,
            backoff_initial_s=0.5,
            backoff_max_s=30.0,
        )
        db.on_write_commit(self._on_commit)

    # -- lifecycle -------------------------------------------------------------------------

    def _on_commit(self) -> None:
        # A commit elsewhere (a new request from the consumer, a resend) may have made
        # work; our own commits must not wake us, or the loop would spin.
        if not self._own_transactions:
            self._loop.wake()

    async def start(self, _kit: ServiceKit | None = None) -> None:
        self._loop.start()

    async def stop(self, kit: ServiceKit | None = None) -> None:
        """Let the batch in flight finish (so it is not left "sending"), then stop, within
        the kit's shutdown budget; past it the batch is cancelled and its claims expire
        after the lease (then sent again with the same Message-ID)."""
        deadline = self.deps.settings.smtp_timeout_s
        if kit is not None:
            deadline = min(deadline, kit.shutdown_time_left())
        if not await self._loop.stop(deadline):
            log.warning("sender did not finish in time; its claims will expire")

    async def _send_pass(self) -> bool:
        # A full batch: more may be due at once.
        return await self.run_once() >= self.deps.settings.sender_batch_size

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        self._own_transactions += 1
        try:
            async with self.db.transaction() as session:
                yield session
        finally:
            self._own_transactions -= 1

    # -- one pass --------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim what is due and send it; returns how many were claimed.

        The batch is sent concurrently: every claim then finishes within one send's
        time, far inside the lease, so no other instance can take a claimed row over
        while it is still being sent.
        """
        channels = [c for c in CHANNELS if not self.breakers[c].is_open()]
        if not channels:
            return 0
        async with self._transaction() as session:
            jobs = await service.claim_due(session, self.deps, channels)
        if jobs:
            await asyncio.gather(*(self._deliver(job) for job in jobs))
        return len(jobs)

    async def _deliver(self, job: Job) -> None:
        # Continue the trace of the request: the send and notification.sent/failed (whose
        # outbox row stores the current trace context) join it.
        with tracer("notifier").start_as_current_span(
            "notification send",
            context=context_from_mapping(job.trace_headers),
            kind=trace.SpanKind.CLIENT,
            attributes={
                "notification.id": str(job.id),
                "notification.channel": job.channel,
                "notification.template": job.template,
                "notification.attempt": job.attempts,
            },
        ):
            await self._deliver_in_span(job)

    async def _deliver_in_span(self, job: Job) -> None:
        started = time.perf_counter()
        # Bounded below the lease: past it, another instance may legitimately resend.
        budget = self.deps.settings.sending_lease_s / 2
        try:
            provider_id = await asyncio.wait_for(self._send(job), timeout=budget)
        except DeliveryError as exc:
            outcome = "outage" if exc.outage else "transient" if exc.transient else "permanent"
            SENDS.labels(job.channel, outcome).inc()
            if exc.outage:
                self.breakers[job.channel].failure()
            await self._record_failure(job, exc)
            return
        except TimeoutError:
            SENDS.labels(job.channel, "transient").inc()
            await self._record_failure(job, transient(f"send took longer than {budget:.0f}s"))
            return
        except Exception as exc:  # a bug, not the provider: retried, bounded
            log.exception("unexpected error sending notification %s", job.id)
            SENDS.labels(job.channel, "error").inc()
            await self._record_failure(job, transient(f"internal error: {type(exc).__name__}"))
            return
        SEND_DURATION.labels(job.channel).observe(time.perf_counter() - started)
        SENDS.labels(job.channel, "sent").inc()
        self.breakers[job.channel].success()
        await self._record_sent(job, provider_id)

    async def _send(self, job: Job) -> str:
        templates = self.deps.templates
        try:
            if job.channel == "sms":
                text = templates.render_sms(job.template, job.locale, job.params)
                return await self.deps.sms.send(
                    to=job.to_address, text=text, idempotency_key=str(job.id)
                )
            rendered = templates.render_email(job.template, job.locale, job.params)
        except TemplateProblem as exc:
            raise permanent(str(exc)) from None
        attachments = await self._attachments(job)
        s = self.deps.settings
        message = build_email(
            notification_id=job.id,
            mail_from=s.mail_from,
            to=job.to_address,
            rendered=rendered,
            locale=job.locale,
            domain=s.message_id_domain,
            attachments=attachments,
        )
        return await self.deps.mailer.send(message)

    async def _attachments(self, job: Job) -> list[tuple[str, bytes]]:
        files = []
        single = len(job.attachments) == 1
        for ref in job.attachments:
            if ref.get("kind") != "invoice_pdf":
                raise permanent(f"unsupported attachment kind {ref.get('kind')!r}")
            invoice_id = UUID(str(ref["invoice_id"]))
            content = await self.deps.pdfs.invoice_pdf(invoice_id)
            # The invoice number names the file only when it is unambiguous.
            number = job.params.get("invoice_number") if single else None
            files.append((attachment_filename(number, invoice_id), content))
        return files

    # -- recording the outcome -------------------------------------------------------------

    async def _record_sent(self, job: Job, provider_id: str) -> None:
        # The message is out: this commit is what stands between us and a duplicate, so
        # a database blip is waited out (within the lease) instead of giving up.
        deadline = time.monotonic() + self.deps.settings.sending_lease_s / 2
        delay = 0.2
        while True:
            try:
                async with self._transaction() as session:
                    await service.record_sent(session, self.deps, job, provider_id)
                return
            except Exception as exc:
                if not is_database_unavailable(exc):
                    raise
                if time.monotonic() + delay > deadline:
                    log.error(
                        "could not record notification %s as sent; it may be sent again "
                        "when its lease expires",
                        job.id,
                    )
                    return
                log.warning("database unavailable recording a sent notification; retrying")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _record_failure(self, job: Job, error: DeliveryError) -> None:
        try:
            async with self._transaction() as session:
                await service.record_failure(session, self.deps, job, error)
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
            # Nothing was sent; the row stays "sending" and its lease brings it back.
            log.warning("could not record the failure of notification %s", job.id)
