"""Event contracts of the portal: envelope, topic catalogue, versioned payload models.

Pure data: nothing here does I/O (except ``python -m contracts.export``).
"""

from contracts.base import (
    EventPayload,
    dataschema_uri,
    lookup_payload,
    parse_dataschema,
    registered_payloads,
)
from contracts.envelope import (
    CLOUDEVENTS_JSON,
    CloudEvent,
    new_event,
    parse_data,
    service_source,
)
from contracts.errors import InvalidEvent, UnknownEvent
from contracts.events import (
    AttachmentRefV1,
    ContractV1,
    CustomerRegisteredV1,
    CustomerTerminatedV1,
    DelegationChangedV1,
    EinvoiceChannelChangedV1,
    FleetManagerChangedV1,
    InvoiceClosedV1,
    InvoiceTotalsV1,
    NotificationFailedV1,
    NotificationRequestedV1,
    NotificationSentV1,
    RecipientV1,
    ScopeV1,
    SimChangedV1,
    UsageRatedV1,
    UsageRecordV1,
    UserCreatedV1,
    UserDeactivatedV1,
)
from contracts.topics import (
    CATALOGUE,
    SERVICES,
    TopicSpec,
    UnknownTopic,
    dead_letter_topic,
    topic,
)

__all__ = [
    "CATALOGUE",
    "CLOUDEVENTS_JSON",
    "SERVICES",
    "AttachmentRefV1",
    "CloudEvent",
    "ContractV1",
    "CustomerRegisteredV1",
    "CustomerTerminatedV1",
    "DelegationChangedV1",
    "EinvoiceChannelChangedV1",
    "EventPayload",
    "FleetManagerChangedV1",
    "InvalidEvent",
    "InvoiceClosedV1",
    "InvoiceTotalsV1",
    "NotificationFailedV1",
    "NotificationRequestedV1",
    "NotificationSentV1",
    "RecipientV1",
    "ScopeV1",
    "SimChangedV1",
    "TopicSpec",
    "UnknownEvent",
    "UnknownTopic",
    "UsageRatedV1",
    "UsageRecordV1",
    "UserCreatedV1",
    "UserDeactivatedV1",
    "dataschema_uri",
    "dead_letter_topic",
    "lookup_payload",
    "new_event",
    "parse_data",
    "parse_dataschema",
    "registered_payloads",
    "service_source",
    "topic",
]
