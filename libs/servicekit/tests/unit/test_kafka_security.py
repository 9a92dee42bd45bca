"""The services' Kafka principals and the ACL plan, without a broker (ADR 24)."""

from __future__ import annotations

import pytest

from contracts.topics import CATALOGUE, SERVICES
from servicekit import kafka_acl
from servicekit.kafka import (
    KafkaSecurity,
    admin_options,
    client_options,
    local_password,
    security_of,
)
from servicekit.settings import ServiceSettings


def test_a_service_connects_as_itself_by_default() -> None:
    settings = ServiceSettings(service_name="billing")
    options = client_options(settings)
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "billing"
    assert options["sasl_plain_password"] == local_password("billing")


def test_the_password_never_shows_in_a_repr() -> None:
    settings = ServiceSettings(service_name="billing", kafka_sasl_password="s3cr3t-kafka")
    assert "s3cr3t-kafka" not in repr(settings)
    assert "s3cr3t-kafka" not in repr(security_of(settings))


def test_production_refuses_the_local_only_kafka_password() -> None:
    with pytest.raises(ValueError, match="kafka_sasl_password"):
        ServiceSettings(service_name="x", environment="production", client_secret="s3cr3t-v4lue")
    ok = ServiceSettings(
        service_name="x",
        environment="production",
        client_secret="s3cr3t-v4lue",
        kafka_sasl_password="an0ther-s3cr3t",
    )
    assert security_of(ok).principal == "User:x"


def test_plaintext_sends_no_credentials() -> None:
    assert KafkaSecurity().options() == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_wraps_the_connection_in_tls() -> None:
    options = KafkaSecurity("SASL_SSL", username="billing", password="pw").options()
    assert options["ssl_context"].verify_mode.name == "CERT_REQUIRED"
    assert options["sasl_plain_username"] == "billing"


def test_faststream_gets_the_same_principal() -> None:
    from faststream.kafka.security import parse_security

    security = KafkaSecurity("SASL_PLAINTEXT", username="billing", password="pw").faststream()
    assert parse_security(security) | {"ssl_context": None} == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "billing",
        "sasl_plain_password": "pw",
        "ssl_context": None,
    }
    assert KafkaSecurity().faststream() is None


def test_tools_connect_as_the_admin_from_the_environment() -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": "k:9092", "KAFKA_ADMIN_PASSWORD": "pw"}
    options = admin_options(env)
    assert options["bootstrap_servers"] == "k:9092"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("admin", "pw")


def test_only_the_owner_may_write_a_topic_that_confers_rights() -> None:
    plan = kafka_acl.plan()
    for topic in ("user.created", "delegation.changed"):
        writers = {s for s in SERVICES if kafka_acl.may(plan, s, "WRITE", topic)}
        assert writers == set(CATALOGUE[topic].producers)


def test_the_plan_follows_the_catalogue() -> None:
    plan = kafka_acl.plan()
    for spec in CATALOGUE.values():
        for service in SERVICES:
            assert kafka_acl.may(plan, service, "WRITE", spec.name) == (service in spec.producers)
            readable = service in spec.consumers or spec.name in kafka_acl.BROADCAST_TOPICS
            assert kafka_acl.may(plan, service, "READ", spec.name) == readable
    for service in SERVICES:
        assert kafka_acl.may(plan, service, "WRITE", f"dlq.{service}")
    assert kafka_acl.may(plan, "network", "WRITE", "usage.records")


def test_the_plan_grants_no_creation_and_no_cluster_rights() -> None:
    plan = kafka_acl.plan()
    assert {a.operation for a in plan} == {"READ", "WRITE", "DESCRIBE"}
    assert {a.resource_type for a in plan} == {"TOPIC", "GROUP"}
    groups = {a for a in plan if a.resource_type == "GROUP"}
    assert {(a.principal, a.resource_name, a.pattern_type) for a in groups} == {
        (f"User:{s}", s, "PREFIXED") for s in SERVICES
    }


def test_users_get_the_passwords_the_services_read() -> None:
    from servicekit.kafka_users import env_password_variable, wanted_passwords

    assert env_password_variable("billing") == "BILLING_KAFKA_SASL_PASSWORD"
    env = {"BILLING_KAFKA_SASL_PASSWORD": "b1", "KAFKA_ADMIN_PASSWORD": "a1"}
    assert wanted_passwords(env) == {"billing": "b1"}  # the others are left alone
    local = wanted_passwords(env, local_defaults=True, with_admin=True)
    assert local["billing"] == "b1" and local["admin"] == "a1"
    assert local["notifier"] == local_password("notifier")
    assert set(local) == {"admin", *kafka_acl.PRINCIPALS}
