"""Notification requests (to the notifier) and their outcomes (from the notifier).

``notification.requested`` is the only topic allowed to carry one-time links (in
``params``), and only the notifier reads it. ``notification.sent`` and
``notification.failed`` are public: they carry neither the address nor the content.
"""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, model_validator

from contracts.base import EventPayload
from contracts.types import E164, Email, Locale, NotificationChannel, PayloadPart

TEMPLATE_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"

TEMPLATES: dict[str, str] = {
    "user_confirmation": "New user: confirm the account. params: confirm_url; "
    "optional first_name, company_name",
    "email_change_confirmation": "Confirm a new login e-mail. params: confirm_url; "
    "optional first_name",
    "einvoice_email_confirmation": "Confirm the e-invoice e-mail address. params: confirm_url; "
    "optional billing_account_name",
    "invoice_available": "A new invoice (PDF attached for e-mail). params: invoice_number, "
    "period, total_incl_vat, due_date; optional company, billing_account_name",
    "invoice_objection": "An objection to an invoice was received, accepted or rejected. "
    "params: step (received, accepted, rejected), invoice_number; optional reason, "
    "credit_note_number",
    "invoice_available_sms": "SMS alert of a new invoice. params: invoice_number, "
    "total_incl_vat, due_date",
    "sim_change_confirmation": "A subscription change was applied. params: msisdn, change, "
    "tariff_plan; optional first_name",
    "account_deactivated": "The recipient's account was deactivated. optional params: "
    "first_name, company_name, reason",
    "account_deactivation_notice": "Users deactivated after 12 months unused. params: "
    "user_count; optional company_name",
    "application_deactivation_notice": "An application unused for 6 months was deactivated. "
    "params: application; optional company_name",
    "affiliate_linked": "The recipient's company was confirmed as an affiliate of another "
    "customer, whose access owner now administers it too. params: parent_company; optional "
    "first_name, company_name",
}
"""Template names for producers and the notifier to share, with the params each uses.

A convention, not enforced by the model: the notifier owns its templates and should
record a request for an unknown one as a failed notification.
"""


class RecipientV1(PayloadPart):
    """Who receives the message: a known user, and/or an explicit address."""

    user_id: UUID | None = Field(
        default=None,
        description="A user of the notifier's directory; their address is used when no "
        "explicit address is given.",
    )
    email: Email | None = None
    mobile: E164 | None = None

    @model_validator(mode="after")
    def _someone(self) -> RecipientV1:
        if self.user_id is None and self.email is None and self.mobile is None:
            raise ValueError("a recipient needs a user_id, an email or a mobile")
        return self


class AttachmentRefV1(PayloadPart):
    """A document the notifier fetches and attaches (e-mail only)."""

    kind: Literal["invoice_pdf"]
    invoice_id: UUID


class NotificationRequestedV1(EventPayload):
    """Send one message to one recipient. `request_id` makes a redelivery harmless."""

    event_type: ClassVar[str] = "notification.requested"
    version: ClassVar[int] = 1

    request_id: UUID = Field(description="Idempotency key: one message per request_id.")
    customer_id: UUID
    channel: NotificationChannel
    template: str = Field(pattern=TEMPLATE_NAME_PATTERN, examples=list(TEMPLATES))
    locale: Locale
    to: RecipientV1
    params: dict[str, str] = Field(
        default_factory=dict,
        description="Template parameters; may hold one-time links (this topic only).",
    )
    attachments: list[AttachmentRefV1] = Field(default_factory=list)

    @model_validator(mode="after")
    def _reachable(self) -> NotificationRequestedV1:
        if self.to.user_id is None:
            if self.channel == "email" and self.to.email is None:
                raise ValueError("an email notification needs to.email or to.user_id")
            if self.channel == "sms" and self.to.mobile is None:
                raise ValueError("an sms notification needs to.mobile or to.user_id")
        if self.channel == "sms" and self.attachments:
            raise ValueError("an sms notification cannot have attachments")
        return self

    def subject(self) -> str:
        return str(self.request_id)


class NotificationSentV1(EventPayload):
    """A message was handed to the SMTP server or SMS gateway. No address, no content."""

    event_type: ClassVar[str] = "notification.sent"
    version: ClassVar[int] = 1

    notification_id: UUID
    request_id: UUID | None = Field(
        default=None,
        description="The notification.requested it answers; null when the notifier sent "
        "it on another event (see source_event_id).",
    )
    source_event_id: str | None = Field(
        default=None, description="Id of the event that caused the message."
    )
    source_event_type: str | None = None
    customer_id: UUID
    recipient_user_id: UUID | None = None
    channel: NotificationChannel
    template: str
    attempts: int = Field(ge=1)
    sent_at: AwareDatetime

    def subject(self) -> str:
        return str(self.notification_id)


class NotificationFailedV1(EventPayload):
    """A message could not be delivered and the notifier gave up (permanent failure or
    retries exhausted). No address, no content."""

    event_type: ClassVar[str] = "notification.failed"
    version: ClassVar[int] = 1

    notification_id: UUID
    request_id: UUID | None = Field(
        default=None,
        description="The notification.requested it answers; null when the notifier sent "
        "it on another event (see source_event_id).",
    )
    source_event_id: str | None = Field(
        default=None, description="Id of the event that caused the message."
    )
    source_event_type: str | None = None
    customer_id: UUID
    recipient_user_id: UUID | None = None
    channel: NotificationChannel
    template: str
    attempts: int = Field(ge=0)
    error: str = Field(
        max_length=500,
        description="Short reason, e.g. 'smtp 550 mailbox unavailable'; never the address.",
    )
    failed_at: AwareDatetime

    def subject(self) -> str:
        return str(self.notification_id)
