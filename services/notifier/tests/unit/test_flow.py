"""The notification life cycle on a real (SQLite) database with fake providers: no
servers needed. The same flow against PostgreSQL, Kafka and the SMTP/SMS sinks is in
tests/integration."""

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from notifier_factories import (
    confirmation_request,
    invoice_mail_request,
    invoice_sms_request,
    sim_change_request,
    unique_email,
    user_created,
    user_deactivated,
)
from notifier_fakes import FakeMailer, FakePdfs, FakeSms
from sqlalchemy import select, update

from contracts.envelope import new_event
from contracts.events.notification import RecipientV1
from notifier import backoffice, service
from notifier.deps import Deps
from notifier.domain import dependency_down, outage, permanent, transient
from notifier.main import create_app
from notifier.models import Notification
from notifier.sender import Sender
from notifier.settings import NotifierSettings
from servicekit.app import ServiceKit
from servicekit.auth import TokenVerifier
from servicekit.pagination import encode_cursor
from servicekit.testing import FakeDelegation, TokenFactory, running


@dataclass
class Env:
    app: FastAPI
    client: AsyncClient
    kit: ServiceKit
    deps: Deps
    sender: Sender
    mailer: FakeMailer
    sms: FakeSms
    tokens: TokenFactory


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    folder = tempfile.mkdtemp(prefix="notifier-flow-")
    settings = NotifierSettings(
        database_url=f"sqlite+aiosqlite:///{folder}/notifier.db",
        consumer_enabled=False,
        relay_enabled=False,
        sender_enabled=False,  # the tests drive the sender themselves
        retry_initial_s=0,
        retry_max_s=0,
        max_attempts=3,
        outage_retry_s=0,
    )
    tokens = TokenFactory()
    mailer, sms = FakeMailer(), FakeSms()
    app = create_app(
        settings,
        verifier=TokenVerifier(
            tokens.key_source, issuer="portal-identity", audience="portal", service="notifier"
        ),
        delegation=FakeDelegation(),
        mailer=mailer,
        sms_gateway=sms,
        pdf_source=FakePdfs(),
    )
    async with running(app) as client:
        yield Env(
            app,
            client,
            app.state.kit,
            app.state.deps,
            app.state.sender,
            mailer,
            sms,
            tokens,
        )


async def submit(env: Env, payload: Any) -> None:
    event = new_event(payload, source="/services/test")
    handler = env.kit.handlers[event.type]
    async with env.kit.db.transaction() as session:
        await handler(session, event, payload)


async def rows(env: Env) -> list[Notification]:
    async with env.kit.db.sessions() as session:
        result = await session.execute(select(Notification).order_by(Notification.created_at))
        return list(result.scalars())


async def outbox_types(env: Env) -> list[str]:
    async with env.kit.db.sessions() as session:
        result = await session.execute(select(env.kit.db.outbox.c.topic))
        return [r[0] for r in result]


async def test_requested_twice_sends_once(env: Env) -> None:
    payload = confirmation_request()
    await submit(env, payload)
    await submit(env, payload)  # same request under a new event id
    assert await env.sender.run_once() == 1
    assert await env.sender.run_once() == 0
    [n] = await rows(env)
    assert (n.status, n.attempts, n.provider_message_id) == ("sent", 1, "250 queued as Q1")
    [msg] = env.mailer.sent
    assert msg["Message-ID"] == f"<{n.id}@portal.local>"
    assert msg["To"] == payload.to.email
    assert payload.params["confirm_url"] in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert await outbox_types(env) == ["notification.sent"]


async def test_transient_failure_is_retried_then_sent(env: Env) -> None:
    env.mailer.failures = [transient("smtp 451 later")]
    await submit(env, confirmation_request())
    await env.sender.run_once()
    [n] = await rows(env)
    assert (n.status, n.attempts, n.last_error) == ("pending", 1, "smtp 451 later")
    await env.sender.run_once()
    [n] = await rows(env)
    assert (n.status, n.attempts) == ("sent", 2)
    assert len(env.mailer.sent) == 1


