"""Who may see or change a billing account's delivery, declared in the routes' signatures.

Each dependency loads the account (404 when billing does not know it, 503 when billing
cannot answer) and applies servicekit's one 404/403 rule: a caller who may not see the
account learns nothing of it (404); one who may see it but not change it gets 403.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from contracts.actions import Action
from einvoice import service
from einvoice.deps import DepsDep
from einvoice.models import BillingAccount
from servicekit.app import SessionDep
from servicekit.auth import CurrentPrincipal
from servicekit.delegation_client import Resource
from servicekit.problems import Forbidden

READ, MANAGE = Action.INVOICE_READ, Action.EINVOICE_MANAGE


def _resource(acct: BillingAccount) -> Resource:
    return Resource(
        "billing_account",
        acct.billing_account_id,
        acct.customer_id,
        billing_account_id=acct.billing_account_id,
    )


async def readable_account(
    billing_account_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> BillingAccount:
    """Seeing the delivery settings and log: whoever may read the invoices or manage
    delivery."""
    acct = await service.account(session, deps, billing_account_id)
    await deps.delegation.require(principal, _resource(acct), READ, MANAGE)
    return acct


async def manageable_account(
    billing_account_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> BillingAccount:
    """Changing the delivery needs einvoice.manage; 403 only for those who may read.

    A fixed-line account's channel is the customer's: choosing it changes the delivery of
    every fixed account, so it needs einvoice.manage on each of them."""
    acct = await service.account(session, deps, billing_account_id)
    await deps.delegation.require(principal, _resource(acct), MANAGE, visible_with=READ)
    if acct.kind == "fixed" and principal.kind == "user":
        others = await service.fixed_accounts_of(session, acct.customer_id)
        decisions = await deps.delegation.check_many(
            principal.subject, MANAGE, [_resource(a) for a in others]
        )
        if not all(d.allowed for d in decisions):
            raise Forbidden(
                "The fixed-line delivery channel is the customer's: changing it needs "
                "einvoice.manage on every fixed-line billing account"
            )
    return acct


ReadableAccount = Annotated[BillingAccount, Depends(readable_account)]
ManageableAccount = Annotated[BillingAccount, Depends(manageable_account)]
