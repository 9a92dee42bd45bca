"""The broker's SASL/SCRAM users: one per service, plus ``network`` (ADR 24).

    python -m servicekit.kafka_users ensure    # set every user's password from the env
    python -m servicekit.kafka_users list      # the users the broker holds
    python -m servicekit.kafka_users remove NAME...
    python -m servicekit.kafka_users rotate-admin   # KAFKA_ADMIN_NEW_PASSWORD

``ensure`` sets the SCRAM-SHA-512 credential of each principal of
``servicekit.kafka_acl.PRINCIPALS`` to ``<NAME>_KAFKA_SASL_PASSWORD`` (the very variable
the service reads, e.g. ``BILLING_KAFKA_SASL_PASSWORD``), as the broker's admin. A
principal whose variable is unset is skipped with a warning, or gets its local-only
password with ``--local-defaults`` (deploy/local/infra.sh). ``--with-admin`` sets the
admin's too, from ``KAFKA_ADMIN_PASSWORD`` (storage formatted without any user, reached
over a plaintext listener). Running it again with a new password rotates it: clients
already connected stay connected, new connections need the new password.

aiokafka 0.14 has no request for SCRAM credentials; AlterUserScramCredentials and
DescribeUserScramCredentials (v0, KIP-554) are declared here with its protocol types and
sent with its admin client. The password never leaves this process: the request carries a
random salt and the salted password (PBKDF2-HMAC-SHA-512), as the Java admin client does.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import secrets
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from servicekit.kafka import (
    ADMIN_USER,
    KafkaSecurity,
    admin_client,
    admin_security,
    bootstrap_from_env,
    local_password,
)
from servicekit.kafka_acl import PRINCIPALS

log = logging.getLogger(__name__)

SCRAM_SHA_512 = 2  # org.apache.kafka.clients.admin.ScramMechanism
ITERATIONS = 8192


class AlterUserScramCredentialsResponse_v0(Response):
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest_v0(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        (
            "deletions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("tags", TaggedFields),
            ),
        ),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest(Request[AlterUserScramCredentialsRequest_v0]):
    API_KEY = 51

    def __init__(
        self, upsertions: list[tuple[Any, ...]], deletions: list[tuple[Any, ...]] | None = None
    ) -> None:
        self._upsertions = upsertions
        self._deletions = deletions or []

    def build(
        self, request_struct_class: type[AlterUserScramCredentialsRequest_v0]
    ) -> AlterUserScramCredentialsRequest_v0:
        return request_struct_class(self._deletions, self._upsertions, {})


class DescribeUserScramCredentialsResponse_v0(Response):
    API_KEY = 50
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("error_message", CompactString("utf-8")),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                (
                    "credential_infos",
                    CompactArray(
                        ("mechanism", Int8),
                        ("iterations", Int32),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class DescribeUserScramCredentialsRequest_v0(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 50
    API_VERSION = 0
    RESPONSE_TYPE = DescribeUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        ("users", CompactArray(("name", CompactString("utf-8")), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class DescribeUserScramCredentialsRequest(Request[DescribeUserScramCredentialsRequest_v0]):
    API_KEY = 50

    def build(
        self, request_struct_class: type[DescribeUserScramCredentialsRequest_v0]
    ) -> DescribeUserScramCredentialsRequest_v0:
        return request_struct_class(None, {})  # null: every user


class UserError(RuntimeError):
    """The broker refused to describe or change a SCRAM user."""


def salted(password: str, salt: bytes, iterations: int = ITERATIONS) -> bytes:
    """SCRAM's SaltedPassword (RFC 5802 Hi() = PBKDF2 with HMAC-SHA-512)."""
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)


def env_password_variable(user: str) -> str:
    """``BILLING_KAFKA_SASL_PASSWORD``: the variable the service itself reads."""
    return f"{user.upper()}_KAFKA_SASL_PASSWORD"


def wanted_passwords(
    env: Mapping[str, str],
    *,
    principals: Iterable[str] = PRINCIPALS,
    local_defaults: bool = False,
    with_admin: bool = False,
) -> dict[str, str]:
    """The users to set and their passwords; principals without one are left out."""
    users: dict[str, str] = {}
    if with_admin:
        admin = admin_security(env)
        users[str(admin.username)] = str(admin.password)
    for user in principals:
        password = env.get(env_password_variable(user))
        if password:
            users[user] = password
        elif local_defaults:
            users[user] = local_password(user)
        else:
            log.warning(
                "%s is not set: Kafka user %s left as it is", env_password_variable(user), user
            )
    return users


