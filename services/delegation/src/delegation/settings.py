"""Delegation's settings: ``DELEGATION_*`` from the environment."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class DelegationSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="DELEGATION_", extra="ignore", env_nested_delimiter="__"
    )

    service_name: str = "delegation"
    port: int = 8002
    # [9.2] Contracts end on a calendar day in Belgium: "today" is taken there.
    timezone: str = "Europe/Brussels"
    # How often assignments of people whose contract ended are revoked (and announced).
    # Decisions deny them at once anyway; the sweep makes the revocation visible.
    contract_sweep_interval_s: float = 900.0
    contract_sweep_enabled: bool = True
    # What decisions read (people, grants, SIMs, customers) is kept in memory and forgotten
    # on every change (ADR 0022); this age bounds what another instance changed without
    # announcing it on delegation.changed (a SIM's facts).
    projection_ttl_s: float = 5.0
    projection_max_entries: int = 200_000
    # Billing and fleet answer who owns a billing account or SIM named in a grant's scope.
    # Shared with the other services that call them, so read unprefixed.
    billing_url: str = Field(
        default="http://127.0.0.1:8003",
        validation_alias=AliasChoices("DELEGATION_BILLING_URL", "BILLING_URL", "billing_url"),
    )
    fleet_url: str = Field(
        default="http://127.0.0.1:8004",
        validation_alias=AliasChoices("DELEGATION_FLEET_URL", "FLEET_URL", "fleet_url"),
    )
