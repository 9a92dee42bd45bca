"""Use cases of the einvoice service (they flush, never commit)."""

from einvoice.service.accounts import account, fixed_accounts_of
from einvoice.service.channels import (
    bank_decision,
    cancel,
    choose_peppol,
    confirm_email,
    expire_due,
    get_delivery,
    request_bank_app,
    request_email,
    terminate_customer,
)
from einvoice.service.delivery import (
    deliver_invoice,
    hand_due_to_bank,
    list_deliveries,
    send_due_to_peppol,
)

__all__ = [
    "account",
    "bank_decision",
    "cancel",
    "choose_peppol",
    "confirm_email",
    "deliver_invoice",
    "expire_due",
    "fixed_accounts_of",
    "get_delivery",
    "hand_due_to_bank",
    "list_deliveries",
    "request_bank_app",
    "request_email",
    "send_due_to_peppol",
    "terminate_customer",
]
