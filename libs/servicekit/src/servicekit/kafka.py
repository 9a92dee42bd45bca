"""Every Kafka client's security options, built in one place (ADR 24).

Each service connects as its own principal (SASL/SCRAM-SHA-512): the broker's ACLs
(``servicekit.kafka_acl``, generated from the topic catalogue) let it write only the
topics it owns and read only those it consumes. Operator tools and the tests' own helper
clients connect as the broker's super user (``admin``).

- A service: ``client_options(settings)``, from ``KAFKA_SECURITY_PROTOCOL``,
  ``KAFKA_SASL_MECHANISM`` (shared) and ``<SERVICE>_KAFKA_SASL_USERNAME`` /
  ``<SERVICE>_KAFKA_SASL_PASSWORD`` (its own; username defaults to the service's name).
- Operator tools and tests: ``admin_security()`` / ``admin_options()``, from
  ``KAFKA_ADMIN_USERNAME`` / ``KAFKA_ADMIN_PASSWORD`` (and the two shared variables).

Passwords default to ``local_password(user)``: the values ``deploy/local/infra.sh``
gives the local broker's users, for ``make run`` and the tests only. Production refuses
them (``ServiceSettings``); compose and Kubernetes take real ones from their secrets.
"""

from __future__ import annotations

import contextlib
import os
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiokafka.admin import AIOKafkaAdminClient

    from servicekit.settings import ServiceSettings

SASL_PLAINTEXT = "SASL_PLAINTEXT"
SCRAM_SHA_512 = "SCRAM-SHA-512"
ADMIN_USER = "admin"
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
LOCAL_PASSWORD_SUFFIX = "-local-only"


def local_password(user: str) -> str:
    """The local-only password of a user of the local broker (deploy/local/infra.sh
    computes the same: ``<user>-local-only``). Never valid in production."""
    return f"{user}{LOCAL_PASSWORD_SUFFIX}"


def is_local_password(user: str, password: str) -> bool:
    return password == local_password(user)


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """How a client authenticates: ``PLAINTEXT`` (none) or ``SASL_PLAINTEXT`` / ``SASL_SSL``
    with a SCRAM user. ``repr`` never shows the password."""

    protocol: str = "PLAINTEXT"
    mechanism: str = SCRAM_SHA_512
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # SASL_SSL: the CA bundle that signed the brokers' certificates (else the system's).
    cafile: str | None = None

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.upper().startswith("SASL_")

    @property
    def principal(self) -> str | None:
        """``User:<name>`` as the broker's authorizer sees it; None without SASL."""
        return f"User:{self.username}" if self.uses_sasl and self.username else None

    def faststream(self) -> Any:
        """The same as a FastStream ``security=`` object, for its ``KafkaBroker`` (None
        for plain PLAINTEXT). FastStream is imported only when this is called."""
        from faststream.security import BaseSecurity, SASLScram256, SASLScram512

        tls = self.protocol.upper().endswith("SSL")
        context = ssl.create_default_context(cafile=self.cafile) if tls else None
        if not self.uses_sasl:
            return BaseSecurity(ssl_context=context, use_ssl=True) if tls else None
        if not self.username or self.password is None:
            raise ValueError(f"{self.protocol} needs a SASL username and password")
        scram = SASLScram512 if self.mechanism == SCRAM_SHA_512 else SASLScram256
        return scram(self.username, self.password, ssl_context=context, use_ssl=tls)

    def options(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer/Consumer/AdminClient/Client."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.protocol.upper().endswith("SSL"):
            options["ssl_context"] = ssl.create_default_context(cafile=self.cafile)
        if not self.uses_sasl:
            return options
        if not self.username or self.password is None:
            raise ValueError(f"{self.protocol} needs a SASL username and password")
        return {
            **options,
            "sasl_mechanism": self.mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
        }


NO_SECURITY = KafkaSecurity()
"""For tests without a broker (``unused:9092``); never for a real broker."""


def security_of(settings: ServiceSettings) -> KafkaSecurity:
    """The service's own principal, from its settings."""
    return KafkaSecurity(
        protocol=settings.kafka_security_protocol,
        mechanism=settings.kafka_sasl_mechanism,
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password,
        cafile=settings.kafka_ssl_cafile,
    )


def client_options(settings: ServiceSettings) -> dict[str, Any]:
    """``bootstrap_servers`` and the security options of the service's own principal."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        **security_of(settings).options(),
    }


def admin_security(env: Mapping[str, str] | None = None) -> KafkaSecurity:
    """The broker's super user, for operator tools (topics, ACLs, dead-letter replay) and
    the tests' own clients: ``KAFKA_ADMIN_USERNAME`` (admin), ``KAFKA_ADMIN_PASSWORD``
    (the local-only default), ``KAFKA_SECURITY_PROTOCOL`` (SASL_PLAINTEXT),
    ``KAFKA_SASL_MECHANISM`` (SCRAM-SHA-512)."""
    env = os.environ if env is None else env
    user = env.get("KAFKA_ADMIN_USERNAME") or ADMIN_USER
    return KafkaSecurity(
        protocol=env.get("KAFKA_SECURITY_PROTOCOL") or SASL_PLAINTEXT,
        mechanism=env.get("KAFKA_SASL_MECHANISM") or SCRAM_SHA_512,
        username=user,
        password=env.get("KAFKA_ADMIN_PASSWORD") or local_password(user),
        cafile=env.get("KAFKA_SSL_CAFILE") or None,
    )


def bootstrap_from_env(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("KAFKA_BOOTSTRAP_SERVERS") or DEFAULT_BOOTSTRAP


def admin_options(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``bootstrap_servers`` (``KAFKA_BOOTSTRAP_SERVERS``) and the admin's options."""
    return {"bootstrap_servers": bootstrap_from_env(env), **admin_security(env).options()}


def principal_security(user: str, env: Mapping[str, str] | None = None) -> KafkaSecurity:
    """A named principal with its local-only password (tests of the ACLs)."""
    base = admin_security(env)
    return KafkaSecurity(
        protocol=base.protocol,
        mechanism=base.mechanism,
        username=user,
        password=local_password(user),
        cafile=base.cafile,
    )


@contextlib.asynccontextmanager
async def admin_client(
    bootstrap: str, security: KafkaSecurity | None = None
) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client of the broker, as ``security`` (the super user by default),
    closed on the way out: for the operator tools (ACLs, SCRAM users)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=10000,
        **(security or admin_security()).options(),
    )
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()
