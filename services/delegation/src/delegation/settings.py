"""Delegation's settings: ``DELEGATION_*`` from the environment."""

from __future__ import annotations

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