async def upsert(admin: AIOKafkaAdminClient, passwords: Mapping[str, str]) -> None:
    upsertions: list[tuple[Any, ...]] = []
    for user, password in passwords.items():
        salt = secrets.token_bytes(32)
        upsertions.append((user, SCRAM_SHA_512, ITERATIONS, salt, salted(password, salt), {}))
    if not upsertions:
        return
    response: Any = await admin._send_request(AlterUserScramCredentialsRequest(upsertions))
    _raise_failures(response)


async def remove(admin: AIOKafkaAdminClient, users: Iterable[str]) -> None:
    deletions: list[tuple[Any, ...]] = [(user, SCRAM_SHA_512, {}) for user in users]
    response: Any = await admin._send_request(AlterUserScramCredentialsRequest([], deletions))
    _raise_failures(response)


def _raise_failures(response: Any) -> None:
    failed = [
        f"{user}: error {code} {message or ''}".strip()
        for user, code, message, _tags in response.results
        if code
    ]
    if failed:
        raise UserError("AlterUserScramCredentials: " + "; ".join(failed))


async def describe(admin: AIOKafkaAdminClient) -> list[str]:
    response: Any = await admin._send_request(DescribeUserScramCredentialsRequest())
    if response.error_code:
        raise UserError(
            f"DescribeUserScramCredentials: error {response.error_code} "
            f"{response.error_message or ''}".strip()
        )
    return sorted(user for user, code, _message, _infos, _tags in response.results if not code)


async def ensure(
    bootstrap: str, passwords: Mapping[str, str], *, security: KafkaSecurity | None = None
) -> list[str]:
    """Set each user's password (created if new); returns the users set."""
    async with admin_client(bootstrap, security) as admin:
        await upsert(admin, passwords)
    return sorted(passwords)


async def list_users(bootstrap: str, *, security: KafkaSecurity | None = None) -> list[str]:
    async with admin_client(bootstrap, security) as admin:
        return await describe(admin)


async def remove_users(
    bootstrap: str, users: Iterable[str], *, security: KafkaSecurity | None = None
) -> None:
    async with admin_client(bootstrap, security) as admin:
        await remove(admin, users)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="portal-kafka-users")
    parser.add_argument("command", choices=["ensure", "list", "remove", "rotate-admin"])
    parser.add_argument("users", nargs="*", help="remove: the users to remove")
    parser.add_argument("--bootstrap", default=bootstrap_from_env())
    parser.add_argument(
        "--local-defaults",
        action="store_true",
        help="a principal without <NAME>_KAFKA_SASL_PASSWORD gets its local-only password",
    )
    parser.add_argument(
        "--with-admin",
        action="store_true",
        help=f"set the admin's ({ADMIN_USER}) credential too, from KAFKA_ADMIN_PASSWORD",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "list":
        for user in asyncio.run(list_users(args.bootstrap)):
            print(user)
        return 0
    if args.command == "rotate-admin":
        # Logs in with KAFKA_ADMIN_PASSWORD, sets KAFKA_ADMIN_NEW_PASSWORD.
        new = os.environ.get("KAFKA_ADMIN_NEW_PASSWORD")
        if not new:
            parser.error("rotate-admin needs KAFKA_ADMIN_NEW_PASSWORD")
        admin = str(admin_security().username)
        asyncio.run(ensure(args.bootstrap, {admin: new}))
        print(f"kafka users: {admin}'s password changed; now change the brokers' and the tools'")
        return 0
    if args.command == "remove":
        asyncio.run(remove_users(args.bootstrap, args.users))
        print(f"kafka users: removed {', '.join(args.users) or 'none'}")
        return 0
    passwords = wanted_passwords(
        os.environ, local_defaults=args.local_defaults, with_admin=args.with_admin
    )
    done = asyncio.run(ensure(args.bootstrap, passwords))
    print(f"kafka users: {len(done)} set ({', '.join(done) or 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
