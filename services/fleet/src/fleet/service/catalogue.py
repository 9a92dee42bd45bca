"""The price catalogue as fleet learns it from billing (``catalogue.published``)."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.catalogue import CataloguePublishedV1
from fleet import repository as repo
from fleet.deps import Deps
from fleet.domain.catalogue import Catalogue, valid_at
from fleet.models import CatalogueVersion
from servicekit.problems import ServiceUnavailable

log = logging.getLogger(__name__)

RETRY_AFTER_S = 30


async def store_version(session: AsyncSession, deps: Deps, p: CataloguePublishedV1) -> None:
    """Keep a version billing published; idempotent by version number."""
    document = p.model_dump(mode="json")
    Catalogue.from_document(document)  # a version fleet cannot read fails here, not later
    stored = await repo.add_catalogue_version(
        session,
        CatalogueVersion(
            version=p.catalogue_version,
            valid_from=p.valid_from,
            document=document,
            received_at=deps.now(),
        ),
    )
    if stored:
        log.info("price catalogue version received", extra={"version": p.catalogue_version})


async def known_catalogue(session: AsyncSession, deps: Deps) -> Catalogue | None:
    """The version valid now, or None before fleet received one."""
    return valid_at(await deps.catalogue.versions(session), deps.now())


async def current_catalogue(session: AsyncSession, deps: Deps) -> Catalogue:
    """The version valid now; 503 with Retry-After until billing's catalogue arrived."""
    found = await known_catalogue(session, deps)
    if found is None:
        raise ServiceUnavailable(
            "The price catalogue has not been received from billing yet; try again shortly",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    return found
