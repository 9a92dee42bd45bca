"""Registration of a customer and its acceptance by operator staff [2.2.1, 8.1.2]."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from identity import audit
from identity import repository as repo
from identity.deps import Deps
from identity.domain import registrant_profile
from identity.models import Credential, Customer, Registration, User
from identity.schemas import RegistrationIn
from identity.service.confirmations import request_user_confirmation
from identity.service.events import customer_registered, user_created
from servicekit.auth import Principal
from servicekit.pagination import Page
from servicekit.problems import Conflict, NotFound

ENTERPRISE_TAKEN = "A registration for this enterprise number is already pending or accepted"
EMAIL_TAKEN = "This e-mail address already has an account or a pending registration"


async def submit(session: AsyncSession, deps: Deps, form: RegistrationIn) -> Registration:
    """Record a registration; nothing is published before operator staff accept it."""
    number = form.enterprise_number
    if await repo.pending_registration_for_enterprise(
        session, number
    ) or await repo.active_customer_for_enterprise(session, number):
        raise Conflict(ENTERPRISE_TAKEN, slug="registration-exists")
    email = form.registrant.email
    if await repo.user_by_email(session, email) or await repo.pending_registration_for_email(
        session, email
    ):
        raise Conflict(EMAIL_TAKEN, slug="email-taken")
    password_hash = await deps.passwords.hash(form.registrant.password.get_secret_value())
    registration = Registration(
        id=uuid.uuid4(),
        customer_id=uuid.uuid4(),
        status="pending",
        enterprise_number=number,
        company_name=form.company_name,
        address=form.address.model_dump(mode="json"),
        contact_email=str(form.contact_email),
        wants_access_owner=form.wants_access_owner,
        affiliates=list(form.affiliates),
        registrant_email=email,
        registrant_first_name=form.registrant.first_name,
        registrant_last_name=form.registrant.last_name,
        registrant_locale=form.registrant.locale,
        registrant_password_hash=password_hash,
        created_at=deps.now(),
    )
    session.add(registration)
    await repo.flush_or_conflict(session, ENTERPRISE_TAKEN)
    return registration


async def accept(
    session: AsyncSession, deps: Deps, registration_id: uuid.UUID, operator: Principal
) -> Customer:
    """The agreement starts: the customer and the registrant's account exist from now on,
    and ``customer.registered``, ``user.created`` and the confirmation mail request are
    written to the outbox in this same transaction."""
    registration = await repo.get_registration(session, registration_id, for_update=True)
    if registration is None:
        raise NotFound("No such registration")
    if registration.status != "pending":
        raise Conflict(f"The registration is already {registration.status}")
    if await repo.active_customer_for_enterprise(session, registration.enterprise_number):
        raise Conflict(ENTERPRISE_TAKEN, slug="registration-exists")
    if await repo.user_by_email(session, registration.registrant_email):
        raise Conflict(EMAIL_TAKEN, slug="email-taken")
    if registration.registrant_password_hash is None:  # pragma: no cover - pending implies it
        raise Conflict("The registration has no credential to carry over")

    now = deps.now()
    customer = Customer(
        id=registration.customer_id,
        registration_id=registration.id,
        status="active",
        enterprise_number=registration.enterprise_number,
        company_name=registration.company_name,
        address=registration.address,
        contact_email=registration.contact_email,
        wants_access_owner=registration.wants_access_owner,
        affiliates=registration.affiliates,
        accepted_at=now,
        created_at=now,
    )
    session.add(customer)
    await repo.flush_or_conflict(session, ENTERPRISE_TAKEN)
    user = User(
        id=uuid.uuid4(),
        kind="user",
        customer_id=customer.id,
        email=registration.registrant_email,
        first_name=registration.registrant_first_name,
        last_name=registration.registrant_last_name,
        locale=registration.registrant_locale,
        status="pending_confirmation",
        profile=registrant_profile(registration.wants_access_owner),
        subprofiles=[],
        contract_kind="management",
        registrant=True,
        created_at=now,
    )
    session.add(user)
    await repo.flush_or_conflict(session, EMAIL_TAKEN)
    session.add(
        Credential(
            user_id=user.id, password_hash=registration.registrant_password_hash, updated_at=now
        )
    )
    registration.status = "accepted"
    registration.decided_at = now
    registration.decided_by = operator.subject
    registration.registrant_password_hash = None  # it lives in credentials from now on

    await deps.outbox.add(session, customer_registered(customer, user, now))
    await deps.outbox.add(session, user_created(user, now))
    await request_user_confirmation(session, deps, user, company_name=customer.company_name)
    await audit.record(
        session,
        "registration.accepted",
        actor=operator.subject,
        outbox=deps.outbox,
        actor_kind=operator.kind,
        subject=registration.id,
        customer_id=customer.id,
        details={"registrant_user_id": str(user.id)},
        now=now,
    )
    await session.flush()
    return customer


async def reject(
    session: AsyncSession, deps: Deps, registration_id: uuid.UUID, operator: Principal
) -> Registration:
    registration = await repo.get_registration(session, registration_id, for_update=True)
    if registration is None:
        raise NotFound("No such registration")
    if registration.status != "pending":
        raise Conflict(f"The registration is already {registration.status}")
    now = deps.now()
    registration.status = "rejected"
    registration.decided_at = now
    registration.decided_by = operator.subject
    registration.registrant_password_hash = None
    await audit.record(
        session,
        "registration.rejected",
        actor=operator.subject,
        subject=registration.id,
        customer_id=registration.customer_id,
        now=now,
    )
    return registration


async def list_registrations(
    session: AsyncSession, *, status: str | None, cursor: str | None, limit: int
) -> Page[Registration]:
    return await repo.list_registrations(session, status=status, cursor=cursor, limit=limit)
