"""The Peppol access point at the edge of this service.

In production this is the operator's Peppol access point (AS4): it looks the receiver up
in the SML/SMP and sends the document. Here it is an interface and a recording fake. The
receiver is read from the document itself (the customer party's EndpointID, scheme 0208 =
Belgian enterprise number), so einvoice keeps no copy of enterprise numbers.
"""

from __future__ import annotations

import logging
import uuid
from typing import Protocol
from xml.etree import ElementTree as ET

log = logging.getLogger(__name__)

_CAC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2}"
_CBC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"
PEPPOL_BIS_BILLING = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"


class NotAPeppolDocument(ValueError):
    pass


def participants(document: bytes) -> tuple[str, str]:
    """``(sender, receiver)`` as Peppol participant ids ``<scheme>:<id>``."""
    try:
        # Billing's own document, fetched with this service's token: not untrusted input.
        root = ET.fromstring(document)  # noqa: S314
    except ET.ParseError as exc:
        raise NotAPeppolDocument(f"not XML: {exc}") from None
    found = []
    for role in ("AccountingSupplierParty", "AccountingCustomerParty"):
        endpoint = root.find(f"{_CAC}{role}/{_CAC}Party/{_CBC}EndpointID")
        if endpoint is None or not endpoint.text or not endpoint.get("schemeID"):
            raise NotAPeppolDocument(f"no {role} EndpointID")
        found.append(f"{endpoint.get('schemeID')}:{endpoint.text.strip()}")
    return found[0], found[1]


class AccessPoint(Protocol):
    async def send(
        self, *, invoice_id: uuid.UUID, sender: str, receiver: str, document: bytes
    ) -> None:
        """Send one document. May be called more than once for one invoice (a crash
        before the outcome was recorded); ``invoice_id`` is the de-duplication key."""
        ...


class FakeAccessPoint:
    """Records what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[uuid.UUID, str, str, bytes]] = []
        # Tests make the next sends fail, as an unreachable access point would.
        self.failures = 0

    async def send(
        self, *, invoice_id: uuid.UUID, sender: str, receiver: str, document: bytes
    ) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("the access point is unavailable")
        self.sent.append((invoice_id, sender, receiver, document))
        log.info(
            "invoice handed to the Peppol access point",
            extra={"invoice_id": str(invoice_id), "receiver": receiver},
        )
