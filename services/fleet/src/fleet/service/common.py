"""What the use cases share: who acts, history entries, and the events of a SIM."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.fleet import SimChange, SimChangedV1
from contracts.events.notification import NotificationRequestedV1, RecipientV1
from contracts.types import Locale
from fleet.deps import Deps
from fleet.domain import catalogue
from fleet.domain.catalogue import valid_at
from fleet.models import Sim, SimHistory
from servicekit.auth import Principal

ActorKind = Literal["user", "operator", "service", "system"]
LOCALES: tuple[Locale, ...] = ("nl", "fr", "en")


def _locale(claim: object) -> Locale | None:
    return next((known for known in LOCALES if known == claim), None)


@dataclass(frozen=True)
class Actor:
    """Who asked for a change: recorded in the history and told about it."""

    kind: ActorKind
    id: str | None = None
    locale: Locale | None = None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(
            kind=principal.kind,
            id=principal.subject,
            locale=_locale(principal.claims.get("locale")),
        )

    @property
    def user_id(self) -> uuid.UUID | None:
        """The requesting portal user; operator staff and systems are not named in events."""
        if self.kind != "user" or self.id is None:
            return None
        return uuid.UUID(self.id)


SYSTEM = Actor("system")


def record_history(
    session: AsyncSession,
    sim: Sim,
    change: str,
    actor: Actor,
    *,
    from_value: str | None = None,
    to_value: str | None = None,
    at: datetime,
) -> SimHistory:
    entry = SimHistory(
        id=uuid.uuid4(),
        sim_id=sim.id,
        customer_id=sim.customer_id,
        change=change,
        from_value=from_value,
        to_value=to_value,
        actor_kind=actor.kind,
        actor_id=actor.id,
        at=at,
    )
    session.add(entry)
    return entry


def _fee(products: catalogue.Catalogue | None, sim: Sim) -> Decimal | None:
    if products is None:
        return None
    try:
        return products.monthly_fee(sim.tariff_plan, sim.option_codes)
    except catalogue.UnknownProduct:
        return None


def sim_changed(
    sim: Sim,
    change: SimChange,
    actor: Actor,
    *,
    previous: dict[str, str | None] | None = None,
    at: datetime,
    products: catalogue.Catalogue | None = None,
) -> SimChangedV1:
    """The SIM's state after the change. ``monthly_fee`` is informative (billing prices
    from its own catalogue, ADR 0014): null when fleet has no catalogue version pricing
    the subscription."""
    return SimChangedV1(
        sim_id=sim.id,
        customer_id=sim.customer_id,
        billing_account_id=sim.billing_account_id,
        msisdn=sim.msisdn,
        change=change,
        tariff_plan=sim.tariff_plan,
        options=sim.option_codes,
        end_user_id=sim.end_user_id,
        monthly_fee=_fee(products, sim),
        previous=previous or {},
        requested_by=actor.user_id,
        changed_at=at,
    )


async def publish_change(
    session: AsyncSession,
    deps: Deps,
    sim: Sim,
    change: SimChange,
    actor: Actor,
    *,
    previous: dict[str, str | None] | None = None,
    at: datetime,
) -> None:
    products = valid_at(await deps.catalogue.versions(session), at)
    payload = sim_changed(sim, change, actor, previous=previous, at=at, products=products)
    await deps.outbox.add(session, payload, subject=str(sim.id))


async def confirm_to_requester(
    session: AsyncSession,
    deps: Deps,
    sim: Sim,
    change: str,
    actor: Actor,
    *,
    request_id: uuid.UUID,
    detail: dict[str, str] | None = None,
) -> bool:
    """Ask the notifier to confirm a subscription change to the portal user who asked.

    Operator staff and systems get no confirmation: they are not portal users and have
    no entry in the notifier's directory. ``request_id`` is the history entry's id, so a
    change gives one message even if the event is delivered twice.
    """
    user_id = actor.user_id
    if user_id is None:
        return False
    payload = NotificationRequestedV1(
        request_id=request_id,
        customer_id=sim.customer_id,
        channel="email",
        template="sim_change_confirmation",
        locale=actor.locale or deps.settings.default_locale,
        to=RecipientV1(user_id=user_id),
        params={
            "msisdn": sim.msisdn,
            "change": change,
            "tariff_plan": sim.tariff_plan,
            **(detail or {}),
        },
    )
    await deps.outbox.add(session, payload, subject=str(request_id))
    return True
