import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

from openpyxl import load_workbook

from billing.domain.invoice import Line, vat_totals
from billing.exports import to_csv, to_xlsx
from billing.pdf import PdfInvoice, render_invoice_pdf
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
        PdfInvoice(
            number="INV-2026-000001",
            account_name="Société Ωmega €",
            account_kind="mobile",
            billing_account_id="a",
            period="2026-10",
            issued_at=datetime(2026, 11, 2, 8, tzinfo=UTC),
            due_date=date(2026, 12, 2),
            objection_deadline=date(2026, 11, 9),
            lines=lines,
            totals=vat_totals([Decimal("0.45")]),
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