async def test_gives_up_after_max_attempts(env: Env) -> None:
    env.sms.failures = [transient("sms gateway answered 503")] * 3
    await submit(env, invoice_sms_request())
    for _ in range(3):
        await env.sender.run_once()
    [n] = await rows(env)
    assert (n.status, n.attempts) == ("failed", 3)
    assert "gave up after 3 attempts" in (n.last_error or "")
    assert await outbox_types(env) == ["notification.failed"]
    assert env.sms.sent == []


async def test_permanent_failure_is_final(env: Env) -> None:
    env.mailer.failures = [permanent("smtp recipient refused: 550 <address> unknown")]
    await submit(env, confirmation_request())
    await env.sender.run_once()
    [n] = await rows(env)
    assert (n.status, n.attempts) == ("failed", 1)
    assert await env.sender.run_once() == 0


async def test_unknown_template_fails_at_once_without_sending(env: Env) -> None:
    await submit(env, confirmation_request(template="no_such_template"))
    [n] = await rows(env)
    assert (n.status, n.attempts) == ("failed", 0)
    assert "unknown template" in (n.last_error or "")
    assert await outbox_types(env) == ["notification.failed"]
    assert await env.sender.run_once() == 0


async def test_waits_for_the_recipient_then_sends_in_their_language(env: Env) -> None:
    user_id, customer_id = uuid.uuid4(), uuid.uuid4()
    payload = sim_change_request(
        user_id,
        customer_id=customer_id,
        locale="en",
        params={"msisdn": "+32470000002", "change": "option_added", "tariff_plan": "PRO"},
    )
    await submit(env, payload)
    [n] = await rows(env)
    assert (n.status, n.to_address) == ("waiting_for_recipient", None)
    assert await env.sender.run_once() == 0
    await submit(env, user_created(user_id, customer_id, locale="fr"))
    await env.sender.run_once()
    [n] = await rows(env)
    assert (n.status, n.locale) == ("sent", "fr")
    [msg] = env.mailer.sent
    assert msg["To"] == f"user-{user_id}@acme.example"
    assert "option ajoutée" in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_waiting_too_long_fails(env: Env) -> None:
    await submit(env, confirmation_request(to=RecipientV1(user_id=uuid.uuid4())))
    async with env.kit.db.transaction() as session:
        await session.execute(
            update(Notification).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    await env.sender.run_once()
    [n] = await rows(env)
    assert n.status == "failed" and "recipient unknown" in (n.last_error or "")


async def test_deactivated_recipient_is_not_mailed(env: Env) -> None:
    user_id, customer_id = uuid.uuid4(), uuid.uuid4()
    # Deactivation overtakes creation (different topics): the user stays inactive.
    await submit(env, user_deactivated(user_id, customer_id))
    await submit(env, user_created(user_id, customer_id))
    await submit(env, confirmation_request(to=RecipientV1(user_id=user_id)))
    [n] = await rows(env)
    assert n.status == "failed" and n.last_error == "recipient is deactivated"


async def test_crash_mid_send_resends_with_the_same_message_id(env: Env) -> None:
    await submit(env, confirmation_request())
    # Claim as a sender would, then "crash": the row stays "sending".
    async with env.kit.db.transaction() as session:
        [job] = await service.claim_due(session, env.deps)
    assert job.attempts == 1
    assert await env.sender.run_once() == 0  # within the lease: nobody touches it
    async with env.kit.db.transaction() as session:
        await session.execute(
            update(Notification).values(claimed_at=datetime.now(UTC) - timedelta(hours=1))
        )
    assert await env.sender.run_once() == 1
    [n] = await rows(env)
    assert (n.status, n.attempts) == ("sent", 2)
    assert env.mailer.sent[0]["Message-ID"] == f"<{job.id}@portal.local>"


async def test_invoice_mail_carries_the_pdf(env: Env) -> None:
    invoice_id = uuid.uuid4()
    await submit(env, invoice_mail_request(invoice_id))
    await env.sender.run_once()
    [msg] = env.mailer.sent
    [att] = list(msg.iter_attachments())
    assert att.get_filename() == "invoice-F2026-1.pdf"
    assert att.get_content() == b"%PDF-1.4 " + str(invoice_id).encode()


async def test_operator_list_and_resend(env: Env) -> None:
    operator = env.tokens.headers(uuid.uuid4(), kind="operator")
    payload = confirmation_request()
    address = payload.to.email or ""
    await submit(env, payload)
    pending = (await rows(env))[0]
    resp = await env.client.post(
        f"/v1/operator/notifications/{pending.id}/resend", headers=operator
    )
    assert resp.status_code == 409, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    await env.sender.run_once()
    resp = await env.client.post(
        f"/v1/operator/notifications/{pending.id}/resend", headers=operator
    )
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["resend_of"] == str(pending.id) and body["status"] == "pending"
    # A second resend while the first is still pending is refused.
    again = await env.client.post(
        f"/v1/operator/notifications/{pending.id}/resend", headers=operator
    )
    assert again.status_code == 409
    await env.sender.run_once()
    assert len(env.mailer.sent) == 2
    assert env.mailer.sent[0]["Message-ID"] != env.mailer.sent[1]["Message-ID"]

    page1 = await env.client.get(
        "/v1/operator/notifications",
        params={"limit": 1, "recipient": address.upper()},
        headers=operator,
    )
    assert page1.status_code == 200, page1.text
    first = page1.json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    assert first["items"][0]["to"] == "a***@acme.example"
    page2 = await env.client.get(
        "/v1/operator/notifications",
        params={"limit": 1, "cursor": first["next_cursor"], "recipient": address},
        headers=operator,
    )
    second = page2.json()
    assert second["next_cursor"] is None
    ids = {first["items"][0]["notification_id"], second["items"][0]["notification_id"]}
    assert len(ids) == 2 and str(pending.id) in ids


def at(deps: Deps, moment: datetime) -> Deps:
    """The same dependencies with the clock stopped at ``moment``."""
    return replace(deps, now=lambda: moment)


async def test_retention_drops_links_then_the_log(env: Env) -> None:
    operator = env.tokens.headers(uuid.uuid4(), kind="operator")
    await submit(env, confirmation_request())
    await env.sender.run_once()
    [n] = await rows(env)
    later = datetime.now(UTC) + timedelta(days=15)
    async with env.kit.db.transaction() as session:
        assert await backoffice.apply_retention(session, at(env.deps, later)) == (1, 0)
    [n] = await rows(env)
    assert n.params == {"first_name": "Anne"} and n.params_purged_at is not None
    resp = await env.client.post(f"/v1/operator/notifications/{n.id}/resend", headers=operator)
    assert resp.status_code == 409 and "retention" in resp.json()["detail"]
    async with env.kit.db.transaction() as session:
        much_later = datetime.now(UTC) + timedelta(days=401)
        assert await backoffice.apply_retention(session, at(env.deps, much_later)) == (0, 1)
    assert await rows(env) == []


async def test_a_batch_is_sent_in_one_pass(env: Env) -> None:
    addresses = sorted(unique_email() for _ in range(3))
    for address in addresses:
        await submit(env, confirmation_request(to=RecipientV1(email=address)))
    assert await env.sender.run_once() == 3
    assert sorted(m["To"] for m in env.mailer.sent) == addresses
    assert {n.status for n in await rows(env)} == {"sent"}


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        # The position this log handed out before it paged with servicekit's Keyset.
        encode_cursor({"t": "2026-11-01T09:00:00+00:00", "id": str(uuid.uuid4())}),
        encode_cursor({"k": ["2026-11-01T09:00:00+00:00", "not-a-uuid"]}),
    ],
)
async def test_a_cursor_the_log_did_not_make_is_a_400(env: Env, cursor: str) -> None:
    operator = env.tokens.headers(uuid.uuid4(), kind="operator")
    resp = await env.client.get(
        "/v1/operator/notifications", params={"cursor": cursor}, headers=operator
    )
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["type"].endswith("invalid-cursor")


