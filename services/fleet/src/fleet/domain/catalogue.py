"""The product catalogue: tariff plans and options, and the rules for combining them.

Billing owns the catalogue (ADR 0014); fleet keeps every version it received on
``catalogue.published`` and orders are checked against the version valid now. Fees are
monthly, in EUR excluding VAT.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class TariffPlan:
    code: str
    name: str
    monthly_fee: Decimal
    data_mb: int | None  # None = unlimited
    voice_min: int | None
    sms: int | None
    description: str = ""


@dataclass(frozen=True)
class Option:
    code: str
    name: str
    monthly_fee: Decimal
    compatible_plans: frozenset[str] | None  # None = every plan
    extra_data_mb: int = 0
    description: str = ""

    def fits(self, plan_code: str) -> bool:
        return self.compatible_plans is None or plan_code in self.compatible_plans


class UnknownProduct(ValueError):
    """A plan or option code not in the catalogue (422)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field  # "tariff_plan" or "option"


class ProductConflict(ValueError):
    """A change that does not fit the subscription's current state (409)."""


@dataclass(frozen=True)
class Catalogue:
    """One version of the catalogue, as billing published it."""

    version: int
    valid_from: datetime
    plans: Mapping[str, TariffPlan]
    options: Mapping[str, Option]

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Catalogue:
        """From a ``catalogue.published`` payload as JSON (``model_dump(mode="json")``)."""
        return cls(
            version=int(doc["catalogue_version"]),
            valid_from=datetime.fromisoformat(doc["valid_from"]),
            plans={
                p["code"]: TariffPlan(
                    p["code"],
                    p["name"],
                    Decimal(p["monthly_fee"]),
                    p["data_mb"],
                    p["voice_min"],
                    p["sms"],
                    p.get("description", ""),
                )
                for p in doc["tariff_plans"]
            },
            options={
                o["code"]: Option(
                    o["code"],
                    o["name"],
                    Decimal(o["monthly_fee"]),
                    frozenset(o["compatible_plans"])
                    if o.get("compatible_plans") is not None
                    else None,
                    int(o.get("extra_data_mb", 0)),
                    o.get("description", ""),
                )
                for o in doc["options"]
            },
        )

    def plan(self, code: str) -> TariffPlan:
        try:
            return self.plans[code]
        except KeyError:
            raise UnknownProduct(
                f"unknown tariff plan {code!r}; known plans: {', '.join(self.plans)}",
                field="tariff_plan",
            ) from None

    def option(self, code: str) -> Option:
        try:
            return self.options[code]
        except KeyError:
            raise UnknownProduct(
                f"unknown option {code!r}; known options: {', '.join(self.options)}", field="option"
            ) from None

    def monthly_fee(self, plan_code: str, option_codes: Iterable[str]) -> Decimal:
        """The recurring fee of a subscription: its plan plus every active option."""
        total = self.plan(plan_code).monthly_fee + sum(
            (self.option(c).monthly_fee for c in option_codes), Decimal("0")
        )
        return total.quantize(Decimal("0.01"))

    def check_plan_change(self, current: str, new: str, options: Iterable[str]) -> TariffPlan:
        """The new plan, if the SIM may move to it with its current options."""
        target = self.plan(new)
        if new == current:
            raise ProductConflict(f"the SIM already has tariff plan {new}")
        misfits = sorted(c for c in options if not self.option(c).fits(new))
        if misfits:
            raise ProductConflict(
                f"option(s) {', '.join(misfits)} cannot be combined with {new}; remove them first"
            )
        return target

    def check_option_added(self, plan_code: str, options: Iterable[str], code: str) -> Option:
        chosen = self.option(code)
        if code in set(options):
            raise ProductConflict(f"the SIM already has option {code}")
        if not chosen.fits(plan_code):
            raise ProductConflict(f"option {code} cannot be combined with tariff plan {plan_code}")
        return chosen

    def check_option_removed(self, options: Iterable[str], code: str) -> Option:
        chosen = self.option(code)
        if code not in set(options):
            raise ProductConflict(f"the SIM does not have option {code}")
        return chosen

    def check_initial_subscription(self, plan_code: str, option_codes: Iterable[str]) -> list[str]:
        """Plan and options given at provisioning: all known, no duplicates, all compatible.

        Raises UnknownProduct (or ValueError) because at provisioning every misfit is bad
        input, not a conflict with an existing state."""
        self.plan(plan_code)
        codes = list(option_codes)
        if len(set(codes)) != len(codes):
            raise ValueError("an option is listed twice")
        for code in codes:
            if not self.option(code).fits(plan_code):
                raise ValueError(f"option {code} cannot be combined with tariff plan {plan_code}")
        return sorted(codes)

    def included_data_mb(self, plan_code: str, option_codes: Iterable[str]) -> int | None:
        base = self.plan(plan_code).data_mb
        if base is None:
            return None
        return base + sum(self.option(c).extra_data_mb for c in option_codes)


def valid_at(versions: Iterable[Catalogue], moment: datetime) -> Catalogue | None:
    """The version valid at ``moment``: the latest ``valid_from`` not after it."""
    valid = [v for v in versions if v.valid_from <= moment]
    return max(valid, key=lambda v: (v.valid_from, v.version), default=None)
