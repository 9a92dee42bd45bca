"""Registration of a customer and its acceptance by operator staff [2.2.1, 8.1.2]."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.notification import NotificationRequestedV1, RecipientV1
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
from servicekit.problems import Conflict, NotFound, ValidationFailed

ENTERPRISE_TAKEN = "A registration for this enterprise number is already pending or accepted"
EMAIL_TAKEN = "This e-mail address already has an account or a pending registration"
# request ids of the affiliate notices: one mail per (parent, owner), also on a replay.
AFFILIATE_NOTICE = uuid.UUID("3f1c7a52-9d2e-4b8a-a6c1-5e0f9b7d2c41")


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


@dataclass(frozen=True)
class AffiliateDecision:
    enterprise_number: str
    customer_id: uuid.UUID | None
    confirmed: bool
    has_access_owner: bool


@dataclass(frozen=True)
class Acceptance:
    customer: Customer
    affiliates: list[AffiliateDecision] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


async def _affiliates(
    session: AsyncSession, deps: Deps, listed: list[str], confirmed: list[str]
) -> list[AffiliateDecision]:
    """[9.1] Each listed affiliate with operator staff's decision. Confirming a number the
    registration did not list, or one that is no (active) customer, is a 422: a link is
    made only to a company that exists, by an explicit decision, never later by itself."""
    errors = [
        {"field": "confirmed_affiliates", "message": f"{n} is not listed on the registration"}
        for n in confirmed
        if n not in listed
    ]
    decisions = []
    for number in listed:
        customer = await repo.active_customer_by_enterprise(session, number)
        if number in confirmed and customer is None:
            errors.append(
                {"field": "confirmed_affiliates", "message": f"{number} is not a customer"}
            )
        owners = await deps.profiles.access_owners(customer.id) if customer else []
        decisions.append(
            AffiliateDecision(
                enterprise_number=number,
                customer_id=customer.id if customer else None,
                confirmed=number in confirmed and customer is not None,
                has_access_owner=bool(owners),
            )
        )
    if errors:
        raise ValidationFailed(
            "Only listed affiliates that are customers can be confirmed", errors=errors
        )
    return decisions


async def _tell_affiliate_owners(
    session: AsyncSession, deps: Deps, parent: Customer, affiliate_id: uuid.UUID
) -> None:
    """Each access owner of a confirmed affiliate learns by mail that another customer's
    access owner now administers their company too."""
    affiliate = await repo.get_customer(session, affiliate_id)
    for owner_id in await deps.profiles.access_owners(affiliate_id):
        owner = await repo.get_user(session, owner_id)
        if owner is None or owner.status == "deactivated" or owner.customer_id != affiliate_id:
            continue
        await deps.outbox.add(
            session,
            NotificationRequestedV1(
                request_id=uuid.uuid5(AFFILIATE_NOTICE, f"{parent.id}:{owner.id}"),
                customer_id=affiliate_id,
                channel="email",
                template="affiliate_linked",
                locale=owner.locale,  # type: ignore[arg-type]  # stored from a Locale
                to=RecipientV1(user_id=owner.id, email=owner.email),
                params={
                    "parent_company": parent.company_name,
                    "first_name": owner.first_name,
                    "company_name": affiliate.company_name if affiliate else "",
                },
            ),
        )


async def accept(
    session: AsyncSession,
    deps: Deps,
    registration_id: uuid.UUID,
    operator: Principal,
    confirmed_affiliates: list[str] | None = None,
) -> Acceptance:
    """The agreement starts: the customer and the registrant's account exist from now on,
    and ``customer.registered``, ``user.created`` and the confirmation mail request are
    written to the outbox in this same transaction. Listed affiliates become affiliates
    only when confirmed here (``confirmed_affiliates``, enterprise numbers) [9.1]."""
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
    affiliates = await _affiliates(
        session, deps, list(registration.affiliates), list(confirmed_affiliates or [])
    )
    linked = [a.customer_id for a in affiliates if a.confirmed and a.customer_id is not None]

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
        confirmed_affiliates=[str(c) for c in linked],
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
    warnings = []
    for a in affiliates:
        if a.confirmed and a.has_access_owner and a.customer_id is not None:
            await _tell_affiliate_owners(session, deps, customer, a.customer_id)
            warnings.append(
                f"Affiliate {a.enterprise_number} is already a customer with its own access "
                "owner; its access owners were told of the link by mail"
            )
    await audit.record(
        session,
        "registration.accepted",
        actor=operator.subject,
        outbox=deps.outbox,
        actor_kind=operator.kind,
        subject=registration.id,
        customer_id=customer.id,
        details={
            "registrant_user_id": str(user.id),
            "confirmed_affiliates": ",".join(str(c) for c in linked),
        },
        now=now,
    )
    await session.flush()
    return Acceptance(customer, affiliates, warnings)


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
