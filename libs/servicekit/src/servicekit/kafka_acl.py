"""The broker's ACLs, generated from the topic catalogue (ADR 24).

    python -m servicekit.kafka_acl plan     # the ACLs the catalogue asks for
    python -m servicekit.kafka_acl apply    # create the missing ones, remove stale ones
    python -m servicekit.kafka_acl list     # every ACL the broker holds

Each service is the principal ``User:<service>``; the network's usage feed is
``User:network``. From ``contracts.topics.CATALOGUE``:

- a topic's producers get WRITE and DESCRIBE on it (their dead-letter topic included;
  WRITE on a topic also allows the idempotent producer's InitProducerId, KIP-679);
- a topic's consumers get READ and DESCRIBE on it;
- every service gets READ and DESCRIBE on ``delegation.changed``, which every instance
  reads without a consumer group to evict its decision cache (ADR 0022);
- every service gets READ on the consumer groups whose id starts with its name (PREFIXED
  ``<service>``): its own group (``<SERVICE>_CONSUMER_GROUP`` defaults to the name) and
  the test and replay groups named ``<service>-...``. READ on a group implies DESCRIBE
  (the lag probe's OffsetFetch).

Nothing else: no CREATE (topics are created by ``portal-topics ensure`` as admin), no
cluster rights. ``apply`` runs as the broker's super user (``KAFKA_ADMIN_USERNAME`` /
``KAFKA_ADMIN_PASSWORD``) and removes ALLOW entries of the managed principals that the
catalogue no longer asks for, so a right taken out of the catalogue goes from the broker.
aiokafka 0.14 has the wire requests (CreateAcls, DescribeAcls, DeleteAcls v1) but no
admin method for them; they are sent here with its admin client.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest

from contracts.events import DelegationChangedV1
from contracts.topics import CATALOGUE, NETWORK, SERVICES
from servicekit.kafka import KafkaSecurity, admin_client, bootstrap_from_env

# Kafka's wire codes (org.apache.kafka.common.resource / acl).
RESOURCE_TYPES = {"ANY": 1, "TOPIC": 2, "GROUP": 3, "CLUSTER": 4, "TRANSACTIONAL_ID": 5}
PATTERN_TYPES = {"ANY": 1, "MATCH": 2, "LITERAL": 3, "PREFIXED": 4}
OPERATIONS = {
    "ANY": 1, "ALL": 2, "READ": 3, "WRITE": 4, "CREATE": 5, "DELETE": 6, "ALTER": 7,
    "DESCRIBE": 8, "CLUSTER_ACTION": 9, "DESCRIBE_CONFIGS": 10, "ALTER_CONFIGS": 11,
    "IDEMPOTENT_WRITE": 12,
}  # fmt: skip
PERMISSIONS = {"ANY": 1, "DENY": 2, "ALLOW": 3}

BROADCAST_TOPICS = (DelegationChangedV1.event_type,)
"""Read by every instance of every service without a consumer group (servicekit.app)."""

PRINCIPALS: tuple[str, ...] = (*SERVICES, NETWORK)
"""The principals whose ACLs this module manages (the admin is a super user)."""


def _name(codes: dict[str, int], code: int) -> str:
    return next((k for k, v in codes.items() if v == code), str(code))


@dataclass(frozen=True, order=True, slots=True)
class Acl:
    principal: str  # "User:billing"
    resource_type: str  # "TOPIC" | "GROUP"
    resource_name: str
    pattern_type: str  # "LITERAL" | "PREFIXED"
    operation: str  # "READ" | "WRITE" | "DESCRIBE"
    permission: str = "ALLOW"
    host: str = "*"

    def __str__(self) -> str:
        return (
            f"{self.principal:<16} {self.permission} {self.operation:<8} "
            f"{self.resource_type} {self.pattern_type.lower()} {self.resource_name}"
        )

    def wire(self) -> tuple[Any, ...]:
        return (
            RESOURCE_TYPES[self.resource_type],
            self.resource_name,
            PATTERN_TYPES[self.pattern_type],
            self.principal,
            self.host,
            OPERATIONS[self.operation],
            PERMISSIONS[self.permission],
        )


def user(name: str) -> str:
    return f"User:{name}"


def _topic(principal: str, topic: str, *operations: str) -> list[Acl]:
    return [Acl(user(principal), "TOPIC", topic, "LITERAL", op) for op in operations]


def plan(principals: Iterable[str] = PRINCIPALS) -> list[Acl]:
    """Every ACL the catalogue asks for, for ``principals``; sorted, without repeats."""
    wanted = set(principals)
    acls: set[Acl] = set()
    for spec in CATALOGUE.values():
        for producer in spec.producers:
            if producer in wanted:
                acls.update(_topic(producer, spec.name, "WRITE", "DESCRIBE"))
        for consumer in spec.consumers:
            if consumer in wanted:
                acls.update(_topic(consumer, spec.name, "READ", "DESCRIBE"))
    for name in BROADCAST_TOPICS:
        for service in SERVICES:
            if service in wanted:
                acls.update(_topic(service, name, "READ", "DESCRIBE"))
    for service in SERVICES:
        if service in wanted:
            acls.add(Acl(user(service), "GROUP", service, "PREFIXED", "READ"))
    return sorted(acls)


def may(acls: Iterable[Acl], principal: str, operation: str, topic: str) -> bool:
    """Does the plan allow ``principal`` (a service name) ``operation`` on ``topic``?"""
    return any(
        a.principal == user(principal)
        and a.resource_type == "TOPIC"
        and a.resource_name == topic
        and a.operation == operation
        for a in acls
    )


class AclError(RuntimeError):
    """The broker refused an ACL request."""


async def describe(admin: AIOKafkaAdminClient) -> list[Acl]:
    """Every ACL the broker holds (any resource, principal, operation)."""
    request = DescribeAclsRequest(
        resource_type=RESOURCE_TYPES["ANY"],
        resource_name=None,  # type: ignore[arg-type]  # null: any name
        resource_pattern_type_filter=PATTERN_TYPES["ANY"],
        principal=None,  # type: ignore[arg-type]
        host=None,  # type: ignore[arg-type]
        operation=OPERATIONS["ANY"],
        permission_type=PERMISSIONS["ANY"],
    )
    response: Any = await admin._send_request(request)
    error_code, error_message, resources = response.error_code, response.error_message, None
    if error_code:
        raise AclError(f"DescribeAcls: error {error_code} {error_message or ''}".strip())
    resources = response.resources
    found: list[Acl] = []
    for resource_type, name, pattern, entries in resources:
        for principal, host, operation, permission in entries:
            found.append(
                Acl(
                    principal=principal,
                    resource_type=_name(RESOURCE_TYPES, resource_type),
                    resource_name=name,
                    pattern_type=_name(PATTERN_TYPES, pattern),
                    operation=_name(OPERATIONS, operation),
                    permission=_name(PERMISSIONS, permission),
                    host=host,
                )
            )
    return sorted(found)


async def _create(admin: AIOKafkaAdminClient, acl: Acl) -> None:
    response: Any = await admin._send_request(CreateAclsRequest(*acl.wire()))
    for error_code, error_message in response.creation_responses:
        if error_code:
            raise AclError(f"CreateAcls {acl}: error {error_code} {error_message or ''}".strip())


async def _delete(admin: AIOKafkaAdminClient, acl: Acl) -> None:
    response: Any = await admin._send_request(DeleteAclsRequest(*acl.wire()))
    for error_code, error_message, _matching in response.filter_responses:
        if error_code:
            raise AclError(f"DeleteAcls {acl}: error {error_code} {error_message or ''}".strip())


@dataclass(frozen=True)
class Applied:
    created: list[Acl]
    removed: list[Acl]
    kept: int


async def apply(
    bootstrap: str,
    *,
    security: KafkaSecurity | None = None,
    principals: Iterable[str] = PRINCIPALS,
) -> Applied:
    """Make the broker hold exactly the plan for ``principals`` (others are untouched)."""
    principals = tuple(principals)
    wanted = set(plan(principals))
    managed = {user(p) for p in principals}
    async with admin_client(bootstrap, security) as admin:
        present = set(await describe(admin))
        missing = sorted(wanted - present)
        stale = sorted(
            a for a in present - wanted if a.principal in managed and a.permission == "ALLOW"
        )
        for acl in missing:
            await _create(admin, acl)
        for acl in stale:
            await _delete(admin, acl)
        return Applied(created=missing, removed=stale, kept=len(wanted) - len(missing))


async def list_acls(bootstrap: str, *, security: KafkaSecurity | None = None) -> list[Acl]:
    async with admin_client(bootstrap, security) as admin:
        return await describe(admin)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="portal-kafka-acl")
    parser.add_argument("command", choices=["plan", "apply", "list"])
    parser.add_argument("--bootstrap", default=bootstrap_from_env())
    args = parser.parse_args(argv)
    if args.command == "plan":
        for acl in plan():
            print(acl)
        return 0
    if args.command == "list":
        for acl in asyncio.run(list_acls(args.bootstrap)):
            print(acl)
        return 0
    result = asyncio.run(apply(args.bootstrap))
    for acl in result.created:
        print(f"created  {acl}")
    for acl in result.removed:
        print(f"removed  {acl}")
    print(
        f"acls: {len(result.created)} created, {len(result.removed)} removed, "
        f"{result.kept} already present"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
