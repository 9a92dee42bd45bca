"""Settings of the notifier, from ``NOTIFIER_*`` environment variables.

``BILLING_URL`` is shared by every service that calls billing, so it is read unprefixed.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="NOTIFIER_", extra="ignore", env_nested_delimiter="__"
    )

    service_name: str = "notifier"
    port: int = 8006

    # E-mail (NOTIFIER_SMTP_HOST, NOTIFIER_SMTP_PORT, ...).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    # None: upgrade with STARTTLS when the server offers it; true: require it; false: never.
    smtp_starttls: bool | None = None
    smtp_timeout_s: float = 30.0
    mail_from: str = "MyPortal <no-reply@portal.local>"
    # Right-hand side of the deterministic Message-ID <notification-id@domain>.
    message_id_domain: str = "portal.local"

    # SMS gateway: POST JSON {to, text}.
    sms_url: str = "http://127.0.0.1:8025/api/sms"
    sms_timeout_s: float = 5.0

    # Invoice PDFs come from billing, with this service's own token.
    billing_url: str = Field(
        default="http://127.0.0.1:8003",
        validation_alias=AliasChoices("BILLING_URL", "billing_url"),
    )
    billing_timeout_s: float = 5.0

    # The sender loop.
    sender_enabled: bool = True
    sender_poll_interval_s: float = 1.0
    sender_batch_size: int = 20
    max_attempts: int = 8
    retry_initial_s: float = 30.0
    retry_max_s: float = 3600.0
    # The mail server or SMS gateway unavailable (or refusing our credentials): retried
    # after this, without using up the message's attempts.
    outage_retry_s: float = 30.0
    # After this many provider failures in a row a channel's circuit opens: nothing is
    # sent on it for breaker_open_s, doubling up to breaker_open_max_s while it fails.
    breaker_failures: int = 3
    breaker_open_s: float = 15.0
    breaker_open_max_s: float = 300.0
    # A row left in "sending" longer than this was abandoned by a crashed instance; it
    # must exceed the longest send (SMTP timeout + PDF fetch) so a live send is not
    # taken over by another instance.
    sending_lease_s: float = 120.0
    # How long a request naming an unknown user waits for its user.created event.
    recipient_wait_s: float = 86400.0

    # Retention: one-time links (``*_url`` params) are dropped from finished
    # notifications after a while (they are expired by then anyway); the delivery log
    # itself is kept for a year and a month, then deleted.
    link_retention_days: float = 14.0
    log_retention_days: float = 400.0
    retention_interval_s: float = 3600.0

    def secret_fields(self) -> list[str]:
        return [*super().secret_fields(), "smtp_password"]