class SlowMailer(FakeMailer):
    """Accepts a message only when the test lets it: a send in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.go_on = asyncio.Event()

    async def send(self, message: Any) -> str:
        self.started.set()
        await self.go_on.wait()
        return await super().send(message)


async def test_an_instance_whose_clock_runs_two_minutes_ahead_sends_nothing_twice(
    env: Env,
) -> None:
    await submit(env, confirmation_request())
    slow = SlowMailer()
    sending = Sender(env.kit.db, replace(env.deps, mailer=slow))
    in_flight = asyncio.create_task(sending.run_once())
    await asyncio.wait_for(slow.started.wait(), timeout=10)
    assert [n.status for n in await rows(env)] == ["sending"]

    # Another instance, its clock two minutes ahead: past the claim's lease by its clock.
    ahead = datetime.now(UTC) + timedelta(minutes=2)
    other = Sender(env.kit.db, at(env.deps, ahead))
    assert env.deps.settings.sending_lease_s <= 120
    assert await other.run_once() == 0  # the lease runs on the database's clock

    slow.go_on.set()
    assert await in_flight == 1
    assert len(slow.sent) == 1 and env.mailer.sent == []
    assert [n.status for n in await rows(env)] == ["sent"]


async def test_a_request_recorded_by_an_instance_two_minutes_ahead_is_sent_at_once(
    env: Env,
) -> None:
    """Due times are set by the database's clock too: a request recorded by an instance
    whose clock runs ahead is not held back until the database's clock catches up."""
    payload = confirmation_request()
    event = new_event(payload, source="/services/test")
    ahead = at(env.deps, datetime.now(UTC) + timedelta(minutes=2))
    async with env.kit.db.transaction() as session:
        await service.request_notification(session, ahead, event, payload)
    assert await env.sender.run_once() == 1
    assert len(env.mailer.sent) == 1


