"""Settings base: every service subclasses ``ServiceSettings`` with its own env prefix.

Values come from the environment (``<SERVICE>_DATABASE_URL``, ...). A few settings are
shared by all services and read without prefix (``KAFKA_BOOTSTRAP_SERVERS``,
``REDIS_URL``, ``OTEL_EXPORTER_OTLP_ENDPOINT``) so one environment can point the whole
system elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from servicekit.kafka import is_local_password, local_password

# Secrets that ship as development defaults; refused outside development.
DEV_PLACEHOLDER_SECRETS = frozenset({"dev-secret", "change-me", "operator-dev-password"})

REPO_ROOT = Path(__file__).resolve().parents[4]


def data_dir() -> Path:
    """Where embedded databases live: ``PORTAL_DATA_DIR``, else ``var/data`` in the repo."""
    return Path(os.environ.get("PORTAL_DATA_DIR", REPO_ROOT / "var" / "data"))


def default_sqlite_url(service: str) -> str:
    """Embedded default: one SQLite file per service."""
    path = data_dir() / f"{service}.db"
    return f"sqlite+aiosqlite:///{path}"


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses set ``model_config`` with their env prefix."""

    model_config = SettingsConfigDict(extra="ignore", env_nested_delimiter="__")

    service_name: str = "service"
    environment: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = ""
    run_migrations_on_start: bool = True

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers"),
    )
    # The service's own Kafka principal (ADR 24): SASL/SCRAM with <SERVICE>_KAFKA_SASL_USERNAME
    # (default: the service's name) and <SERVICE>_KAFKA_SASL_PASSWORD (default: the local
    # broker's local-only value, refused in production). PLAINTEXT only for a broker
    # without authentication.
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="SASL_PLAINTEXT",
        validation_alias=AliasChoices("KAFKA_SECURITY_PROTOCOL", "kafka_security_protocol"),
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = Field(
        default="SCRAM-SHA-512",
        validation_alias=AliasChoices("KAFKA_SASL_MECHANISM", "kafka_sasl_mechanism"),
    )
    kafka_ssl_cafile: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_SSL_CAFILE", "kafka_ssl_cafile"),
    )
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = Field(default="", repr=False)
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("REDIS_URL", "redis_url"),
    )
    otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT", "otlp_endpoint"),
    )
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("LOG_LEVEL", "log_level"))

    # Where identity serves its keys and tokens; every service verifies tokens offline.
    identity_url: str = Field(
        default="http://127.0.0.1:8001",
        validation_alias=AliasChoices("IDENTITY_URL", "identity_url"),
    )
    delegation_url: str = Field(
        default="http://127.0.0.1:8002",
        validation_alias=AliasChoices("DELEGATION_URL", "delegation_url"),
    )
    token_issuer: str = Field(
        default="portal-identity",
        validation_alias=AliasChoices("TOKEN_ISSUER", "token_issuer"),
    )
    token_audience: str = Field(
        default="portal", validation_alias=AliasChoices("TOKEN_AUDIENCE", "token_audience")
    )
    # This service's own OAuth2 client credentials at identity.
    client_id: str = ""
    client_secret: str = "dev-secret"

    # Consumer behaviour.
    consumer_max_attempts: int = 5
    consumer_backoff_initial_s: float = 0.2
    consumer_backoff_max_s: float = 5.0
    consumer_enabled: bool = True
    # Defaults to the service name: all instances of a service share one group.
    consumer_group: str = ""
    # "earliest" so a new group misses nothing; test stacks that share a broker with
    # old events start their fresh groups at "latest".
    consumer_offset_reset: Literal["earliest", "latest"] = "earliest"
    # A poll's partitions are applied in up to this many concurrent transactions, so
    # parsing and preparing one part overlaps the database's work on another (each
    # partition stays in one, in order). 1: the whole poll in one transaction.
    consumer_transactions: int = Field(default=1, ge=1, le=8)
    relay_enabled: bool = True
    relay_batch_size: int = 1000
    relay_poll_interval_s: float = 0.5
    # Decisions are cached this long at most; delegation.changed evicts them at once
    # (ADR 0022), the age is only the backstop for facts no event announces.
    delegation_cache_ttl_s: float = 5.0
    delegation_cache_size: int = 50_000
    # Read delegation.changed on every instance (no consumer group) to evict the decision
    # cache; off only in tests without a broker.
    delegation_changes_enabled: bool = True
    # Calls to delegation give up after this long; after this many failures in a row the
    # circuit opens and calls fail at once (503) for delegation_circuit_open_s.
    delegation_timeout_s: float = 1.0
    delegation_circuit_failures: int = 5
    delegation_circuit_open_s: float = 1.0
    http_timeout_s: float = 3.0
    # Verified access tokens kept (by SHA-256), each until its own expiry.
    token_cache_size: int = 10_000
    # Overload (ADR 0023): requests served at once, requests waiting for a slot, and how
    # long one may wait before it is refused with 503 and Retry-After (0 disables).
    overload_max_concurrency: int = 64
    overload_max_queue: int = 256
    overload_queue_timeout_s: float = 0.02
    overload_retry_after_s: int = 1
    # One log line per request from uvicorn. Off by default: the gateway writes the access
    # log (JSON, with the upstream's time), and every request is already a metric and a
    # span whose trace id is in the reply's X-Trace-Id; the line cost ~25 µs of CPU a
    # request, a tenth of a rights check, and was written for refused requests too.
    access_log: bool = False
    # Addresses whose X-Forwarded-For is believed (the API gateway's), comma-separated; a
    # client's address is taken from it only when the request comes from one of these.
    trusted_proxies: str = Field(
        default="127.0.0.1",
        validation_alias=AliasChoices("TRUSTED_PROXIES", "trusted_proxies"),
    )
    # How often Kafka, Redis and the database are probed for /healthz and the
    # dependency_up metric (readiness checks only the database, on each call).
    dependency_probe_interval_s: float = 10.0
    # How often inbox entries older than the consumed topics' retention are deleted.
    inbox_purge_interval_s: float = 3600.0
    # How often the broker is asked for the consumer group's lag (consumer_group_lag_events).
    lag_probe_interval_s: float = 30.0
    # Time allowed for stopping after SIGTERM once uvicorn has finished its requests
    # (Kubernetes' 30 s grace = 5 s preStop + 10 s uvicorn + this + a margin).
    shutdown_budget_s: float = 12.0

    @model_validator(mode="after")
    def _defaults_and_safety(self) -> ServiceSettings:
        if not self.database_url:
            self.database_url = default_sqlite_url(self.service_name)
        if not self.client_id:
            self.client_id = self.service_name
        if not self.consumer_group:
            self.consumer_group = self.service_name
        if not self.kafka_sasl_username:
            self.kafka_sasl_username = self.service_name
        if not self.kafka_sasl_password:
            self.kafka_sasl_password = local_password(self.kafka_sasl_username)
        if self.environment == "production":
            for name in self.secret_fields():
                if getattr(self, name) in DEV_PLACEHOLDER_SECRETS:
                    raise ValueError(f"{name} still has its development placeholder value")
            if self.kafka_security_protocol != "PLAINTEXT" and is_local_password(
                self.kafka_sasl_username, self.kafka_sasl_password
            ):
                raise ValueError("kafka_sasl_password still has its local-only value")
        return self

    def secret_fields(self) -> list[str]:
        """Names of settings that hold secrets; subclasses extend this list."""
        return ["client_secret", "kafka_sasl_password"]

    @property
    def jwks_url(self) -> str:
        return f"{self.identity_url}/.well-known/jwks.json"

    @property
    def token_url(self) -> str:
        return f"{self.identity_url}/v1/auth/token"
