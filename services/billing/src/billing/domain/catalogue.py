"""The price catalogue: plans, options, allowances, fees, prices per zone, promotions.

Billing owns it (ADR 0014). Each version is a whole document valid from a moment
(``valid_from``) until the next version's; a price change is a new version, so what was
rated before its date keeps the old prices. The seed versions live in
``billing/catalogue/seed.json``; they are stored in ``catalogue_versions`` and published on
``catalogue.published`` for fleet. Amounts are EUR excluding VAT; data in MB
(allowances) and the standard price per started MB (1 MB = 1,000,000 bytes).
"""

from __future__ import annotations

import bisect
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from importlib import resources
from typing import Any

from billing.domain.rating import PriceList, Tariff, Zone


class UnknownPlan(ValueError):
    """A plan or option code the catalogue valid at that moment does not price."""


class NoCatalogue(LookupError):
    """No catalogue version is valid at that moment."""


@dataclass(frozen=True)
class Plan:
    code: str
    name: str
    monthly_fee: Decimal
    data_mb: int | None  # None = unlimited
    voice_min: int | None  # national minutes; None = unlimited
    sms: int | None  # national messages; None = unlimited
    description: str = ""


@dataclass(frozen=True)
class Option:
    code: str
    name: str
    monthly_fee: Decimal
    compatible_plans: frozenset[str] | None  # None = every plan
    extra_data_mb: int = 0
    # Per-minute rates that replace the standard price for calls to these zones.
    voice_rates: Mapping[Zone, Decimal] | None = None
    description: str = ""


@dataclass(frozen=True)
class Promotion:
    """A percentage off the subscription fees, applied when the invoice is made; limited
    to some plans and/or some customers when those are given."""

    code: str
    name: str
    percent: Decimal
    plans: frozenset[str] | None = None
    customer_ids: frozenset[uuid.UUID] | None = None

    def applies(self, customer_id: uuid.UUID, plan_code: str) -> bool:
        return (self.plans is None or plan_code in self.plans) and (
            self.customer_ids is None or customer_id in self.customer_ids
        )


def _money(value: Any) -> Decimal:
    return Decimal(str(value))


@dataclass(frozen=True)
class CatalogueVersion:
    version: int
    valid_from: datetime
    prices: PriceList
    plans: Mapping[str, Plan]
    options: Mapping[str, Option]
    promotions: tuple[Promotion, ...] = ()

    def plan(self, code: str) -> Plan:
        try:
            return self.plans[code]
        except KeyError:
            raise UnknownPlan(
                f"tariff plan {code!r} is not in catalogue version {self.version}"
            ) from None

    def option(self, code: str) -> Option:
        try:
            return self.options[code]
        except KeyError:
            raise UnknownPlan(
                f"option {code!r} is not in catalogue version {self.version}"
            ) from None

    def monthly_fee(self, plan_code: str, option_codes: Iterable[str]) -> Decimal:
        fee = self.plan(plan_code).monthly_fee
        return fee + sum((self.option(c).monthly_fee for c in option_codes), Decimal("0"))

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> CatalogueVersion:
        """Parse (and so validate) one version's document; ValueError/KeyError if bad."""
        prices = PriceList(
            zones={
                Zone(z): Tariff(_money(t["voice_per_minute"]), _money(t["sms_per_message"]))
                for z, t in doc["prices"].items()
            },
            data_per_mb=_money(doc["data_per_mb"]),
        )
        if set(prices.zones) != set(Zone):
            raise ValueError("prices must cover every zone: " + ", ".join(Zone))
        plans = {
            p["code"]: Plan(
                code=p["code"],
                name=p["name"],
                monthly_fee=_money(p["monthly_fee"]),
                data_mb=p["data_mb"],
                voice_min=p["voice_min"],
                sms=p["sms"],
                description=p.get("description", ""),
            )
            for p in doc["tariff_plans"]
        }
        options = {
            o["code"]: Option(
                code=o["code"],
                name=o["name"],
                monthly_fee=_money(o["monthly_fee"]),
                compatible_plans=frozenset(o["compatible_plans"])
                if o.get("compatible_plans") is not None
                else None,
                extra_data_mb=int(o.get("extra_data_mb", 0)),
                voice_rates={Zone(z): _money(r) for z, r in (o.get("voice_rates") or {}).items()},
                description=o.get("description", ""),
            )
            for o in doc["options"]
        }
        promotions = tuple(
            Promotion(
                code=p["code"],
                name=p["name"],
                percent=_money(p["percent"]),
                plans=frozenset(p["plans"]) if p.get("plans") is not None else None,
                customer_ids=frozenset(uuid.UUID(c) for c in p["customer_ids"])
                if p.get("customer_ids") is not None
                else None,
            )
            for p in doc.get("promotions", [])
        )
        valid_from = datetime.fromisoformat(doc["valid_from"])
        if valid_from.tzinfo is None:
            raise ValueError("valid_from must carry a time zone")
        return cls(
            version=int(doc["version"]),
            valid_from=valid_from,
            prices=prices,
            plans=plans,
            options=options,
            promotions=promotions,
        )


class CatalogueHistory:
    """Every known version, by validity: the version valid at a moment is the one with the
    latest ``valid_from`` not after it."""

    def __init__(self, versions: Iterable[CatalogueVersion]) -> None:
        self.versions = sorted(versions, key=lambda v: (v.valid_from, v.version))
        self._starts = [v.valid_from for v in self.versions]

    def valid_at(self, moment: datetime) -> CatalogueVersion:
        i = bisect.bisect_right(self._starts, moment)
        if i == 0:
            raise NoCatalogue(f"no catalogue version is valid at {moment.isoformat()}")
        return self.versions[i - 1]

    def __bool__(self) -> bool:
        return bool(self.versions)


def seed_documents() -> list[dict[str, Any]]:
    """The versions shipped with the service (``billing/catalogue/seed.json``)."""
    text = resources.files("billing.catalogue").joinpath("seed.json").read_text("utf-8")
    docs: list[dict[str, Any]] = json.loads(text)["versions"]
    for doc in docs:
        CatalogueVersion.from_document(doc)  # a broken seed fails at start-up
    return docs


def seed_history() -> CatalogueHistory:
    return CatalogueHistory(CatalogueVersion.from_document(d) for d in seed_documents())
