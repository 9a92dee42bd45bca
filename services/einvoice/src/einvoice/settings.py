"""Settings of the einvoice service (env prefix ``EINVOICE_``)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class EinvoiceSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EINVOICE_", extra="ignore")

    service_name: str = "einvoice"
    port: int = 8005

    # Billing owns billing accounts; we ask it once per account and cache the facts.
    # BILLING_URL is shared by every service that calls billing, so it is read unprefixed
    # too (the prefixed name wins when both are set).
    billing_url: str = Field(
        default="http://127.0.0.1:8003",
        validation_alias=AliasChoices("EINVOICE_BILLING_URL", "BILLING_URL", "billing_url"),
    )
    # Base of the confirmation link in the mail (the web front end in production).
    public_url: str = "http://127.0.0.1:8005"
    confirmation_ttl_days: int = Field(default=7, ge=1)
    # How often the job marks unconfirmed e-mail requests as expired.
    expiry_job_interval_s: float = Field(default=60.0, gt=0)
    # The bank-delivery job: how often it looks for due deliveries, how many per pass,
    # and the retry schedule when the bank adapter fails.
    bank_poll_interval_s: float = Field(default=2.0, gt=0)
    bank_batch_size: int = Field(default=20, ge=1)
    bank_retry_initial_s: float = Field(default=10.0, ge=0)
    bank_retry_max_s: float = Field(default=900.0, ge=0)
    # The Peppol-delivery job, likewise (the access point is at the edge).
    peppol_poll_interval_s: float = Field(default=2.0, gt=0)
    peppol_batch_size: int = Field(default=20, ge=1)
    peppol_retry_initial_s: float = Field(default=10.0, ge=0)
    peppol_retry_max_s: float = Field(default=900.0, ge=0)
    # Shared with the bank adapter: it signs its callbacks with HMAC-SHA256.
    bank_callback_secret: str = "dev-secret"

    def secret_fields(self) -> list[str]:
        return [*super().secret_fields(), "bank_callback_secret"]
