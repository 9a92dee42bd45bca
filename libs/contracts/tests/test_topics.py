import pytest

import contracts.base
from contracts import CATALOGUE, SERVICES, registered_payloads
from contracts.base import EventPayload
from contracts.events import InvoiceClosedV1, UsageRecordV1
from contracts.topics import (
    NETWORK,
    UnknownTopic,
    dead_letter_topic,
    dead_letter_topics,
    event_topics,
    topic,
    topic_of,
)

SPEC_TOPICS = {
    "customer.registered",
    "user.created",
    "user.deactivated",
    "customer.terminated",
    "notification.requested",
    "notification.sent",
    "notification.failed",
    "delegation.changed",
    "invoice.closed",
    "invoice.objected",  # issue 8: objections [SPEC 6.2]
    "usage.rated",
    "usage.records",
    "sim.changed",
    "fleet-manager.changed",
    "einvoice.channel.changed",
    "catalogue.published",  # issue 8: billing owns the price catalogue
    "audit.recorded",  # issue 6, item 11
}
DAY_MS = 86_400_000


def test_catalogue_covers_every_topic_of_the_spec():
    assert {spec.name for spec in event_topics()} == SPEC_TOPICS


def test_every_catalogue_topic_with_a_payload_has_a_registered_model():
    registry = registered_payloads()
    for spec in CATALOGUE.values():
        if spec.payload is None:
            continue
        assert registry[(spec.name, spec.schema_version)] is spec.payload


def test_every_registered_model_has_a_topic():
    for event_type, version in registered_payloads():
        spec = CATALOGUE.get(event_type)
        assert spec is not None and spec.payload is not None, event_type
        assert version in spec.payload_versions()


def test_event_topics_have_six_partitions_and_seven_days_except_the_noted_ones():
    for spec in event_topics():
        if spec.name == "catalogue.published":  # every version, in order, forever
            assert (spec.partitions, spec.retention_ms) == (1, -1)
            continue
        expected_partitions = 12 if spec.name == "usage.records" else 6
        short = spec.name in {"usage.records", "notification.requested"}
        days = 30 if spec.name == "audit.recorded" else 3 if short else 7
        assert spec.partitions == expected_partitions, spec.name
        assert spec.retention_ms == days * DAY_MS, spec.name
        assert spec.configs["retention.ms"] == str(spec.retention_ms)


def test_usage_keyed_by_billing_account_or_batch_the_catalogue_by_itself_else_customer():
    special = {
        "usage.records": "billing_account_id",
        "usage.rated": "batch_id",
        "catalogue.published": "catalogue",
    }
    for spec in event_topics():
        expected = special.get(spec.name, "customer_id")
        assert spec.key == expected, spec.name


def test_each_service_has_a_dead_letter_topic():
    assert SERVICES == ("identity", "delegation", "billing", "fleet", "einvoice", "notifier")
    assert {spec.name for spec in dead_letter_topics()} == {f"dlq.{s}" for s in SERVICES}
    for service in SERVICES:
        spec = topic(dead_letter_topic(service))
        assert spec.payload is None and spec.schema_version is None
        assert spec.partitions == 3
        assert spec.retention_ms == 30 * DAY_MS


def test_dead_letter_topic_of_an_unknown_service_is_an_error():
    with pytest.raises(ValueError, match="unknown service"):
        dead_letter_topic("gateway")


def test_unknown_topic_raises_key_error_naming_it():
    with pytest.raises(KeyError) as excinfo:
        topic("invoice.opened")
    assert isinstance(excinfo.value, UnknownTopic)
    assert "unknown topic 'invoice.opened'" in str(excinfo.value)


def test_producers_and_consumers_are_known_services():
    for spec in CATALOGUE.values():
        assert set(spec.producers) <= {*SERVICES, NETWORK}, spec.name
        assert set(spec.consumers) <= set(SERVICES), spec.name


def test_topic_of_a_payload_class_is_its_catalogue_entry():
    assert topic_of(InvoiceClosedV1) is topic("invoice.closed")
    assert topic_of(UsageRecordV1).name == "usage.records"
    for spec in event_topics():
        assert spec.payload is not None and topic_of(spec.payload) is spec


def test_topic_of_a_class_outside_the_catalogue_is_unknown(monkeypatch: pytest.MonkeyPatch):
    # A scratch registry, so the classes defined here do not outlive the test.
    monkeypatch.setattr(contracts.base, "_REGISTRY", dict(contracts.base._REGISTRY))

    class InvoiceOpenedV1(EventPayload):
        event_type = "invoice.opened"
        version = 1

    class Unregistered(InvoiceClosedV1):
        pass

    with pytest.raises(UnknownTopic, match=r"no event topic 'invoice\.opened'"):
        topic_of(InvoiceOpenedV1)
    with pytest.raises(UnknownTopic, match=r"not a registered payload of invoice\.closed"):
        topic_of(Unregistered)
    with pytest.raises(TypeError, match="not an EventPayload class"):
        topic_of("invoice.closed")  # type: ignore[arg-type]
