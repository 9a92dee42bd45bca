import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

from openpyxl import load_workbook

from billing.domain.invoice import Line, vat_totals
from billing.domain.legal import Address, LegalInvoice, Party, Payment
from billing.exports import to_csv, to_xlsx
from billing.pdf import render_invoice_pdf
from billing.schemas import UsageItem

ITEM = UsageItem(
    **{
        "record_id": "cdr-1",
        "started_at": datetime(2026, 10, 3, 9, 0, tzinfo=UTC),
        "line": "+32470000001",
        "kind": "voice",
        "destination": '=HYPERLINK("x")',
        "zone": "national",
        "quantity": 75,
        "amount": Decimal("0.13"),
        "period": "2026-10",
    }
)


def test_pdf_is_a_pdf_even_with_non_latin1_names():
    lines = [Line("voice", "Voice calls (3 records)", 250, "s", Decimal("0.45"))]
    pdf = render_invoice_pdf(
        LegalInvoice(
            kind="invoice",
            number="INV-2026-000001",
            issue_date=date(2026, 11, 2),
            period_start=date(2026, 10, 1),
            period_end=date(2026, 10, 31),
            due_date=date(2026, 12, 2),
            supplier=Party("Proximus NV", Address("Rue", "1", "1030", "Brussel"), "0202239951"),
            customer=Party("Société Ωmega €", Address("Straße", None, "1000", "Ωx"), None),
            payment=Payment("BE48001123456727", "GEBABEBB", "+++260/0000/00137+++"),
            language="fr",
            lines=lines,
            totals=vat_totals([Decimal("0.45")]),
            billing_account_name="Compte €",
            objection_deadline=date(2026, 11, 9),
        )
    )
    assert pdf.startswith(b"%PDF")


def test_csv_has_a_header_local_times_and_no_formulas():
    rows = list(csv.reader(io.StringIO(to_csv([ITEM]).decode())))
    assert rows[0][0] == "record_id"
    assert rows[1][1] == "2026-10-03T11:00:00+02:00"
    assert rows[1][2] == "+32470000001"  # a phone number is not a formula
    assert rows[1][4].startswith("'=")
    assert rows[1][-1] == "0.13"


def test_xlsx_round_trips():
    sheet = load_workbook(io.BytesIO(to_xlsx([ITEM], title="INV-2026-000001"))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "record_id" and rows[1][0] == "cdr-1" and rows[1][-1] == 0.13


def _insights():  # type: ignore[no-untyped-def]
    from billing.schemas import (
        Category,
        Consumer,
        Insights,
        KindUsage,
        LineUsage,
        Month,
        Totals,
        UsageMonth,
    )

    money = {"total_excl_vat": Decimal("30.00"), "vat": Decimal("6.30")}
    return Insights(
        customer_id="00000000-0000-0000-0000-000000000001",
        **{"from": "2026-09"},
        to="2026-10",
        totals=Totals(invoices=2, total_incl_vat=Decimal("36.30"), **money),
        by_month=[
            Month(period="2026-09", invoices=1, total_incl_vat=Decimal("36.30"), **money),
            Month(
                period="2026-10",
                invoices=1,
                total_excl_vat=Decimal("0"),
                vat=Decimal("0"),
                total_incl_vat=Decimal("0"),
            ),
        ],
        usage_by_month=[UsageMonth(period="2026-09", records=3, amount=Decimal("1.50"))],
        by_category=[Category(category="voice", amount=Decimal("1.50"))],
        by_line=[
            LineUsage(
                line="+32470000001",
                amount=Decimal("1.50"),
                records=3,
                by_kind={"voice": KindUsage(records=3, quantity=600, amount=Decimal("1.50"))},
            )
        ],
        top_consumers=[Consumer(line="+32470000001", amount=Decimal("1.50"))],
    )


def test_insights_export_stacks_its_tables_in_one_csv_and_one_sheet_each_in_xlsx():
    from billing.exports import insights_tables, tables_to_csv, tables_to_xlsx

    tables = insights_tables(_insights())
    rows = list(csv.reader(io.StringIO(tables_to_csv(tables).decode())))
    assert rows[0][0] == "section"
    assert ["By month", "2026-09", "1", "30.00", "6.30", "36.30"] in rows
    assert ["By line", "+32470000001", "voice", "3", "600", "1.50"] in rows
    book = load_workbook(io.BytesIO(tables_to_xlsx(tables)))
    assert book.sheetnames == [t.title for t in tables]
    assert [c.value for c in book["Top consumers"][2]] == ["+32470000001", 1.5]


def test_the_insights_report_draws_each_chart_with_its_labels():
    from billing.reports import render_insights_pdf

    pdf = render_insights_pdf(
        _insights(),
        heading="Customer Acme",
        filters=["kind voice"],
        generated_at=datetime(2026, 11, 2, 8, tzinfo=UTC),
        compress=False,
    )
    assert pdf.startswith(b"%PDF")
    for text in (
        b"Cost per month",
        b"Usage by kind",
        b"Top lines",
        b"Selection: kind voice",
        b"2026-09",
        b"+32470000001",
        b"EUR 1.50",
    ):
        assert text in pdf, text
