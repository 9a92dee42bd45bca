"""The bank-app (Zoomit) adapter at the edge of this service.

In production this would call the bank network's API. Here it is a fake that records
what it was asked in the log; the bank's answer to an invitation comes back on the
signed callback route. The IBAN never goes to the log.
"""

from __future__ import annotations

import logging
import uuid
from typing import Protocol

log = logging.getLogger(__name__)


class BankAdapter(Protocol):
    async def invite(self, *, billing_account_id: uuid.UUID, reference: str) -> None: ...

    async def deliver(
        self, *, billing_account_id: uuid.UUID, reference: str, invoice_id: uuid.UUID
    ) -> None:
        """Hand one invoice to the bank network. May be called more than once for one
        invoice (a crash before the outcome was recorded); ``invoice_id`` is the key by
        which the bank de-duplicates."""
        ...


class FakeBankAdapter:
    def __init__(self) -> None:
        self.invitations: list[tuple[uuid.UUID, str]] = []
        self.deliveries: list[tuple[uuid.UUID, str, uuid.UUID]] = []
        # Tests make the next deliveries fail, as a bank network that is down would.
        self.failures = 0

    async def invite(self, *, billing_account_id: uuid.UUID, reference: str) -> None:
        self.invitations.append((billing_account_id, reference))
        log.info(
            "bank app invitation handed to the bank adapter",
            extra={"billing_account_id": str(billing_account_id), "reference": reference},
        )

    async def deliver(
        self, *, billing_account_id: uuid.UUID, reference: str, invoice_id: uuid.UUID
    ) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("the bank network is unavailable")
        self.deliveries.append((billing_account_id, reference, invoice_id))
        log.info(
            "invoice handed to the bank adapter",
            extra={
                "billing_account_id": str(billing_account_id),
                "reference": reference,
                "invoice_id": str(invoice_id),
            },
        )
