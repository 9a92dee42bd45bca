"""The edges of the notifier: the SMTP server, the SMS gateway and billing's PDFs.

Each adapter turns what went wrong into a ``DeliveryError`` that says whether trying
again can help (transient) or not (permanent). Nothing here logs an address or a body.
"""

from __future__ import annotations

import email.utils
from collections.abc import Awaitable, Callable, Sequence
from email.message import EmailMessage
from typing import Any, Protocol
from uuid import UUID

import aiosmtplib
import httpx

from notifier.domain import (
    DeliveryError,
    classify_http_status,
    classify_smtp_code,
    dependency_down,
    outage,
    permanent,
    transient,
)
from notifier.settings import NotifierSettings
from notifier.templates import RenderedEmail

PDF = "application/pdf"


# -- e-mail --------------------------------------------------------------------------------


def message_id(notification_id: UUID, domain: str) -> str:
    """Deterministic: a message sent again after a crash carries the same Message-ID, so
    receiving systems that de-duplicate on it show it once."""
    return f"<{notification_id}@{domain}>"


def build_email(
    *,
    notification_id: UUID,
    mail_from: str,
    to: str,
    rendered: RenderedEmail,
    locale: str,
    domain: str,
    attachments: Sequence[tuple[str, bytes]] = (),
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = to
    msg["Subject"] = rendered.subject
    msg["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id(notification_id, domain)
    msg["Content-Language"] = locale
    # Tells auto-responders (out of office) not to answer a no-reply sender.
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(rendered.text, charset="utf-8")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    for filename, content in attachments:
        msg.add_attachment(content, maintype="application", subtype="pdf", filename=filename)
    return msg


def classify_smtp_error(exc: BaseException) -> DeliveryError:
    """SMTP failures: no connection or a 4xx reply is worth retrying; a 5xx about the
    recipient or the message itself is final. Authentication and sender problems are our
    own configuration, not the message's fault: retried, so fixing the settings is enough.
    """
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients] or [-1]
        reason = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        if all(not classify_smtp_code(code) for code in codes):
            return permanent(f"smtp recipient refused: {reason}")
        return transient(f"smtp recipient deferred: {reason}")
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError | aiosmtplib.SMTPSenderRefused):
        return outage(f"smtp {exc.code} {exc.message} (check the SMTP settings)")
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPTimeoutError):
        return outage(f"smtp unreachable: {type(exc).__name__}")
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return outage("smtp server disconnected")
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code == 421:
        # "Service not available": the server itself, not this message.
        return outage(f"smtp {exc.code} {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        reason = f"smtp {exc.code} {exc.message}"
        return transient(reason) if classify_smtp_code(exc.code) else permanent(reason)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return outage(f"smtp: {exc} (check the SMTP settings)")
    if isinstance(exc, OSError | TimeoutError):
        return outage(f"smtp unreachable: {type(exc).__name__}")
    return transient(f"smtp error: {type(exc).__name__}")


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> str:
        """Hand the message to the mail server; returns its reply (e.g. a queue id)."""
        ...


class SmtpMailer:
    def __init__(self, settings: NotifierSettings) -> None:
        self.s = settings

    async def send(self, message: EmailMessage) -> str:
        s = self.s
        try:
            _refused, reply = await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username or None,
                password=s.smtp_password or None,
                start_tls=s.smtp_starttls,
                timeout=s.smtp_timeout_s,
            )
        except Exception as exc:
            raise classify_smtp_error(exc) from None
        return reply[:200]


# -- SMS -----------------------------------------------------------------------------------


class SmsGateway(Protocol):
    async def send(self, *, to: str, text: str, idempotency_key: str) -> str:
        """Submit one SMS; returns the gateway's message id."""
        ...


class HttpSmsGateway:
    """POST {to, text} with an Idempotency-Key, so a gateway that honours it delivers a
    message we submit twice (crash after its 2xx, before our commit) only once."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self.url = url
        self.client = client

    async def send(self, *, to: str, text: str, idempotency_key: str) -> str:
        try:
            resp = await self.client.post(
                self.url,
                json={"to": to, "text": text},
                headers={"Idempotency-Key": idempotency_key},
            )
        except httpx.TimeoutException:
            raise outage("sms gateway timed out") from None
        except httpx.HTTPError as exc:
            raise outage(f"sms gateway unreachable: {type(exc).__name__}") from None
        outcome = classify_http_status(resp.status_code)
        if outcome == "ok":
            return _gateway_id(resp)
        reason = f"sms gateway answered {resp.status_code}"
        if resp.status_code in (401, 403) or resp.status_code >= 500:
            raise outage(reason)  # our credentials, or the gateway itself
        raise transient(reason) if outcome == "transient" else permanent(reason)


def _gateway_id(resp: httpx.Response) -> str:
    try:
        body: Any = resp.json()
    except ValueError:
        return ""
    return str(body.get("id", ""))[:200] if isinstance(body, dict) else ""


# -- invoice PDFs --------------------------------------------------------------------------


class PdfSource(Protocol):
    async def invoice_pdf(self, invoice_id: UUID) -> bytes: ...


TokenSource = Callable[[], Awaitable[str]]


class BillingPdfSource:
    """``GET /v1/invoices/{id}/pdf`` at billing with this service's own token."""

    def __init__(
        self, client: httpx.AsyncClient, token: TokenSource, invalidate: Callable[[], None]
    ) -> None:
        self.client = client
        self.token = token
        self.invalidate = invalidate

    async def invoice_pdf(self, invoice_id: UUID) -> bytes:
        try:
            token = await self.token()
        except Exception as exc:  # identity down: ServiceUnavailable, httpx errors
            raise dependency_down(f"no service token for billing: {type(exc).__name__}") from None
        try:
            resp = await self.client.get(
                f"/v1/invoices/{invoice_id}/pdf",
                headers={"Authorization": f"Bearer {token}", "Accept": PDF},
            )
        except httpx.HTTPError as exc:
            raise dependency_down(f"billing unreachable: {type(exc).__name__}") from None
        if resp.status_code == 200:
            if not resp.content.startswith(b"%PDF"):
                raise transient("billing returned something that is not a PDF")
            return resp.content
        if resp.status_code == 401:
            self.invalidate()  # perhaps an expired or rotated token: fetch a new one
        if resp.status_code >= 500:  # billing restarting, its database down, overloaded
            raise dependency_down(f"billing answered {resp.status_code} for the invoice PDF")
        # 404 is retried too: the PDF may simply not be rendered yet; attempts are bounded.
        if resp.status_code in (401, 403, 404):
            raise transient(f"billing answered {resp.status_code} for the invoice PDF")
        raise permanent(f"billing answered {resp.status_code} for the invoice PDF")
