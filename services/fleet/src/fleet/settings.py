"""Fleet's settings, from the environment (prefix ``FLEET_``)."""

from __future__ import annotations

from typing import Literal

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class FleetSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FLEET_", extra="ignore")

    service_name: str = "fleet"
    port: int = 8004

    # Operator SIMs a customer needs for the fleet-manager application.
    fleet_manager_threshold: int = 30
    # Language of a confirmation when the token does not say; the notifier may prefer
    # the language in its own recipient directory.
    default_locale: Literal["nl", "fr", "en"] = "nl"
    # Upper bound of a CSV/XLSX export (one response, built in memory).
    export_max_rows: int = 50_000
    # Consumption counters are kept this many months (billing data: 12 months).
    counter_retention_months: int = 12
    retention_interval_s: float = 6 * 3600
