"""The actions of the check API and what each needs.

| action                 | who / what it needs                                                  |
|------------------------|----------------------------------------------------------------------|
| user.manage            | access owner or access manager (a manager not on an access owner)    |
| user.remove            | the same, on the target user; nobody the customer's last access owner |
| access_owner.appoint   | access owner only (inviting a user with the access-owner profile)    |
| customer.terminate     | access owner only (the customer's notice of termination)             |
| role.grant             | access owner or access manager                                       |
| delegation.third_party | access owner only [9.2]                                              |
| audit.read             | access owner only [14.2]: the customer's audit trail                 |
| invoice.read           | my-invoice-online or invoice-insights + read                         |
| usage.read             | my-invoice-online, invoice-insights or fleet-manager + read;         |
|                        | a service user: their own SIM [8.6]                                  |
| invoice.object         | my-invoice-online or invoice-insights + manage                       |
| sim.read, device.read  | fleet-manager or mobile-numbers + read; a service user: own SIM      |
| sim.manage             | fleet-manager or mobile-numbers + manage; a service user: own SIM    |
|                        | with self-service rights (manage or order)                           |
| product.order          | order (any application), or the ``purchaser`` sub-profile;           |
|                        | a service user: own SIM with an order right                          |
| einvoice.manage        | my-invoice-online + manage                                           |
| fleet_manager.activate | access owner, or order / purchaser on fleet-manager for the whole    |
|                        | customer                                                             |

The access owner may do everything in its customer and in the affiliated companies
listed at registration [8.2, 9.1]. "manage" includes "read"; "order" does not.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.actions import Action

APPLICATIONS: tuple[str, ...] = (
    "user-management",
    "my-invoice-online",
    "invoice-insights",
    "fleet-manager",
    "mobile-numbers",
)
PERMISSIONS: tuple[str, ...] = ("read", "manage", "order")

INVOICE_APPS = frozenset({"my-invoice-online", "invoice-insights"})
FLEET_APPS = frozenset({"fleet-manager", "mobile-numbers"})

ADMIN_ACTIONS = frozenset({"user.manage", "user.remove", "role.grant"})
OWNER_ONLY_ACTIONS = frozenset(
    {"delegation.third_party", "audit.read", "access_owner.appoint", "customer.terminate"}
)


@dataclass(frozen=True)
class Right:
    """What a portal user's grant must hold for a data action."""

    applications: frozenset[str] | None  # None: any application
    permission: str
    subprofile: str | None = None  # a sub-profile that gives the right as well
    whole_customer: bool = False  # the grant must not be limited to some accounts/SIMs


DATA_RIGHTS: dict[str, Right] = {
    "invoice.read": Right(INVOICE_APPS, "read"),
    "usage.read": Right(INVOICE_APPS | {"fleet-manager"}, "read"),
    "invoice.object": Right(INVOICE_APPS, "manage"),
    "sim.read": Right(FLEET_APPS, "read"),
    "device.read": Right(FLEET_APPS, "read"),
    "sim.manage": Right(FLEET_APPS, "manage"),
    "product.order": Right(None, "order", subprofile="purchaser"),
    "einvoice.manage": Right(frozenset({"my-invoice-online"}), "manage"),
    "fleet_manager.activate": Right(
        frozenset({"fleet-manager"}), "order", subprofile="purchaser", whole_customer=True
    ),
}

# [8.6] What a service user may do on a SIM of which they are the end user.
OWN_SIM_READS = frozenset({"sim.read", "device.read", "usage.read"})
# ...and, only with self-service rights given by a manager, on their own subscription.
SELF_SERVICE: dict[str, frozenset[str]] = {
    "sim.manage": frozenset({"manage", "order"}),
    "product.order": frozenset({"order"}),
}

# The vocabulary is shared with the other services (contracts.actions); the rules above
# must cover exactly it.
ACTIONS: tuple[str, ...] = tuple(a.value for a in Action)

assert set(ACTIONS) == ADMIN_ACTIONS | OWNER_ONLY_ACTIONS | set(DATA_RIGHTS)
