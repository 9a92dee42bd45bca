"""Identity's public event payloads, built from its rows."""

from __future__ import annotations

import uuid
from datetime import datetime

from contracts.events.identity import (
    ContractV1,
    CustomerRegisteredV1,
    CustomerTerminatedV1,
    PostalAddressV1,
    UserCreatedV1,
    UserDeactivatedV1,
)
from identity.models import Customer, Termination, User

# ``CustomerTerminatedV1.reason`` per notice giver.
TERMINATION_REASONS = {"customer": "requested", "operator": "operator_notice"}


def customer_registered(customer: Customer, user: User, now: datetime) -> CustomerRegisteredV1:
    return CustomerRegisteredV1(
        customer_id=customer.id,
        enterprise_number=customer.enterprise_number,
        company_name=customer.company_name,
        affiliates=list(customer.affiliates),
        confirmed_affiliates=[uuid.UUID(c) for c in customer.confirmed_affiliates or []],
        registrant_user_id=user.id,
        wants_access_owner=customer.wants_access_owner,
        accepted_at=now,
        # Billing prints these on the customer's invoices (Belgian VAT Code art. 53).
        address=PostalAddressV1.model_validate(customer.address) if customer.address else None,
        language=user.locale,
    )


def user_created(user: User, now: datetime) -> UserCreatedV1:
    assert user.customer_id is not None and user.profile is not None
    return UserCreatedV1(
        user_id=user.id,
        customer_id=user.customer_id,
        email=user.email,
        first_name=user.first_name,
        last_name=user.last_name,
        locale=user.locale,  # type: ignore[arg-type]  # a Locale, validated on input
        mobile=user.mobile,
        profile=user.profile,  # type: ignore[arg-type]  # a Profile, validated on input
        subprofiles=list(user.subprofiles or []),
        contract=ContractV1(
            # Only operator staff have no contract kind, and they are not customers' users.
            kind=user.contract_kind or "management",  # type: ignore[arg-type]  # a ContractKind
            ends_on=user.contract_ends_on,
        ),
        registrant=user.registrant,
        invited_by=user.invited_by,
        created_at=now,
    )


def user_deactivated(user: User, reason: str, now: datetime) -> UserDeactivatedV1:
    assert user.customer_id is not None
    return UserDeactivatedV1(
        user_id=user.id, customer_id=user.customer_id, reason=reason, deactivated_at=now
    )


def customer_terminated(termination: Termination, now: datetime) -> CustomerTerminatedV1:
    return CustomerTerminatedV1(
        customer_id=termination.customer_id,
        by=termination.by,
        reason=TERMINATION_REASONS.get(termination.by),
        requested_at=termination.requested_at,
        effective_on=termination.effective_on,
        terminated_at=now,
    )
