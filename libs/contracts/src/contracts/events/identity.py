"""Events published by identity: customers and users.

Public events: no passwords, tokens or links. ``user.created`` does carry the user's
e-mail, mobile and language because the notifier keeps its recipient directory from it.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from contracts.base import EventPayload
from contracts.types import E164, Email, EnterpriseNumber, Locale, PayloadPart, Profile

ContractKind = Literal["employee", "civil_servant", "management", "third_party"]

DEACTIVATION_REASONS: tuple[str, ...] = (
    "removed",
    "contract_ended",
    "inactive",
    "customer_terminated",
)
"""Values of ``UserDeactivatedV1.reason`` known today. Consumers must accept others."""


class PostalAddressV1(PayloadPart):
    """The customer's registered address, as given on the registration form."""

    street: str = Field(min_length=1)
    number: str | None = None
    postal_code: str = Field(min_length=1)
    city: str = Field(min_length=1)
    country: str = Field(default="BE", pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2.")


class CustomerRegisteredV1(EventPayload):
    """A customer's registration was accepted by operator staff: the agreement starts."""

    event_type: ClassVar[str] = "customer.registered"
    version: ClassVar[int] = 1

    customer_id: UUID
    enterprise_number: EnterpriseNumber
    company_name: str = Field(min_length=1)
    affiliates: list[EnterpriseNumber] = Field(
        default_factory=list,
        description="Enterprise numbers of the affiliated companies listed at registration. "
        "A listed number confers nothing by itself [9.1]: only confirmed_affiliates do.",
    )
    confirmed_affiliates: list[UUID] = Field(
        default_factory=list,
        description="Customers the operator confirmed, when accepting, as affiliates of this "
        "one: its access owner is access owner of these too. Never created implicitly.",
    )
    registrant_user_id: UUID = Field(description="The person who registered the customer.")
    wants_access_owner: bool = Field(
        description="False when the form said 'no access owner': the registrant then becomes "
        "access manager instead of access owner."
    )
    accepted_at: AwareDatetime
    address: PostalAddressV1 | None = Field(
        default=None,
        description="The registered address (invoices print it). Absent from producers older "
        "than this field.",
    )
    language: Locale | None = Field(
        default=None,
        description="The customer's language for documents such as invoices: the registrant's "
        "locale. Absent from producers older than this field.",
    )

    def subject(self) -> str:
        return str(self.customer_id)


class ContractV1(PayloadPart):
    """The user's contract with the customer; decides whether rights may be given."""

    kind: ContractKind
    ends_on: date | None = Field(
        default=None, description="Last day of the contract; null = open-ended."
    )


class UserCreatedV1(EventPayload):
    """A user was created (invited, or the registrant on acceptance); not yet confirmed."""

    event_type: ClassVar[str] = "user.created"
    version: ClassVar[int] = 1

    user_id: UUID
    customer_id: UUID
    email: Email = Field(description="Login e-mail; the notifier's recipient address.")
    first_name: str
    last_name: str
    locale: Locale
    mobile: E164 | None = None
    profile: Profile
    subprofiles: list[str] = Field(
        default_factory=list, description="Open set, e.g. purchaser, financial-manager."
    )
    contract: ContractV1
    registrant: bool = Field(description="True for the person who registered the customer.")
    invited_by: UUID | None = Field(
        default=None, description="User who invited this user; null for the registrant."
    )
    created_at: AwareDatetime

    def subject(self) -> str:
        return str(self.user_id)


class UserDeactivatedV1(EventPayload):
    """A user was deactivated: every right of theirs goes, they can no longer log in."""

    event_type: ClassVar[str] = "user.deactivated"
    version: ClassVar[int] = 1

    user_id: UUID
    customer_id: UUID
    reason: str = Field(
        min_length=1,
        description="Why; known values: "
        + ", ".join(DEACTIVATION_REASONS)
        + ". Consumers must accept values they do not know.",
        examples=list(DEACTIVATION_REASONS),
    )
    deactivated_at: AwareDatetime

    def subject(self) -> str:
        return str(self.user_id)


class CustomerTerminatedV1(EventPayload):
    """A customer's agreement ended: published when the termination takes effect.

    From now on the customer's accounts and applications are deactivated and its data is
    no longer available; every service stops serving it.
    """

    event_type: ClassVar[str] = "customer.terminated"
    version: ClassVar[int] = 1

    customer_id: UUID
    by: Literal["customer", "operator"] = Field(description="Who gave notice.")
    reason: str | None = Field(
        default=None,
        description="Free reason code, e.g. 'requested' or 'no_active_contract'.",
    )
    requested_at: AwareDatetime | None = Field(
        default=None, description="When notice was given, if it was."
    )
    effective_on: date = Field(description="The day the agreement ended.")
    terminated_at: AwareDatetime = Field(description="When the termination took effect.")

    def subject(self) -> str:
        return str(self.customer_id)
