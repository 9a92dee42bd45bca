"""Authority on the bus (ADR 24): against the real broker, with the ACLs that
``servicekit.kafka_acl apply`` created from the catalogue (deploy/local/infra.sh does it).

Each service connects as its own principal, with the credentials its settings give it; a
principal writes only the topics its service owns and reads only those it consumes.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
    for_code,
)
from aiokafka.protocol.fetch import FetchRequest

from contracts.envelope import new_event
from contracts.events import UserCreatedV1
from contracts.examples import example
from contracts.topics import CATALOGUE, SERVICES
from servicekit import kafka_acl
from servicekit.kafka import KafkaSecurity, admin_options, admin_security, bootstrap_from_env
from servicekit.outbox import kafka_producer
from servicekit.settings import ServiceSettings

pytestmark = pytest.mark.asyncio

BOOTSTRAP = bootstrap_from_env()
USER_CREATED = UserCreatedV1.event_type


def _security_of(service: str) -> KafkaSecurity:
    """What the service's own settings give its clients (defaults: its name and the local
    broker's local-only password, as in `make run` and the e2e stacks)."""
    from servicekit.kafka import security_of

    return security_of(ServiceSettings(service_name=service))


def _user_created() -> tuple[bytes, bytes]:
    """A well-formed event of a fresh customer: other tests' consumers may read it."""
    payload = example(UserCreatedV1).model_copy(
        update={
            "user_id": uuid.uuid4(),
            "customer_id": uuid.uuid4(),
            "email": f"acl-{uuid.uuid4().hex[:8]}@example.test",
        }
    )
    event = new_event(payload, source="/tests/acl")
    return payload.key().encode(), event.to_bytes()


async def _produce(security: KafkaSecurity, topic: str) -> None:
    # The relay's own producer (idempotent, acks=all): InitProducerId must be allowed too.
    producer = kafka_producer(BOOTSTRAP, client_id="acl-test", security=security)
    await producer.start()
    try:
        key, value = _user_created()
        await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()


async def _read(security: KafkaSecurity, topic: str) -> None:
    """One Fetch of partition 0 of ``topic`` from offset 0; raises the broker's error.

    Sent with aiokafka's client itself: its consumer never fetches a topic whose metadata
    it may not see (it only logs "not authorized" and waits), so it could not show the
    broker's answer to a read."""
    client = AIOKafkaClient(bootstrap_servers=BOOTSTRAP, **security.options())
    await client.bootstrap()
    try:
        request = FetchRequest(100, 1, 1_000_000, 0, [(topic, [(0, 0, 1_000_000)])])
        response: Any = await client.send(client.get_random_node(), request)
        for _topic, partitions in response.topics:
            for partition in partitions:
                if partition[1]:  # error_code
                    raise for_code(partition[1])(topic)
    finally:
        await client.close()


async def _visible_topics(security: KafkaSecurity) -> set[str]:
    client = AIOKafkaClient(bootstrap_servers=BOOTSTRAP, **security.options())
    await client.bootstrap()
    try:
        return set((await client.fetch_all_metadata()).topics())
    finally:
        await client.close()


async def _join(security: KafkaSecurity, topic: str, group: str) -> None:
    """Join ``group`` on ``topic`` and poll once, as a service's consumer does."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=BOOTSTRAP,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="latest",
        **security.options(),
    )
    await consumer.start()
    try:
        consumer.subscribe([topic])
        await consumer.getmany(timeout_ms=3000)
    finally:
        await consumer.stop()


async def test_identity_may_publish_user_created() -> None:
    await _produce(_security_of("identity"), USER_CREATED)


async def test_notifier_may_not_publish_user_created() -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(_security_of("notifier"), USER_CREATED)


async def test_a_service_may_publish_to_its_own_dead_letter_topic_only() -> None:
    await _produce(_security_of("billing"), "dlq.billing")
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(_security_of("billing"), "dlq.notifier")


async def test_a_principal_may_not_read_a_topic_its_service_does_not_consume() -> None:
    # invoice.closed is billing's, read by einvoice only.
    assert "notifier" not in CATALOGUE["invoice.closed"].consumers
    await _read(_security_of("einvoice"), "invoice.closed")
    with pytest.raises(TopicAuthorizationFailedError):
        await _read(_security_of("notifier"), "invoice.closed")
    # Nor may it know the topic exists: metadata lists only what a principal may describe.
    assert "invoice.closed" in await _visible_topics(_security_of("einvoice"))
    assert "invoice.closed" not in await _visible_topics(_security_of("notifier"))


async def test_a_principal_joins_only_its_own_services_consumer_groups() -> None:
    notifier = _security_of("notifier")
    await _join(notifier, USER_CREATED, f"notifier-acl-{uuid.uuid4()}")
    with pytest.raises(GroupAuthorizationFailedError):
        await _join(notifier, USER_CREATED, f"billing-acl-{uuid.uuid4()}")


async def test_every_service_reads_delegation_changed_without_a_group() -> None:
    # The broadcast readers of the decision caches (ADR 0022).
    for service in SERVICES:
        await _read(_security_of(service), "delegation.changed")


async def test_a_wrong_password_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    wrong = KafkaSecurity(
        protocol=admin_security().protocol, username="identity", password="not-the-password"
    )
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, **wrong.options())
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()
    assert "SaslAuthenticationFailed" in caplog.text
    assert "not-the-password" not in caplog.text


async def test_the_broker_holds_exactly_the_planned_acls_of_the_services() -> None:
    admin_kwargs = admin_options()
    assert admin_kwargs["sasl_plain_username"] == "admin"
    held = await kafka_acl.list_acls(BOOTSTRAP)
    managed = {kafka_acl.user(p) for p in kafka_acl.PRINCIPALS}
    assert {a for a in held if a.principal in managed} == set(kafka_acl.plan())
