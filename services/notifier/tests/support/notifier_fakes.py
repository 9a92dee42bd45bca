"""The notifier's edges in unit tests: the mail server, the SMS gateway, billing's PDFs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage

from notifier.domain import DeliveryError


@dataclass
class FakeMailer:
    sent: list[EmailMessage] = field(default_factory=list)
    failures: list[DeliveryError] = field(default_factory=list)

    async def send(self, message: EmailMessage) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return "250 queued as Q1"


@dataclass
class FakeSms:
    sent: list[dict[str, str]] = field(default_factory=list)
    failures: list[DeliveryError] = field(default_factory=list)

    async def send(self, *, to: str, text: str, idempotency_key: str) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append({"to": to, "text": text, "key": idempotency_key})
        return f"sms-{len(self.sent)}"


class FakePdfs:
    async def invoice_pdf(self, invoice_id: uuid.UUID) -> bytes:
        return b"%PDF-1.4 " + str(invoice_id).encode()
