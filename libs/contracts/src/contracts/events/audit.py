"""The audit trail of rights [14.2]: every grant, revocation, approval and refusal,
invitation, removal, notice and data export, recorded by the service where it happens.

Public event: it names people by id only (never an e-mail, a name or a phone number) and
carries no secret. Identity keeps one append-only, hash-chained trail per customer from it.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, StringConstraints, field_validator

from contracts.base import EventPayload
from contracts.types import PayloadPart


class AuditAction(StrEnum):
    """The closed vocabulary of what the trail records (a new value is a new release)."""

    ASSIGNMENT_GRANTED = "assignment.granted"
    ASSIGNMENT_REVOKED = "assignment.revoked"
    THIRD_PARTY_REQUESTED = "third_party.requested"
    THIRD_PARTY_APPROVED = "third_party.approved"
    THIRD_PARTY_REFUSED = "third_party.refused"
    REGISTRATION_ACCEPTED = "registration.accepted"
    USER_INVITED = "user.invited"
    USER_REMOVED = "user.removed"
    NOTICE_GIVEN = "termination.requested"
    NOTICE_WITHDRAWN = "termination.withdrawn"
    CUSTOMER_TERMINATED = "customer.terminated"
    DATA_EXPORTED = "data.exported"


AUDIT_SOURCES: tuple[str, ...] = ("identity", "delegation", "billing", "fleet", "einvoice")
"""Services that record audit events."""

ActorKind = Literal["user", "operator", "service", "system"]

MAX_DETAILS_BYTES = 2048
_KEY = r"^[a-z][a-z0-9_]{0,39}$"
# Words a detail key must not contain: the trail is read by the customer's access owner
# and kept for years, so it names people by id and never carries a secret.
FORBIDDEN_DETAIL_WORDS: tuple[str, ...] = (
    "email",
    "mail",
    "password",
    "secret",
    "token",
    "link",
    "phone",
    "mobile",
    "name",
    "address",
    "iban",
)

DetailKey = Annotated[str, StringConstraints(pattern=_KEY)]
DetailValue = str | int | bool | None | list[str]
TargetId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class AuditActorV1(PayloadPart):
    """Who did it: a user (by id), operator staff (by user id), a service (by client id)
    or the system itself (a scheduled job; no id). Never an e-mail address."""

    kind: ActorKind
    id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")


class AuditRecordedV1(EventPayload):
    """One audited change of rights or access to data, published from the transaction
    that made it (outbox). ``audit_id`` makes redelivery harmless."""

    event_type: ClassVar[str] = "audit.recorded"
    version: ClassVar[int] = 1

    audit_id: UUID
    customer_id: UUID = Field(description="The customer whose trail records it.")
    source: Literal["identity", "delegation", "billing", "fleet", "einvoice"]
    actor: AuditActorV1
    action: AuditAction
    target: dict[DetailKey, TargetId] = Field(
        default_factory=dict,
        max_length=8,
        description='Ids of what was acted on, e.g. {"user_id": ..., "assignment_id": ...}.',
    )
    details: dict[DetailKey, DetailValue] = Field(
        default_factory=dict,
        description="A few facts without personal data or secrets (at most 2 kB as JSON).",
    )
    occurred_at: AwareDatetime

    @field_validator("details")
    @classmethod
    def _small_and_impersonal(cls, value: dict[str, DetailValue]) -> dict[str, DetailValue]:
        for key in value:
            if any(word in key for word in FORBIDDEN_DETAIL_WORDS):
                raise ValueError(f"detail {key!r} may carry personal data or a secret")
        if len(json.dumps(value, separators=(",", ":"))) > MAX_DETAILS_BYTES:
            raise ValueError(f"details exceed {MAX_DETAILS_BYTES} bytes")
        return value

    @field_validator("target")
    @classmethod
    def _ids_only(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not re.fullmatch(r"[a-z_]+_id|kid", key):
                raise ValueError(f"target key {key!r} must name an id (end in _id)")
        return value

    def subject(self) -> str:
        return str(self.audit_id)
