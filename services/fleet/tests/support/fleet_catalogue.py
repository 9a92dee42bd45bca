"""Billing's price catalogue as fleet receives it (``catalogue.published``), for tests:
the plans and options of billing's seed version."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from contracts.events.catalogue import (
    CataloguePublishedV1,
    OptionV1,
    TariffPlanV1,
    ZonePricesV1,
)
from fleet.domain.catalogue import Catalogue


def _zone(voice: str, sms: str) -> ZonePricesV1:
    return ZonePricesV1(voice_per_minute=Decimal(voice), sms_per_message=Decimal(sms))


def _plan(code: str, name: str, fee: str, data: int | None, voice: int | None, sms: int | None):
    return TariffPlanV1(
        code=code, name=name, monthly_fee=Decimal(fee), data_mb=data, voice_min=voice, sms=sms
    )


def catalogue_event(
    version: int = 1,
    valid_from: datetime = datetime(2020, 1, 1, tzinfo=UTC),
    *,
    smart_s_fee: str = "15.00",
) -> CataloguePublishedV1:
    return CataloguePublishedV1(
        catalogue_version=version,
        valid_from=valid_from,
        prices={
            "national": _zone("0.10", "0.08"),
            "eu": _zone("0.19", "0.06"),
            "world": _zone("1.00", "0.30"),
        },
        data_per_mb=Decimal("0.01"),
        tariff_plans=[
            _plan("SMART_S", "Smart S", smart_s_fee, 5_120, 300, 300),
            _plan("SMART_M", "Smart M", "25.00", 20_480, None, None),
            _plan("SMART_L", "Smart L", "40.00", 102_400, None, None),
            _plan("DATA_ONLY", "Data only", "10.00", 10_240, 0, 0),
        ],
        options=[
            OptionV1(code="ROAMING_EU", name="Roaming EU", monthly_fee=Decimal("5.00")),
            OptionV1(
                code="DATA_5GB",
                name="Extra data 5 GB",
                monthly_fee=Decimal("7.50"),
                extra_data_mb=5_120,
            ),
            OptionV1(
                code="INTL_CALLS",
                name="International calls",
                monthly_fee=Decimal("4.00"),
                compatible_plans=["SMART_S", "SMART_M", "SMART_L"],
                voice_rates={"eu": Decimal("0.10"), "world": Decimal("0.10")},
            ),
        ],
        published_at=datetime(2026, 11, 1, tzinfo=UTC),
    )


CATALOGUE = Catalogue.from_document(catalogue_event().model_dump(mode="json"))
