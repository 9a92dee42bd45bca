"""Versioned payload models, one module per event family. Importing this registers them."""

from contracts.events.audit import AuditAction, AuditActorV1, AuditRecordedV1
from contracts.events.billing import (
    InvoiceClosedV1,
    InvoiceObjectedV1,
    InvoiceTotalsV1,
    RatedUsageV2,
    UsageRatedV1,
    UsageRatedV2,
    UsageRecordV1,
)
from contracts.events.catalogue import (
    CataloguePublishedV1,
    OptionV1,
    PromotionV1,
    TariffPlanV1,
    ZonePricesV1,
)
from contracts.events.delegation import DelegationChangedV1, ScopeV1
from contracts.events.einvoice import EinvoiceChannelChangedV1
from contracts.events.fleet import FleetManagerChangedV1, SimChangedV1
from contracts.events.identity import (
    ContractV1,
    CustomerRegisteredV1,
    CustomerTerminatedV1,
    PostalAddressV1,
    UserCreatedV1,
    UserDeactivatedV1,
)
from contracts.events.notification import (
    AttachmentRefV1,
    NotificationFailedV1,
    NotificationRequestedV1,
    NotificationSentV1,
    RecipientV1,
)

__all__ = [
    "AttachmentRefV1",
    "AuditAction",
    "AuditActorV1",
    "AuditRecordedV1",
    "CataloguePublishedV1",
    "ContractV1",
    "CustomerRegisteredV1",
    "CustomerTerminatedV1",
    "DelegationChangedV1",
    "EinvoiceChannelChangedV1",
    "FleetManagerChangedV1",
    "InvoiceClosedV1",
    "InvoiceObjectedV1",
    "InvoiceTotalsV1",
    "NotificationFailedV1",
    "NotificationRequestedV1",
    "NotificationSentV1",
    "OptionV1",
    "PostalAddressV1",
    "PromotionV1",
    "RatedUsageV2",
    "RecipientV1",
    "ScopeV1",
    "SimChangedV1",
    "TariffPlanV1",
    "UsageRatedV1",
    "UsageRatedV2",
    "UsageRecordV1",
    "UserCreatedV1",
    "UserDeactivatedV1",
    "ZonePricesV1",
]
