"""The contract applied when the invoice is made: allowances, options, proration, price
changes and promotions, each with exact euro amounts (seed catalogue: Smart S 15.00 with
300 min, 300 SMS, 5,120 MB; Smart M 25.00 unlimited calls and SMS, 20,480 MB; DATA_5GB
7.50 for 5,120 MB more; INTL_CALLS 4.00, EU and world calls at 0.10/min; standard prices
national 0.10/min, 0.08/SMS, world 1.00/min, EU 0.19/min, data 0.01/MB)."""

import copy
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from billing.domain.calendar import Period
from billing.domain.catalogue import CatalogueHistory, CatalogueVersion, seed_documents
from billing.domain.charging import (
    SimState,
    SimTimeline,
    Subscribed,
    UsageIn,
    charge_usage,
    promotions,
    prorated_fees,
)
from billing.domain.rating import Zone

MB = 1_000_000
NOV = Period(2026, 11)
SEED = seed_documents()[0]


def history(*docs: dict) -> CatalogueHistory:
    return CatalogueHistory(CatalogueVersion.from_document(d) for d in docs)


CATALOGUE = history(SEED)


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def usage(i: int, kind: str, quantity: int, *, day: int = 2, zone: Zone = Zone.NATIONAL):
    return UsageIn(f"r{i:03d}", kind, zone, at(day) + timedelta(minutes=i), quantity)


def always(plan: str, *options: str):
    return lambda moment: Subscribed(plan, tuple(options))


def test_500_mb_on_smart_s_costs_nothing():
    charged = charge_usage([usage(1, "data", 500 * MB)], always("SMART_S"), CATALOGUE)
    assert charged == {"r001": Decimal("0.00")}


def test_a_data_session_crossing_the_allowance_is_charged_only_beyond_it():
    records = [usage(1, "data", 5_000 * MB), usage(2, "data", 300 * MB)]
    charged = charge_usage(records, always("SMART_S"), CATALOGUE)
    # 120 MB left of 5,120: 180 MB beyond at 0.01
    assert charged == {"r001": Decimal("0.00"), "r002": Decimal("1.80")}


def test_allowance_is_consumed_in_order_of_use_not_of_arrival():
    late_but_first = UsageIn("z-first", "data", Zone.NATIONAL, at(1), 5_120 * MB)
    later = UsageIn("a-later", "data", Zone.NATIONAL, at(3), 10 * MB)
    charged = charge_usage([later, late_but_first], always("SMART_S"), CATALOGUE)
    assert charged == {"z-first": Decimal("0.00"), "a-later": Decimal("0.10")}


def test_a_call_crossing_the_minutes_allowance_pays_its_seconds_beyond():
    # 299 minutes used, then a 3-minute call: 2 minutes beyond at 0.10/min
    records = [usage(1, "voice", 299 * 60), usage(2, "voice", 180)]
    charged = charge_usage(records, always("SMART_S"), CATALOGUE)
    assert charged == {"r001": Decimal("0.00"), "r002": Decimal("0.20")}


def test_sms_beyond_the_allowance_are_charged_per_message():
    records = [usage(1, "sms", 299), usage(2, "sms", 3)]
    charged = charge_usage(records, always("SMART_S"), CATALOGUE)
    assert charged == {"r001": Decimal("0.00"), "r002": Decimal("0.16")}


def test_a_late_record_finds_the_allowance_used_by_the_periods_earlier_invoice():
    invoiced = [usage(1, "data", 5_000 * MB)]  # on last month's invoice
    late = [usage(2, "data", 300 * MB)]  # arrived after it was closed
    charged = charge_usage(late, always("SMART_S"), CATALOGUE, already_invoiced=invoiced)
    assert charged == {"r002": Decimal("1.80")}


def test_unlimited_calls_and_sms_are_never_charged():
    records = [usage(1, "voice", 100_000 * 60), usage(2, "sms", 50_000)]
    charged = charge_usage(records, always("SMART_M"), CATALOGUE)
    assert charged == {"r001": Decimal("0.00"), "r002": Decimal("0.00")}


def test_international_calls_are_charged_at_standard_prices_without_the_option():
    records = [usage(1, "voice", 120, zone=Zone.WORLD), usage(2, "voice", 60, zone=Zone.EU)]
    charged = charge_usage(records, always("SMART_M"), CATALOGUE)
    assert charged == {"r001": Decimal("2.00"), "r002": Decimal("0.19")}


def test_intl_calls_rates_international_calls_at_the_options_rates():
    records = [usage(1, "voice", 120, zone=Zone.WORLD), usage(2, "voice", 60, zone=Zone.EU)]
    charged = charge_usage(records, always("SMART_M", "INTL_CALLS"), CATALOGUE)
    assert charged == {"r001": Decimal("0.20"), "r002": Decimal("0.10")}


def test_data_5gb_added_mid_period_extends_the_allowance_from_then_on():
    added = at(10)

    def subscription(moment):
        return Subscribed("SMART_S", ("DATA_5GB",) if moment >= added else ())

    records = [
        usage(1, "data", 5_120 * MB, day=2),  # the whole plan allowance
        usage(2, "data", 100 * MB, day=5),  # before the option: charged
        usage(3, "data", 4_000 * MB, day=12),  # with the option: 5,020 MB left
        usage(4, "data", 1_200 * MB, day=13),  # 1,020 MB left: 180 beyond
    ]
    charged = charge_usage(records, subscription, CATALOGUE)
    assert charged == {
        "r001": Decimal("0.00"),
        "r002": Decimal("1.00"),
        "r003": Decimal("0.00"),
        "r004": Decimal("1.80"),
    }


