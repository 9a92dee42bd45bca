"""Billing settings, from the environment with the ``BILLING_`` prefix."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict
from stdnum import iban

from billing.domain.legal import enterprise_number_valid
from billing.domain.rating import DEFAULT_EXCLUDED_DESTINATIONS, validate_patterns
from servicekit.settings import ServiceSettings


class BillingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_", extra="ignore")

    service_name: str = "billing"
    port: int = 8003
    # usage.records arrives by the thousands a second: a poll's partitions are applied in
    # two concurrent transactions (ADR 30; bench/usage_ingestion.py).
    consumer_transactions: int = Field(default=2, ge=1, le=8)

    # Free and emergency numbers never shown or billed (art. 110 §3). Patterns match the
    # normalised national number: digits, "x" = any one digit, a trailing "*" = anything.
    # From the environment as JSON (["112","0800*"]) or comma separated (112,0800*).
    excluded_destinations: Annotated[list[str], NoDecode] = list(DEFAULT_EXCLUDED_DESTINATIONS)
    # Unbilled usage is shown only this long after the communication.
    unbilled_delay_hours: float = 8.0
    payment_term_days: int = 30
    objection_working_days: int = 5

    # The supplier on every invoice (Belgian VAT Code art. 53): the operator's legal name,
    # registered address, enterprise number (its VAT number is BE + it) and the account
    # customers pay to. Checked at start-up: a wrong number would make every invoice wrong.
    supplier_name: str = "Proximus NV"
    supplier_street: str = "Koning Albert II-laan"
    supplier_house_number: str = "27"
    supplier_postal_code: str = "1030"
    supplier_city: str = "Brussel"
    supplier_country: str = "BE"
    supplier_enterprise_number: str = "0202239951"
    supplier_iban: str = "BE48001123456727"
    supplier_bic: str = "GEBABEBB"

    # Billing runs: the worker polls for pending runs; a run's lease lets another
    # instance (or this one after a restart) resume a run whose worker died.
    billing_worker_enabled: bool = True
    billing_worker_poll_s: float = 1.0
    billing_run_lease_s: float = 60.0
    # Accounts invoiced per transaction: a few statements per chunk instead of a dozen per
    # account; a chunk must finish well within the lease.
    billing_run_chunk_accounts: int = 100
    # Worker processes rendering a chunk's PDFs and UBL documents while the database
    # writes it; 0 or 1: a thread of the service's own process (billing.service.documents).
    billing_render_processes: int = 0

    # The scheduler asks for one run per ended period, for every account, once the period
    # ended billing_schedule_delay_hours ago (late usage records from the network arrive
    # in the meantime). Idempotent per period across instances; checked every
    # billing_schedule_interval_s.
    billing_schedule_enabled: bool = True
    billing_schedule_delay_hours: float = Field(default=8.0, ge=0)
    billing_schedule_interval_s: float = Field(default=300.0, gt=0)

    # Retention (months); the job runs every retention_interval_s.
    retention_enabled: bool = True
    retention_interval_s: float = 6 * 3600
    retention_usage_months: int = 6
    retention_invoice_months: int = 12
    retention_fixed_pdf_months: int = 24

    @field_validator("supplier_enterprise_number")
    @classmethod
    def _valid_enterprise_number(cls, value: str) -> str:
        value = value.replace(".", "").replace(" ", "")
        if not enterprise_number_valid(value):
            raise ValueError("not a Belgian enterprise number (10 digits, mod-97 check)")
        return value

    @field_validator("supplier_iban")
    @classmethod
    def _valid_iban(cls, value: str) -> str:
        value = value.replace(" ", "").upper()
        if not iban.is_valid(value):
            raise ValueError("not a valid IBAN")
        return value

    @field_validator("supplier_bic")
    @classmethod
    def _valid_bic(cls, value: str) -> str:
        value = value.strip().upper()
        if not re.fullmatch(r"[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?", value):
            raise ValueError("not a BIC (8 or 11 characters)")
        return value

    @field_validator("excluded_destinations", mode="before")
    @classmethod
    def _parse_patterns(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [p.strip() for p in text.split(",") if p.strip()]
        return value

    @field_validator("excluded_destinations")
    @classmethod
    def _valid_patterns(cls, value: list[str]) -> list[str]:
        return validate_patterns(value)