async def _abandon_mid_send(env: Env, attempts: int) -> None:
    """As if the sending process died mid-send on each of ``attempts`` claims."""
    async with env.kit.db.transaction() as session:
        await session.execute(
            update(Notification).values(
                status="sending",
                attempts=attempts,
                claimed_at=datetime.now(UTC) - timedelta(days=1),
            )
        )


async def test_a_message_abandoned_mid_send_is_sent_again_with_the_same_message_id(
    env: Env,
) -> None:
    await submit(env, confirmation_request())
    await _abandon_mid_send(env, attempts=1)
    assert await env.sender.run_once() == 1
    [n] = await rows(env)
    assert n.status == "sent" and n.attempts == 2 and len(env.mailer.sent) == 1


async def test_a_message_that_kills_the_sender_every_time_is_given_up(env: Env) -> None:
    await submit(env, confirmation_request())
    await _abandon_mid_send(env, attempts=env.deps.settings.max_attempts)
    assert await env.sender.run_once() == 0
    [n] = await rows(env)
    assert n.status == "failed" and "interrupted while sending" in (n.last_error or "")
    assert env.mailer.sent == []


async def test_a_mail_server_outage_uses_up_no_attempts_and_opens_the_circuit(env: Env) -> None:
    await submit(env, confirmation_request())
    env.mailer.failures = [outage("smtp unreachable: ConnectionRefusedError")] * 10
    breaker = env.sender.breakers["email"]
    for _ in range(env.deps.settings.breaker_failures):
        assert await env.sender.run_once() == 1
    [n] = await rows(env)
    # Three failed tries against a server that is down: none counted against the message,
    # although max_attempts is 3.
    assert n.status == "pending" and n.attempts == 0
    assert breaker.is_open()
    assert await env.sender.run_once() == 0  # nothing is claimed while the circuit is open

    env.mailer.failures = []
    breaker.open_until = 0.0  # the open period has run out
    assert await env.sender.run_once() == 1
    [n] = await rows(env)
    assert n.status == "sent" and n.attempts == 1 and len(env.mailer.sent) == 1
    assert not breaker.is_open() and breaker.opened == 0


