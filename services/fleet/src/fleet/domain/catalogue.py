"""The product catalogue: tariff plans and options, and the rules for combining them.

Kept as data in code: it changes with a release (billing charges the same codes and
fees, so a new product is a coordinated change anyway). Fees are monthly, in EUR
excluding VAT.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal


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


TARIFF_PLANS: dict[str, TariffPlan] = {
    p.code: p
    for p in (
        TariffPlan("SMART_S", "Smart S", Decimal("15.00"), 5_120, 300, 300, "Light use"),
        TariffPlan("SMART_M", "Smart M", Decimal("25.00"), 20_480, None, None, "Unlimited calls"),
        TariffPlan("SMART_L", "Smart L", Decimal("40.00"), 102_400, None, None, "Heavy data"),
        TariffPlan("DATA_ONLY", "Data only", Decimal("10.00"), 10_240, 0, 0, "Tablets, routers"),
    )
}

OPTIONS: dict[str, Option] = {
    o.code: o
    for o in (
        Option("ROAMING_EU", "Roaming EU", Decimal("5.00"), None, 0, "Extra EU roaming"),
        Option("DATA_5GB", "Extra data 5 GB", Decimal("7.50"), None, 5_120, "5 GB more a month"),
        Option(
            "INTL_CALLS",
            "International calls",
            Decimal("4.00"),
            # A data-only subscription has no voice service to extend.
            frozenset({"SMART_S", "SMART_M", "SMART_L"}),
            0,
            "Calls abroad at national rates",
        ),
    )
}


class UnknownProduct(ValueError):
    """A plan or option code not in the catalogue (422)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field  # "tariff_plan" or "option"


class ProductConflict(ValueError):
    """A change that does not fit the subscription's current state (409)."""


def plan(code: str) -> TariffPlan:
    try:
        return TARIFF_PLANS[code]
    except KeyError:
        raise UnknownProduct(
            f"unknown tariff plan {code!r}; known plans: {', '.join(TARIFF_PLANS)}",
            field="tariff_plan",
        ) from None


def option(code: str) -> Option:
    try:
        return OPTIONS[code]
    except KeyError:
        raise UnknownProduct(
            f"unknown option {code!r}; known options: {', '.join(OPTIONS)}", field="option"
        ) from None


def monthly_fee(plan_code: str, option_codes: Iterable[str]) -> Decimal:
    """The recurring fee of a subscription: its plan plus every active option."""
    total = plan(plan_code).monthly_fee + sum(
        (option(c).monthly_fee for c in option_codes), Decimal("0")
    )
    return total.quantize(Decimal("0.01"))


def check_plan_change(current: str, new: str, options: Iterable[str]) -> TariffPlan:
    """The new plan, if the SIM may move to it with its current options."""
    target = plan(new)
    if new == current:
        raise ProductConflict(f"the SIM already has tariff plan {new}")
    misfits = sorted(c for c in options if not option(c).fits(new))
    if misfits:
        raise ProductConflict(
            f"option(s) {', '.join(misfits)} cannot be combined with {new}; remove them first"
        )
    return target


def check_option_added(plan_code: str, options: Iterable[str], code: str) -> Option:
    chosen = option(code)
    if code in set(options):
        raise ProductConflict(f"the SIM already has option {code}")
    if not chosen.fits(plan_code):
        raise ProductConflict(f"option {code} cannot be combined with tariff plan {plan_code}")
    return chosen


def check_option_removed(options: Iterable[str], code: str) -> Option:
    chosen = option(code)
    if code not in set(options):
        raise ProductConflict(f"the SIM does not have option {code}")
    return chosen


def check_initial_subscription(plan_code: str, option_codes: Iterable[str]) -> list[str]:
    """Plan and options given at provisioning: all known, no duplicates, all compatible.

    Raises UnknownProduct (or ValueError) because at provisioning every misfit is bad
    input, not a conflict with an existing state."""
    plan(plan_code)
    codes = list(option_codes)
    if len(set(codes)) != len(codes):
        raise ValueError("an option is listed twice")
    for code in codes:
        if not option(code).fits(plan_code):
            raise ValueError(f"option {code} cannot be combined with tariff plan {plan_code}")
    return sorted(codes)


def included_data_mb(plan_code: str, option_codes: Iterable[str]) -> int | None:
    base = plan(plan_code).data_mb
    if base is None:
        return None
    return base + sum(option(c).extra_data_mb for c in option_codes)
