"""Confirmation links, the caller, and the users of a customer."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Response

from identity.api.auth import AdministeredCustomer, InvitingCustomer, ManagedUser
from identity.deps import DepsDep
from identity.models import User
from identity.schemas import (
    Confirmed,
    ConfirmIn,
    ContractOut,
    Invited,
    InviteIn,
    LinkStatus,
    Me,
    UserOut,
)
from identity.service import confirmations, users
from servicekit.app import SessionDep
from servicekit.auth import CurrentPrincipal
from servicekit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page

router = APIRouter(tags=["users"])


@router.post("/v1/users/confirm", response_model=Confirmed)
async def confirm(body: ConfirmIn, session: SessionDep, deps: DepsDep) -> Confirmed:
    """Confirm an account with the token of the mailed link. ``password`` is required for
    invited users and ignored for a registrant. Unknown token: 400; used or expired: 410."""
    password = body.password.get_secret_value() if body.password else None
    user = await confirmations.confirm_user(session, deps, body.token, password)
    return Confirmed(user_id=user.id, status=user.status)


@router.get("/v1/users/confirm", response_model=LinkStatus)
async def check_link(
    session: SessionDep, deps: DepsDep, token: str = Query(min_length=1, max_length=200)
) -> LinkStatus:
    """What the mailed link opens: whether it is still valid and needs a password. It
    does not confirm anything (mail scanners follow links); POST does."""
    return await confirmations.check_link(session, deps, token)


@router.get("/v1/me", response_model=Me)
async def me(principal: CurrentPrincipal, session: SessionDep, deps: DepsDep) -> Me:
    """The caller; ``profile`` is what delegation holds now (the one truth about rights),
    not the profile given at invitation."""
    user = await users.me(session, principal)
    current = await users.current_profile(deps, user)
    return Me(
        user_id=user.id,
        kind=user.kind,
        customer_id=user.customer_id,
        email=user.email,
        first_name=user.first_name,
        last_name=user.last_name,
        locale=user.locale,
        status=user.status,
        profile=current.profile,
        subprofiles=current.subprofiles,
    )


def _out(user: User) -> UserOut:
    return UserOut(
        user_id=user.id,
        customer_id=user.customer_id,
        email=user.email,
        first_name=user.first_name,
        last_name=user.last_name,
        locale=user.locale,
        mobile=user.mobile,
        status=user.status,
        profile=user.profile,
        subprofiles=list(user.subprofiles or []),
        contract=ContractOut(kind=user.contract_kind, ends_on=user.contract_ends_on),
        created_at=user.created_at,
    )


@router.post("/v1/customers/{customer_id}/users", status_code=201, response_model=Invited)
async def invite(
    customer: InvitingCustomer,
    body: InviteIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> Invited:
    """Invite a user (access owners and managers); the invitee gets a confirmation mail."""
    user = await users.invite(session, deps, principal, customer, body)
    return Invited(user_id=user.id, status=user.status)


@router.get("/v1/customers/{customer_id}/users", response_model=Page[UserOut])
async def list_users(
    customer: AdministeredCustomer,
    session: SessionDep,
    status: Literal["invited", "pending_confirmation", "active", "deactivated"] | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[UserOut]:
    """The customer's users, oldest first."""
    page = await users.list_users(session, customer, status=status, cursor=cursor, limit=limit)
    return Page(items=[_out(u) for u in page.items], next_cursor=page.next_cursor)


@router.delete("/v1/customers/{customer_id}/users/{user_id}", status_code=204)
async def deactivate(
    # Named here too, though ManagedUser checks it: the path parameters stay in order.
    customer: AdministeredCustomer,
    user: ManagedUser,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> Response:
    """Deactivate a user: they can no longer log in and all their rights go."""
    await users.deactivate(session, deps, principal, user)
    return Response(status_code=204)
