"""The price catalogue billing owns: stored, published on ``catalogue.published``, read
by rating and invoicing (ADR 0014)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing.deps import Deps
from billing.domain.catalogue import CatalogueHistory, CatalogueVersion, seed_documents
from billing.repository import catalogue as repo
from contracts.events.catalogue import (
    CataloguePublishedV1,
    OptionV1,
    PromotionV1,
    TariffPlanV1,
    ZonePricesV1,
)


def to_event(doc: dict[str, Any], published_at: datetime) -> CataloguePublishedV1:
    return CataloguePublishedV1(
        catalogue_version=int(doc["version"]),
        valid_from=datetime.fromisoformat(doc["valid_from"]),
        prices={
            zone: ZonePricesV1(
                voice_per_minute=Decimal(p["voice_per_minute"]),
                sms_per_message=Decimal(p["sms_per_message"]),
            )
            for zone, p in doc["prices"].items()
        },
        data_per_mb=Decimal(doc["data_per_mb"]),
        tariff_plans=[
            TariffPlanV1.model_validate({**p, "monthly_fee": Decimal(p["monthly_fee"])})
            for p in doc["tariff_plans"]
        ],
        options=[
            OptionV1.model_validate(
                {
                    **o,
                    "monthly_fee": Decimal(o["monthly_fee"]),
                    "voice_rates": {z: Decimal(r) for z, r in o.get("voice_rates", {}).items()},
                }
            )
            for o in doc["options"]
        ],
        promotions=[
            PromotionV1.model_validate({**p, "percent": Decimal(str(p["percent"]))})
            for p in doc.get("promotions", [])
        ],
        published_at=published_at,
    )


async def publish_catalogue(session: AsyncSession, deps: Deps) -> list[int]:
    """Store and publish every seed version not stored yet; the versions published.

    Idempotent and safe with several instances: a version is published by the instance
    whose insert stored it. A stored version is never changed (a change is a new version)."""
    known = set(await repo.version_numbers(session))
    published = []
    now = deps.now()
    for doc in seed_documents():
        version = CatalogueVersion.from_document(doc)
        if version.version in known:
            continue
        if await repo.insert_version(session, version.version, version.valid_from, doc, now):
            await deps.outbox.add(session, to_event(doc, now))
            published.append(version.version)
    return published


async def catalogue_history(session: AsyncSession, deps: Deps) -> CatalogueHistory:
    """Every stored version; on a first start, the seed is stored and published first."""
    history = await deps.catalogue.history(session)
    if not history:
        await publish_catalogue(session, deps)
        history = await deps.catalogue.history(session)
    return history
