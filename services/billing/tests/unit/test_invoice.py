from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from billing.domain.catalogue import UnknownPlan, seed_history
from billing.domain.charging import FeeSegment
from billing.domain.invoice import Subscription, UsageSum, build_lines, invoice_number, vat_totals


def test_vat_is_21_percent_rounded_half_up_once():
    totals = vat_totals([Decimal("10.00"), Decimal("0.50")])
    assert totals.total_excl_vat == Decimal("10.50")
    assert totals.vat == Decimal("2.21")  # 2.205 -> 2.21
    assert totals.total_incl_vat == Decimal("12.71")


def test_vat_on_the_total_not_per_line():
    # per line: 0.05*0.21=0.0105 -> 0.01, three times 0.03; on the total 0.15*0.21=0.0315 -> 0.03
    totals = vat_totals([Decimal("0.05")] * 3)
    assert totals.vat == Decimal("0.03")
    totals = vat_totals([Decimal("0.10")] * 5)
    assert totals.vat == Decimal("0.11")  # 0.105 -> 0.11


def test_totals_of_nothing():
    totals = vat_totals([])
    assert (totals.total_excl_vat, totals.vat, totals.total_incl_vat) == (
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("0.00"),
    )


def test_monthly_fee_from_the_seed_catalogue():
    catalogue = seed_history().versions[0]
    assert catalogue.monthly_fee("SMART_M", ["ROAMING_EU", "DATA_5GB"]) == Decimal("37.50")
    assert catalogue.monthly_fee("DATA_ONLY", []) == Decimal("10.00")
    with pytest.raises(UnknownPlan):
        catalogue.monthly_fee("NOPE", [])
    with pytest.raises(UnknownPlan):
        catalogue.monthly_fee("SMART_S", ["NOPE"])


def fee(days: int, amount: str, first: int = 1) -> FeeSegment:
    return FeeSegment(
        "SMART_S",
        ("INTL_CALLS",),
        date(2026, 11, first),
        date(2026, 11, first + days - 1),
        days,
        30,
        Decimal("19.00"),
        Decimal(amount),
    )


def test_lines_subscriptions_then_usage_kinds():
    lines = build_lines(
        [
            UsageSum("data", records=2, quantity=3_000_000, amount=Decimal("0.03")),
            UsageSum("voice", records=3, quantity=250, amount=Decimal("0.45")),
            UsageSum("sms", records=0, quantity=0, amount=Decimal("0")),
        ],
        [Subscription("+32470000002", fee(30, "19.00"))],
    )
    assert [line.category for line in lines] == ["subscription", "voice", "data"]
    assert lines[0].description == "Subscription SMART_S + INTL_CALLS (+32470000002)"
    assert (lines[0].quantity, lines[0].unit) == (1, "month")
    assert sum(line.amount for line in lines) == Decimal("19.48")


def test_a_promotion_is_taken_off_its_subscription_line_never_a_negative_line():
    promoted = replace(fee(30, "19.00"), discount=Decimal("1.90"), promotions=("S10 -10%",))
    [line] = build_lines([], [Subscription("+32470000002", promoted)])
    assert line.amount == Decimal("17.10")
    assert line.description.endswith(", promotion S10 -10%: -1.90 EUR")


def test_a_partial_period_line_names_its_days():
    [line] = build_lines([], [Subscription("+32470000002", fee(10, "6.33", first=21))])
    assert line.description == (
        "Subscription SMART_S + INTL_CALLS (+32470000002), 21/11-30/11, 10/30 days"
    )
    assert (line.quantity, line.unit, line.amount) == (10, "days", Decimal("6.33"))


def test_invoice_number_format():
    assert invoice_number(2026, 123) == "INV-2026-000123"


def test_prorated_and_promoted_subscription_lines_make_a_valid_peppol_invoice(peppol):
    from billing.domain.legal import Address, LegalInvoice, Party, Payment
    from billing.domain.legal import structured_communication as communication
    from billing.domain.ubl import build_ubl

    promoted = replace(
        fee(20, "16.67", first=11), discount=Decimal("1.67"), promotions=("M10 -10%",)
    )
    lines = build_lines(
        [UsageSum("data", records=1, quantity=0, amount=Decimal("0.00"))],
        [Subscription("+32470000001", fee(10, "5.00")), Subscription("+32470000001", promoted)],
    )
    document = LegalInvoice(
        kind="invoice",
        number="INV-2026-000042",
        issue_date=date(2026, 12, 2),
        period_start=date(2026, 11, 1),
        period_end=date(2026, 11, 30),
        due_date=date(2027, 1, 1),
        supplier=Party("Proximus NV", Address("Koning Albert II-laan", "27", "1030", "Brussel"),
                       "0202239951"),
        customer=Party("Acme NV", Address("Rue Neuve", "12", "1000", "Bruxelles"), "0403170701"),
        payment=Payment("BE48001123456727", "GEBABEBB", communication(2600000042)),
        language="en",
        lines=lines,
        totals=vat_totals(line.amount for line in lines),
        billing_account_name="Mobile fleet",
        objection_deadline=date(2026, 12, 9),
    )  # fmt: skip
    assert [line.amount for line in lines] == [Decimal("5.00"), Decimal("15.00"), Decimal("0.00")]
    assert peppol.errors(build_ubl(document)) == []
