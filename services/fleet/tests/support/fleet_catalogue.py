"""Billing's price catalogue as fleet receives it (``catalogue.published``), for tests.

Version 1 is billing's seed version 1 (``billing/catalogue/seed.json``) exactly: tests
publish only that one on the shared broker, where the topic is kept forever and every
fleet reads it from the start. Other versions are handed to the use case directly."""

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


def _plan(
    code: str, name: str, fee: str, data: int | None, voice: int | None, sms: int | None, text: str
) -> TariffPlanV1:
    return TariffPlanV1(
        code=code,
        name=name,
        monthly_fee=Decimal(fee),
        data_mb=data,
        voice_min=voice,
        sms=sms,
        description=text,
    )


def catalogue_event(
    version: int = 1,
    valid_from: datetime = datetime(2019, 12, 31, 23, tzinfo=UTC),  # 1 Jan 2020, Brussels
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
            _plan("SMART_S", "Smart S", smart_s_fee, 5_120, 300, 300, "Light use"),
            _plan("SMART_M", "Smart M", "25.00", 20_480, None, None, "Unlimited calls"),
            _plan("SMART_L", "Smart L", "40.00", 102_400, None, None, "Heavy data"),
            _plan("DATA_ONLY", "Data only", "10.00", 10_240, 0, 0, "Tablets, routers"),
        ],
        options=[
            OptionV1(
                code="ROAMING_EU",
                name="Roaming EU",
                monthly_fee=Decimal("5.00"),
                description="Extra EU roaming",
            ),
            OptionV1(
                code="DATA_5GB",
                name="Extra data 5 GB",
                monthly_fee=Decimal("7.50"),
                extra_data_mb=5_120,
                description="5 GB more a month",
            ),
            OptionV1(
                code="INTL_CALLS",
                name="International calls",
                monthly_fee=Decimal("4.00"),
                compatible_plans=["SMART_S", "SMART_M", "SMART_L"],
                voice_rates={"eu": Decimal("0.10"), "world": Decimal("0.10")},
                description="Calls abroad at national rates",
            ),
        ],
        published_at=datetime(2026, 11, 1, tzinfo=UTC),
    )


CATALOGUE = Catalogue.from_document(catalogue_event().model_dump(mode="json"))
