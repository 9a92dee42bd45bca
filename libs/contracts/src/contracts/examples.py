"""One valid, realistic example per payload version.

Used as ``examples`` in the exported JSON Schemas and handy as test data in services
(``example(InvoiceClosedV1).model_copy(update={...})``). Fictitious data only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TypeVar
from uuid import UUID

from contracts.base import EventPayload, registered_payloads
from contracts.events import (
    AttachmentRefV1,
    AuditAction,
    AuditActorV1,
    AuditRecordedV1,
    CataloguePublishedV1,
    ContractV1,
    CustomerRegisteredV1,
    CustomerTerminatedV1,
    DelegationChangedV1,
    EinvoiceChannelChangedV1,
    FleetManagerChangedV1,
    InvoiceClosedV1,
    InvoiceObjectedV1,
    InvoiceTotalsV1,
    NotificationFailedV1,
    NotificationRequestedV1,
    NotificationSentV1,
    OptionV1,
    PostalAddressV1,
    RatedUsageV2,
    RecipientV1,
    ScopeV1,
    SimChangedV1,
    TariffPlanV1,
    UsageRatedV1,
    UsageRatedV2,
    UsageRecordV1,
    UserCreatedV1,
    UserDeactivatedV1,
    ZonePricesV1,
)

P = TypeVar("P", bound=EventPayload)

CUSTOMER_ID = UUID("6f1c2a8e-3b4d-4c5e-9f60-7a8b9c0d1e2f")
USER_ID = UUID("0b6e4f3a-2c1d-4e5f-8a9b-c0d1e2f3a4b5")
OTHER_USER_ID = UUID("5d7e9f1a-3b5c-4d7e-9f1a-3b5c7d9e1f3a")
BILLING_ACCOUNT_ID = UUID("2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d")
INVOICE_ID = UUID("9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b")
SIM_ID = UUID("4c5d6e7f-8a9b-4c0d-9e1f-2a3b4c5d6e7f")
ASSIGNMENT_ID = UUID("7f8e9d0c-1b2a-4f3e-8d4c-5b6a7f8e9d0c")
REQUEST_ID = UUID("3e4f5a6b-7c8d-4e9f-8a0b-1c2d3e4f5a6b")
NOTIFICATION_ID = UUID("8b9c0d1e-2f3a-4b4c-9d5e-6f7a8b9c0d1e")
AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)

_EXAMPLES: list[EventPayload] = [
    CustomerRegisteredV1(
        customer_id=CUSTOMER_ID,
        enterprise_number="0123456749",
        company_name="Brouwerij Voorbeeld NV",
        affiliates=["0987654394"],
        registrant_user_id=USER_ID,
        wants_access_owner=True,
        accepted_at=AT,
        address=PostalAddressV1(
            street="Grote Markt", number="1", postal_code="1000", city="Brussel"
        ),
        language="nl",
    ),
    UserCreatedV1(
        user_id=USER_ID,
        customer_id=CUSTOMER_ID,
        email="an.peeters@example.be",
        first_name="An",
        last_name="Peeters",
        locale="nl",
        mobile="+32470123456",
        profile="portal_user",
        subprofiles=["financial-manager"],
        contract=ContractV1(kind="employee", ends_on=None),
        registrant=False,
        invited_by=OTHER_USER_ID,
        created_at=AT,
    ),
    UserDeactivatedV1(
        user_id=USER_ID,
        customer_id=CUSTOMER_ID,
        reason="contract_ended",
        deactivated_at=AT,
    ),
    CustomerTerminatedV1(
        customer_id=CUSTOMER_ID,
        by="customer",
        reason="requested",
        requested_at=datetime(2026, 10, 18, 14, 0, tzinfo=UTC),
        effective_on=date(2026, 11, 2),
        terminated_at=AT,
    ),
    NotificationRequestedV1(
        request_id=REQUEST_ID,
        customer_id=CUSTOMER_ID,
        channel="email",
        template="invoice_available",
        locale="fr",
        to=RecipientV1(email="factures@example.be"),
        params={
            "invoice_number": "F2026-000123",
            "period": "2026-10",
            "total_incl_vat": "121.00",
            "due_date": "2026-11-30",
        },
        attachments=[AttachmentRefV1(kind="invoice_pdf", invoice_id=INVOICE_ID)],
    ),
    NotificationSentV1(
        notification_id=NOTIFICATION_ID,
        request_id=REQUEST_ID,
        customer_id=CUSTOMER_ID,
        channel="email",
        template="invoice_available",
        attempts=1,
        sent_at=AT,
    ),
    NotificationFailedV1(
        notification_id=NOTIFICATION_ID,
        request_id=REQUEST_ID,
        customer_id=CUSTOMER_ID,
        channel="sms",
        template="invoice_available",
        attempts=5,
        error="sms gateway: 503 after 5 attempts",
        failed_at=AT,
    ),
    DelegationChangedV1(
        customer_id=CUSTOMER_ID,
        user_id=USER_ID,
        assignment_id=ASSIGNMENT_ID,
        change="granted",
        profile="portal_user",
        subprofiles=["financial-manager"],
        scope=ScopeV1(
            applications=["my-invoice-online", "invoice-insights"],
            billing_accounts=[BILLING_ACCOUNT_ID],
            sims=None,
        ),
        permissions=["read"],
        changed_by=OTHER_USER_ID,
        changed_at=AT,
    ),
    AuditRecordedV1(
        audit_id=UUID("3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7"),
        customer_id=CUSTOMER_ID,
        source="delegation",
        actor=AuditActorV1(kind="user", id=str(OTHER_USER_ID)),
        action=AuditAction.ASSIGNMENT_GRANTED,
        target={"assignment_id": str(ASSIGNMENT_ID), "user_id": str(USER_ID)},
        details={
            "profile": "portal_user",
            "permissions": ["read"],
            "applications": ["my-invoice-online"],
            "billing_accounts": 1,
            "sims": None,
        },
        occurred_at=AT,
    ),
    InvoiceClosedV1(
        invoice_id=INVOICE_ID,
        number="F2026-000123",
        customer_id=CUSTOMER_ID,
        billing_account_id=BILLING_ACCOUNT_ID,
        billing_account_kind="mobile",
        period="2026-10",
        issued_at=AT,
        due_date=date(2026, 11, 30),
        objection_deadline=date(2026, 11, 9),
        totals=InvoiceTotalsV1(
            total_excl_vat=Decimal("100.00"),
            vat=Decimal("21.00"),
            total_incl_vat=Decimal("121.00"),
        ),
    ),
    InvoiceObjectedV1(
        objection_id=UUID("3e4f5a6b-7c8d-4e9f-8a0b-1c2d3e4f5a6b"),
        invoice_id=INVOICE_ID,
        number="F2026-000123",
        customer_id=CUSTOMER_ID,
        billing_account_id=BILLING_ACCOUNT_ID,
        objected_at=AT,
        objection_deadline=date(2026, 11, 9),
    ),
    UsageRatedV1(
        record_id="cdr-20261015-000042",
        customer_id=CUSTOMER_ID,
        billing_account_id=BILLING_ACCOUNT_ID,
        sim_id=SIM_ID,
        line="+32470123456",
        kind="voice",
        started_at=datetime(2026, 10, 15, 8, 12, 5, tzinfo=UTC),
        quantity=184,
        amount=Decimal("0.3680"),
        period="2026-10",
    ),
    UsageRatedV2(
        batch_id=UUID("6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"),
        records=[
            RatedUsageV2(
                record_id="cdr-20261015-000042",
                customer_id=CUSTOMER_ID,
                billing_account_id=BILLING_ACCOUNT_ID,
                sim_id=SIM_ID,
                line="+32470123456",
                kind="voice",
                started_at=datetime(2026, 10, 15, 8, 12, 5, tzinfo=UTC),
                quantity=184,
                amount=Decimal("0.3680"),
                period="2026-10",
            ),
            RatedUsageV2(
                record_id="cdr-20261015-000043",
                customer_id=CUSTOMER_ID,
                billing_account_id=BILLING_ACCOUNT_ID,
                sim_id=SIM_ID,
                line="+32470123456",
                kind="data",
                started_at=datetime(2026, 10, 15, 8, 30, 0, tzinfo=UTC),
                quantity=52_428_800,
                amount=Decimal("0.5000"),
                period="2026-10",
            ),
        ],
    ),
    UsageRecordV1(
        record_id="cdr-20261015-000042",
        billing_account_id=BILLING_ACCOUNT_ID,
        line="+32470123456",
        kind="voice",
        destination="+3225551234",
        started_at=datetime(2026, 10, 15, 8, 12, 5, tzinfo=UTC),
        duration_s=184,
    ),
    SimChangedV1(
        sim_id=SIM_ID,
        customer_id=CUSTOMER_ID,
        billing_account_id=BILLING_ACCOUNT_ID,
        msisdn="+32470123456",
        change="tariff_plan_changed",
        tariff_plan="MOBILE_L",
        options=["ROAMING_EU_5GB"],
        end_user_id=USER_ID,
        previous={"tariff_plan": "MOBILE_M"},
        requested_by=OTHER_USER_ID,
        changed_at=AT,
    ),
    FleetManagerChangedV1(
        customer_id=CUSTOMER_ID,
        status="active",
        sim_count=42,
        reason="requested",
        changed_at=AT,
    ),
    CataloguePublishedV1(
        catalogue_version=2,
        valid_from=datetime(2026, 11, 1, tzinfo=UTC),
        prices={
            "national": ZonePricesV1(
                voice_per_minute=Decimal("0.10"), sms_per_message=Decimal("0.08")
            ),
            "eu": ZonePricesV1(voice_per_minute=Decimal("0.19"), sms_per_message=Decimal("0.06")),
            "world": ZonePricesV1(
                voice_per_minute=Decimal("1.00"), sms_per_message=Decimal("0.30")
            ),
        },
        data_per_mb=Decimal("0.01"),
        tariff_plans=[
            TariffPlanV1(
                code="SMART_S",
                name="Smart S",
                monthly_fee=Decimal("15.00"),
                data_mb=5120,
                voice_min=300,
                sms=300,
            )
        ],
        options=[
            OptionV1(
                code="INTL_CALLS",
                name="International calls",
                monthly_fee=Decimal("4.00"),
                compatible_plans=["SMART_S"],
                voice_rates={"eu": Decimal("0.10"), "world": Decimal("0.10")},
            )
        ],
        published_at=AT,
    ),
    EinvoiceChannelChangedV1(
        customer_id=CUSTOMER_ID,
        billing_account_id=BILLING_ACCOUNT_ID,
        channel="email",
        status="active",
        alerts=["email", "sms"],
        changed_at=AT,
    ),
]

EXAMPLES: dict[type[EventPayload], EventPayload] = {type(p): p for p in _EXAMPLES}


def example(payload_cls: type[P]) -> P:
    """The example of a payload class; KeyError if it has none."""
    found = EXAMPLES[payload_cls]
    assert isinstance(found, payload_cls)
    return found


def missing_examples() -> list[type[EventPayload]]:
    """Registered payload classes without an example (should be empty)."""
    return [cls for cls in registered_payloads().values() if cls not in EXAMPLES]
