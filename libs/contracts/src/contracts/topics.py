"""The topic catalogue: every Kafka topic, its key, sizing, retention and payload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from contracts.base import EventPayload, registered_payloads
from contracts.events import (
    AuditRecordedV1,
    CataloguePublishedV1,
    CustomerRegisteredV1,
    CustomerTerminatedV1,
    DelegationChangedV1,
    EinvoiceChannelChangedV1,
    FleetManagerChangedV1,
    InvoiceClosedV1,
    InvoiceObjectedV1,
    NotificationFailedV1,
    NotificationRequestedV1,
    NotificationSentV1,
    SimChangedV1,
    UsageRatedV2,
    UsageRecordV1,
    UserCreatedV1,
    UserDeactivatedV1,
)

SERVICES: tuple[str, ...] = ("identity", "delegation", "billing", "fleet", "einvoice", "notifier")
"""The six services; each has its own dead-letter topic."""

NETWORK = "network"
"""Producer name of the network's usage feed (outside this system)."""

DAY_MS = 24 * 60 * 60 * 1000
DEFAULT_PARTITIONS = 6
DEFAULT_RETENTION_MS = 7 * DAY_MS
AUDIT_RETENTION_MS = 30 * DAY_MS
"""audit.recorded is kept a month: identity's chain is the record, the topic only carries
it there (a month covers any outage of identity's consumer)."""
DEAD_LETTER_PARTITIONS = 3
DEAD_LETTER_RETENTION_MS = 30 * DAY_MS
DEAD_LETTER_PREFIX = "dlq."

KeyField = Literal["customer_id", "billing_account_id", "batch_id", "catalogue", "original_key"]

KEEP_FOREVER = -1
"""``retention.ms`` of a topic whose every message stays (Kafka's -1)."""


class UnknownTopic(KeyError):
    """No topic of that name in the catalogue."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else "unknown topic"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One Kafka topic.

    ``key`` names the payload field used as message key (``original_key`` on dead-letter
    topics: a dead letter keeps the key of the message that failed). ``payload`` is the
    class producers currently write (``schema_version``); None for dead-letter topics.
    """

    name: str
    key: KeyField
    partitions: int
    retention_ms: int
    payload: type[EventPayload] | None
    schema_version: int | None
    description: str
    producers: tuple[str, ...] = ()
    consumers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.payload is None:
            if self.schema_version is not None:
                raise ValueError(f"{self.name}: schema_version without payload")
            return
        if self.payload.event_type != self.name:
            raise ValueError(f"{self.name}: payload is for {self.payload.event_type!r}")
        if self.payload.version != self.schema_version:
            raise ValueError(
                f"{self.name}: schema_version {self.schema_version} but payload "
                f"{self.payload.__qualname__} is v{self.payload.version}"
            )

    @property
    def is_dead_letter(self) -> bool:
        return self.payload is None

    @property
    def configs(self) -> dict[str, str]:
        """Topic-level Kafka configs to create the topic with."""
        return {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms)}

    def payload_versions(self) -> dict[int, type[EventPayload]]:
        """Every registered payload version of this topic (consumers may see any)."""
        return {
            version: cls
            for (event_type, version), cls in sorted(registered_payloads().items())
            if event_type == self.name
        }


def _event_topic(
    payload: type[EventPayload],
    description: str,
    *,
    key: KeyField = "customer_id",
    producers: tuple[str, ...],
    consumers: tuple[str, ...] = (),
    partitions: int = DEFAULT_PARTITIONS,
    retention_ms: int = DEFAULT_RETENTION_MS,
) -> TopicSpec:
    return TopicSpec(
        name=payload.event_type,
        key=key,
        partitions=partitions,
        retention_ms=retention_ms,
        payload=payload,
        schema_version=payload.version,
        description=description,
        producers=producers,
        consumers=consumers,
    )


def _dead_letter_topic(service: str) -> TopicSpec:
    return TopicSpec(
        name=f"{DEAD_LETTER_PREFIX}{service}",
        key="original_key",
        partitions=DEAD_LETTER_PARTITIONS,
        retention_ms=DEAD_LETTER_RETENTION_MS,
        payload=None,
        schema_version=None,
        description=f"Messages {service} could not process after bounded retries, with the "
        "error; replayable.",
        producers=(service,),
    )


