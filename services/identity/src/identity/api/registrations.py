"""Registration of customers and its review by operator staff."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Query

from identity.deps import DepsDep
from identity.models import Registration
from identity.schemas import (
    Accepted,
    AcceptIn,
    AddressOut,
    AffiliateOut,
    RegistrantOut,
    RegistrationCreated,
    RegistrationIn,
    RegistrationOut,
)
from identity.service import registrations
from servicekit.app import SessionDep
from servicekit.auth import OperatorPrincipal
from servicekit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page

router = APIRouter(tags=["registrations"])


@router.post("/v1/registrations", status_code=201, response_model=RegistrationCreated)
async def register(body: RegistrationIn, session: SessionDep, deps: DepsDep) -> RegistrationCreated:
    """Register a customer (no token needed). The agreement starts when operator staff
    accept; until then nothing is published."""
    reg = await registrations.submit(session, deps, body)
    return RegistrationCreated(
        registration_id=reg.id, customer_id=reg.customer_id, status=reg.status
    )


def _out(reg: Registration) -> RegistrationOut:
    return RegistrationOut(
        registration_id=reg.id,
        customer_id=reg.customer_id,
        status=reg.status,
        enterprise_number=reg.enterprise_number,
        company_name=reg.company_name,
        address=AddressOut.model_validate(reg.address),
        contact_email=reg.contact_email,
        wants_access_owner=reg.wants_access_owner,
        affiliates=reg.affiliates,
        registrant=RegistrantOut(
            email=reg.registrant_email,
            first_name=reg.registrant_first_name,
            last_name=reg.registrant_last_name,
            locale=reg.registrant_locale,
        ),
        created_at=reg.created_at,
        decided_at=reg.decided_at,
    )


@router.get("/v1/operator/registrations", response_model=Page[RegistrationOut])
async def list_registrations(
    operator: OperatorPrincipal,
    session: SessionDep,
    status: Literal["pending", "accepted", "rejected"] | None = Query(default=None),
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[RegistrationOut]:
    """Registrations, oldest first."""
    page = await registrations.list_registrations(
        session, status=status, cursor=cursor, limit=limit
    )
    return Page(items=[_out(r) for r in page.items], next_cursor=page.next_cursor)


@router.post("/v1/operator/registrations/{registration_id}/accept", response_model=Accepted)
async def accept(
    registration_id: UUID,
    operator: OperatorPrincipal,
    session: SessionDep,
    deps: DepsDep,
    body: AcceptIn | None = None,
) -> Accepted:
    """The agreement starts. [9.1] Listed affiliates become affiliates (the access owner
    administers them too) only when listed in ``confirmed_affiliates``; the answer says
    which affiliates are customers and warns when one already has its own access owner
    (who is told by mail). The body is optional: without it nothing is confirmed."""
    done = await registrations.accept(
        session, deps, registration_id, operator, body.confirmed_affiliates if body else []
    )
    return Accepted(
        customer_id=done.customer.id,
        status=done.customer.status,
        affiliates=[
            AffiliateOut(
                enterprise_number=a.enterprise_number,
                customer_id=a.customer_id,
                confirmed=a.confirmed,
                has_access_owner=a.has_access_owner,
            )
            for a in done.affiliates
        ],
        warnings=done.warnings,
    )


@router.post("/v1/operator/registrations/{registration_id}/reject", response_model=RegistrationOut)
async def reject(
    registration_id: UUID, operator: OperatorPrincipal, session: SessionDep, deps: DepsDep
) -> RegistrationOut:
    return _out(await registrations.reject(session, deps, registration_id, operator))
