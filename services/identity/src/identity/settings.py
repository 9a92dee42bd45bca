"""Identity's settings (env prefix ``IDENTITY_``)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings

SERVICE_NAMES = ("identity", "delegation", "billing", "fleet", "einvoice", "notifier")
DEV_KEY_PASSPHRASE = "change-me"


def _dev_service_clients() -> dict[str, str]:
    return dict.fromkeys(SERVICE_NAMES, "dev-secret")


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    service_name: str = "identity"
    port: int = 8001

    # Base of the links in confirmation mails (the public address of this service, or of
    # the web front end that forwards the token to POST /v1/users/confirm).
    public_url: str = "http://127.0.0.1:8001"

    # Encrypts the private signing keys stored in the database (PKCS#8, AES-256).
    key_passphrase: str = DEV_KEY_PASSPHRASE
    # Retired keys stay in the JWKS this long, so tokens they signed still verify.
    retired_key_grace_s: int = 24 * 3600

    access_token_ttl_s: int = Field(default=15 * 60, ge=60, le=3600)
    refresh_token_ttl_s: int = Field(default=14 * 24 * 3600, ge=3600)
    confirmation_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)

    # OAuth2 client credentials of the services: JSON object client_id -> secret.
    service_clients: dict[str, str] = Field(default_factory=_dev_service_clients)

    # The operator-staff account created (or updated) at start-up.
    operator_email: str = "operator@portal.local"
    operator_password: str = "operator-dev-password"

    # Failed-login throttling (fixed windows in Redis).
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_ip: int = Field(default=20, ge=1)
    login_failure_window_s: int = Field(default=15 * 60, ge=1)
    throttle_key_prefix: str = "identity:throttle"

    # argon2id cost: OWASP's baseline (19 MiB, 2 passes, 1 lane), ~0.1 s per hash on a
    # small 2-core host; RFC 9106's 64 MiB/t=3/p=4 took 0.5 s there, too slow for logins.
    # Raising it later is safe: hashes are upgraded at the next successful login.
    password_time_cost: int = Field(default=2, ge=1)
    password_memory_kib: int = Field(default=19456, ge=8)
    password_parallelism: int = Field(default=1, ge=1)

    # The job that makes due terminations take effect [2.2.2]. Several instances may run
    # it at once (each due notice is claimed by one of them); disable it on some if wanted.
    termination_job_enabled: bool = True
    termination_job_interval_s: float = Field(default=300.0, gt=0)
    termination_job_batch_size: int = Field(default=100, ge=1, le=10_000)

    def secret_fields(self) -> list[str]:
        return [*super().secret_fields(), "key_passphrase", "operator_password"]

    @model_validator(mode="after")
    def _identity_safety(self) -> IdentitySettings:
        if self.environment == "production":
            weak = [cid for cid, secret in self.service_clients.items() if secret == "dev-secret"]
            if weak:
                raise ValueError(
                    "service_clients still use the development secret for: " + ", ".join(weak)
                )
            if len(self.key_passphrase) < 16:
                raise ValueError("key_passphrase must be at least 16 characters in production")
        if not self.operator_email or "@" not in self.operator_email:
            raise ValueError("operator_email must be an e-mail address")
        self.public_url = self.public_url.rstrip("/")
        return self