_TOPICS: list[TopicSpec] = [
    _event_topic(
        CustomerRegisteredV1,
        "A registration was accepted; the customer's agreement starts.",
        producers=("identity",),
        consumers=("delegation", "billing"),
    ),
    _event_topic(
        UserCreatedV1,
        "A user was created (invited or registrant).",
        producers=("identity",),
        consumers=("delegation", "fleet", "notifier"),
    ),
    _event_topic(
        UserDeactivatedV1,
        "A user was deactivated; all their rights go.",
        producers=("identity",),
        consumers=("delegation", "fleet", "notifier"),
    ),
    _event_topic(
        CustomerTerminatedV1,
        "A customer's termination took effect.",
        producers=("identity",),
        consumers=("delegation", "billing", "fleet", "einvoice"),
    ),
    _event_topic(
        NotificationRequestedV1,
        "A message to send. May carry one-time links: only the notifier reads it.",
        producers=("identity", "einvoice", "fleet", "billing"),
        consumers=("notifier",),
        retention_ms=3 * DAY_MS,
    ),
    _event_topic(
        NotificationSentV1,
        "A message was sent.",
        producers=("notifier",),
    ),
    _event_topic(
        NotificationFailedV1,
        "A message could not be delivered; the notifier gave up.",
        producers=("notifier",),
    ),
    _event_topic(
        DelegationChangedV1,
        "A role assignment was granted, revoked or updated. Besides its consumers, every "
        "instance of every service reads it without a consumer group (no offsets "
        "committed) to evict its cached decisions at once (ADR 0022).",
        producers=("delegation",),
    ),
    _event_topic(
        InvoiceClosedV1,
        "A billing period was closed and its invoice issued.",
        producers=("billing",),
        consumers=("einvoice",),
    ),
    _event_topic(
        InvoiceObjectedV1,
        "A customer objected to an invoice within its objection period.",
        producers=("billing",),
    ),
    _event_topic(
        UsageRatedV2,
        "Usage records rated at standard prices, a batch an event (v1: one record).",
        key="batch_id",
        producers=("billing",),
        consumers=("fleet",),
    ),
    _event_topic(
        UsageRecordV1,
        "Call detail records from the network, not yet rated.",
        key="billing_account_id",
        producers=(NETWORK,),
        consumers=("billing",),
        partitions=12,
        retention_ms=3 * DAY_MS,
    ),
    _event_topic(
        CataloguePublishedV1,
        "One whole version of the price catalogue (plans, options, allowances, prices, "
        "promotions). One partition and kept forever, so a new consumer reads every version.",
        key="catalogue",
        producers=("billing",),
        consumers=("fleet",),
        partitions=1,
        retention_ms=KEEP_FOREVER,
    ),
    _event_topic(
        SimChangedV1,
        "A SIM was provisioned, changed or deactivated.",
        producers=("fleet",),
        consumers=("delegation", "billing"),
    ),
    _event_topic(
        FleetManagerChangedV1,
        "The fleet-manager application was activated or terminated.",
        producers=("fleet",),
    ),
    _event_topic(
        EinvoiceChannelChangedV1,
        "The invoice delivery channel of a billing account changed.",
        producers=("einvoice",),
    ),
    _event_topic(
        AuditRecordedV1,
        "An audited change of rights or access to data (grant, revocation, approval, "
        "refusal, invitation, removal, notice, export); identity chains it per customer.",
        producers=("identity", "delegation", "billing"),
        consumers=("identity",),
        retention_ms=AUDIT_RETENTION_MS,
    ),
    *(_dead_letter_topic(service) for service in SERVICES),
]

CATALOGUE: dict[str, TopicSpec] = {spec.name: spec for spec in _TOPICS}
"""Every topic by name: event topics first, then the dead-letter topics."""


def topic(name: str) -> TopicSpec:
    """The spec of a topic; UnknownTopic (a KeyError) if the catalogue has no such topic."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise UnknownTopic(
            f"unknown topic {name!r}; known topics: {', '.join(sorted(CATALOGUE))}"
        ) from None


def topic_of(payload: type[EventPayload]) -> TopicSpec:
    """The topic a payload class is carried on: the catalogue entry named by its
    ``event_type``, provided the class is a registered version of that topic's payload.

    UnknownTopic if the catalogue has no such topic or the class is not one of its
    registered versions; TypeError if ``payload`` is not an EventPayload class.
    """
    if not (isinstance(payload, type) and issubclass(payload, EventPayload)):
        raise TypeError(f"{payload!r} is not an EventPayload class (e.g. InvoiceClosedV1)")
    name = getattr(payload, "event_type", None)
    spec = CATALOGUE.get(name) if isinstance(name, str) else None
    if spec is None or spec.is_dead_letter:
        raise UnknownTopic(
            f"{payload.__qualname__}: no event topic {name!r} in the catalogue; known "
            f"topics: {', '.join(s.name for s in event_topics())}"
        )
    versions = spec.payload_versions()
    if versions.get(getattr(payload, "version", 0)) is not payload:
        registered = ", ".join(f"{c.__qualname__} (v{v})" for v, c in versions.items())
        raise UnknownTopic(
            f"{payload.__qualname__} is not a registered payload of {spec.name}; "
            f"registered: {registered}"
        )
    return spec


def dead_letter_topic(service: str) -> str:
    """The dead-letter topic of a service, e.g. ``dlq.billing``; ValueError if unknown."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
    return f"{DEAD_LETTER_PREFIX}{service}"


def event_topics() -> list[TopicSpec]:
    """The topics that carry events (everything but the dead-letter topics)."""
    return [spec for spec in CATALOGUE.values() if not spec.is_dead_letter]


def dead_letter_topics() -> list[TopicSpec]:
    return [spec for spec in CATALOGUE.values() if spec.is_dead_letter]
