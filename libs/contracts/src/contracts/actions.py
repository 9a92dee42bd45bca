"""The vocabulary of rights: every action a service may ask delegation about.

One list for the six services: a route names ``Action.INVOICE_READ``, never the string,
so a typo fails at import time rather than as a silent "not allowed". Delegation's
decision rules (services/delegation/src/delegation/domain/actions.py) cover exactly
these actions, and a test keeps the two in step.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    USER_MANAGE = "user.manage"
    # On the target user (resource type "user"): remove them. A manager not an access
    # owner; nobody the customer's last access owner.
    USER_REMOVE = "user.remove"
    # On the customer: appoint (invite) an access owner; access owners only.
    ACCESS_OWNER_APPOINT = "access_owner.appoint"
    # On the customer: give or withdraw the customer's notice of termination [2.2.2].
    CUSTOMER_TERMINATE = "customer.terminate"
    ROLE_GRANT = "role.grant"
    INVOICE_READ = "invoice.read"
    USAGE_READ = "usage.read"
    INVOICE_OBJECT = "invoice.object"
    SIM_READ = "sim.read"
    SIM_MANAGE = "sim.manage"
    DEVICE_READ = "device.read"
    PRODUCT_ORDER = "product.order"
    EINVOICE_MANAGE = "einvoice.manage"
    FLEET_MANAGER_ACTIVATE = "fleet_manager.activate"
    DELEGATION_THIRD_PARTY = "delegation.third_party"
    AUDIT_READ = "audit.read"


ACTIONS: frozenset[str] = frozenset(a.value for a in Action)


class UnknownAction(ValueError):
    """An action outside the vocabulary: a programming error, never a denial."""


def action(name: str) -> Action:
    """The action called ``name``; raises ``UnknownAction`` for anything else."""
    try:
        return Action(name)
    except ValueError:
        raise UnknownAction(f"unknown action {name!r}; known: {sorted(ACTIONS)}") from None
