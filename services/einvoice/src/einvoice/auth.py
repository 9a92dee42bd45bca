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
    """Changing the delivery needs einvoice.manage; 403 only for those who may read."""
    acct = await service.account(session, deps, billing_account_id)
    await deps.delegation.require(principal, _resource(acct), MANAGE, visible_with=READ)
    return acct


ReadableAccount = Annotated[BillingAccount, Depends(readable_account)]
ManageableAccount = Annotated[BillingAccount, Depends(manageable_account)]