async def test_billing_unavailable_for_the_pdf_uses_up_no_attempts_and_keeps_mail_flowing(
    env: Env,
) -> None:
    """While billing restarts, invoice mails wait without spending their attempts; other
    mails go out (the e-mail channel's breaker is for the mail server only)."""

    class DownPdfs:
        async def invoice_pdf(self, invoice_id: uuid.UUID) -> bytes:
            raise dependency_down("billing unreachable: ConnectError")

    env.sender.deps = replace(env.deps, pdfs=DownPdfs())
    await submit(env, invoice_mail_request(uuid.uuid4()))
    for _ in range(env.deps.settings.max_attempts + 2):  # more tries than attempts allowed
        assert await env.sender.run_once() == 1
    [n] = await rows(env)
    assert n.status == "pending" and n.attempts == 0
    assert "billing unreachable" in (n.last_error or "")
    assert not env.sender.breakers["email"].is_open()

    await submit(env, confirmation_request())
    await env.sender.run_once()
    assert len(env.mailer.sent) == 1  # the confirmation mail went out meanwhile

    env.sender.deps = env.deps  # billing is back
    await env.sender.run_once()
    invoice = next(n for n in await rows(env) if n.template == "invoice_available")
    assert invoice.status == "sent" and invoice.attempts == 1 and len(env.mailer.sent) == 2


def test_our_own_smtp_configuration_errors_are_outages_not_the_recipients_fault() -> None:
    import aiosmtplib

    from notifier.delivery import classify_smtp_error

    refused_login = classify_smtp_error(aiosmtplib.SMTPAuthenticationError(535, "bad login"))
    assert refused_login.outage and refused_login.transient
    unknown_mailbox = classify_smtp_error(
        aiosmtplib.SMTPRecipientsRefused(
            [aiosmtplib.SMTPRecipientRefused(550, "no such user", "x@example.be")]
        )
    )
    assert not unknown_mailbox.outage and not unknown_mailbox.transient


async def test_operators_resend_what_failed_in_a_time_range_once(env: Env) -> None:
    operator = env.tokens.headers(uuid.uuid4(), kind="operator")
    before = datetime.now(UTC) - timedelta(minutes=1)
    for _ in range(3):
        await submit(env, confirmation_request())
    env.mailer.failures = [permanent("550 mailbox unavailable")] * 2
    assert await env.sender.run_once() == 3
    assert sorted(n.status for n in await rows(env)) == ["failed", "failed", "sent"]
    ask = {"failed_since": before.isoformat(), "channel": "email"}

    resp = await env.client.post(
        "/v1/operator/notifications/resend-failed", json=ask, headers=operator
    )
    assert resp.status_code == 202, resp.text
    assert len(resp.json()["resent"]) == 2 and resp.json()["skipped"] == 0
    assert await env.sender.run_once() == 2
    assert len(env.mailer.sent) == 3  # the one sent at first, and the two resent

    again = await env.client.post(
        "/v1/operator/notifications/resend-failed", json=ask, headers=operator
    )
    assert again.json() == {"resent": [], "skipped": 2}  # each original is resent once
    user = env.tokens.headers(uuid.uuid4(), kind="user", customer_id=uuid.uuid4())
    refused = await env.client.post(
        "/v1/operator/notifications/resend-failed", json=ask, headers=user
    )
    assert refused.status_code == 403