def test_usage_when_the_sim_had_no_subscription_is_charged_at_standard_prices():
    charged = charge_usage([usage(1, "data", 500 * MB)], lambda m: None, CATALOGUE)
    assert charged == {"r001": Decimal("5.00")}


def _doc(version: int, valid_from: str, **changes) -> dict:
    doc = copy.deepcopy(SEED)
    doc["version"] = version
    doc["valid_from"] = valid_from
    for key, value in changes.items():
        doc[key] = value
    return doc


def test_a_price_change_applies_from_its_date_never_before():
    dearer = _doc(2, "2026-11-15T00:00:00+01:00", data_per_mb="0.02")
    records = [usage(1, "data", 10 * MB, day=14), usage(2, "data", 10 * MB, day=16)]
    charged = charge_usage(records, lambda m: None, history(SEED, dearer))
    assert charged == {"r001": Decimal("0.10"), "r002": Decimal("0.20")}


def timeline(*states: tuple[datetime, bool, str, tuple[str, ...]]) -> SimTimeline:
    return SimTimeline(SimState(t, a, Subscribed(p, o)) for t, a, p, o in states)


def test_a_full_period_is_charged_the_monthly_fee():
    sim = timeline((datetime(2026, 1, 5, tzinfo=UTC), True, "SMART_S", ("DATA_5GB",)))
    [segment] = prorated_fees(sim, NOV, CATALOGUE)
    assert (segment.amount, segment.days, segment.full_period) == (Decimal("22.50"), 30, True)


def test_a_sim_started_mid_period_pays_from_its_first_day():
    sim = timeline((at(21, hour=15), True, "SMART_S", ()))
    [segment] = prorated_fees(sim, NOV, CATALOGUE)
    # 21..30 November: 10 of 30 days of 15.00
    assert (segment.first_day, segment.days, segment.amount) == (
        date(2026, 11, 21),
        10,
        Decimal("5.00"),
    )


def test_a_sim_stopped_mid_period_pays_until_the_day_before():
    sim = timeline(
        (datetime(2026, 1, 5, tzinfo=UTC), True, "SMART_L", ()),
        (at(8, hour=9), False, "SMART_L", ()),
    )
    [segment] = prorated_fees(sim, NOV, CATALOGUE)
    # 1..7 November: 7/30 of 40.00 = 9.333.. -> 9.33
    assert (segment.last_day, segment.days, segment.amount) == (
        date(2026, 11, 7),
        7,
        Decimal("9.33"),
    )


def test_a_plan_change_mid_period_splits_the_fee_by_day():
    sim = timeline(
        (datetime(2026, 1, 5, tzinfo=UTC), True, "SMART_S", ()),
        (at(11, hour=10), True, "SMART_M", ()),
    )
    segments = prorated_fees(sim, NOV, CATALOGUE)
    # 10 days of Smart S (5.00) then 20 days of Smart M (16.666.. -> 16.67)
    assert [(s.tariff_plan, s.days, s.amount) for s in segments] == [
        ("SMART_S", 10, Decimal("5.00")),
        ("SMART_M", 20, Decimal("16.67")),
    ]


def test_a_fee_change_applies_from_its_date():
    plans = copy.deepcopy(SEED["tariff_plans"])
    plans[0]["monthly_fee"] = "18.00"  # Smart S from 16 November
    dearer = _doc(2, "2026-11-16T00:00:00+01:00", tariff_plans=plans)
    sim = timeline((datetime(2026, 1, 5, tzinfo=UTC), True, "SMART_S", ()))
    segments = prorated_fees(sim, NOV, history(SEED, dearer))
    # 15 days at 15.00 (7.50) and 15 days at 18.00 (9.00)
    assert [(s.days, s.amount) for s in segments] == [(15, Decimal("7.50")), (15, Decimal("9.00"))]


def test_a_plan_promotion_takes_its_percentage_off_that_plans_fees_only():
    promo = {"code": "M10", "name": "Smart M -10%", "percent": "10", "plans": ["SMART_M"]}
    catalogues = history(_doc(1, SEED["valid_from"], promotions=[promo]))
    sim = timeline(
        (datetime(2026, 1, 5, tzinfo=UTC), True, "SMART_S", ()),
        (at(11, hour=10), True, "SMART_M", ()),
    )
    fees = prorated_fees(sim, NOV, catalogues)
    smart_s, smart_m = promotions(uuid.uuid4(), fees, NOV, catalogues)
    # 10% of 16.67 = 1.667 -> 1.67 off; Smart S days untouched
    assert (smart_s.discount, smart_s.net) == (Decimal("0.00"), Decimal("5.00"))
    assert (smart_m.promotions, smart_m.discount, smart_m.net) == (
        ("M10 -10%",),
        Decimal("1.67"),
        Decimal("15.00"),
    )


def test_a_customer_promotion_applies_to_that_customer_only():
    customer = uuid.uuid4()
    promo = {"code": "VIP", "name": "VIP", "percent": "20", "customer_ids": [str(customer)]}
    catalogues = history(_doc(1, SEED["valid_from"], promotions=[promo]))
    sim = timeline((datetime(2026, 1, 5, tzinfo=UTC), True, "SMART_L", ()))
    fees = prorated_fees(sim, NOV, catalogues)
    assert [f.net for f in promotions(customer, fees, NOV, catalogues)] == [Decimal("32.00")]
    assert promotions(uuid.uuid4(), fees, NOV, catalogues) == fees  # someone else: full fee
