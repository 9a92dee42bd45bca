"""CSV and XLSX exports of a SIM list.

Every exported value is generated or validated by fleet (numbers, codes, ids, dates), so
no cell can carry a user-typed formula; no spreadsheet escaping is needed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from fastapi import Response
from openpyxl import Workbook

from fleet.api.schemas import SimOut
from fleet.domain.catalogue import Catalogue
from fleet.models import Sim

COLUMNS = (
    "msisdn",
    "iccid",
    "imsi",
    "status",
    "tariff_plan",
    "options",
    "monthly_fee",
    "end_user_id",
    "billing_account_id",
    "sim_id",
    "created_at",
)


def _row(sim: Sim, products: Catalogue | None) -> list[str]:
    out = SimOut.of(sim, products)
    return [
        out.msisdn,
        out.iccid,
        out.imsi,
        out.status,
        out.tariff_plan,
        " ".join(out.options),
        format(out.monthly_fee, "f") if out.monthly_fee is not None else "",
        str(out.end_user_id) if out.end_user_id else "",
        str(out.billing_account_id),
        str(out.sim_id),
        out.created_at.isoformat(),
    ]


def csv_response(sims: Sequence[Sim], filename: str, products: Catalogue | None) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerows(_row(sim, products) for sim in sims)
    return Response(
        # A BOM so spreadsheet programs read the file as UTF-8.
        content="\ufeff" + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


def xlsx_response(sims: Sequence[Sim], filename: str, products: Catalogue | None) -> Response:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("SIMs")
    sheet.append(list(COLUMNS))
    for sim in sims:
        sheet.append(_row(sim, products))  # strings stay text: an MSISDN must not become a number
    out = io.BytesIO()
    workbook.save(out)
    return Response(
        content=out.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'},
    )
