"""Reports from the read models: monthly payouts per program, department and region."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger.errors import InvalidValue
from ledger.money import format_fen
from ledger.store import Database
from projections.payouts import APPROVED_RUN
from projections.registers import refuse_while_importing

#: `--by` dimensions and the payments column each groups on.
DIMENSIONS = {
    "program": "program",
    "department": "department",
    "region": "county",  # county: the first 6 digits of the region code
    "village": "region_code",  # the full 6- or 12-digit code
    "kind": "kind",
}
REPORT_FIELDS = ("period", "program", "department", "region_code", "cases", "payments", "amount")


def parse_dimensions(text: str) -> list[str]:
    dims = [d.strip() for d in text.split(",") if d.strip()]
    unknown = [d for d in dims if d not in DIMENSIONS]
    if unknown or ("region" in dims and "village" in dims):
        raise InvalidValue(
            f"--by takes a comma list of {', '.join(DIMENSIONS)} (region or village, not both)"
        )
    return dims


def payouts_report(db: Database, period: str, dims: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of period, program, department, region_code, cases, payments, amount.

    Counts payments of approved runs whose payment period is ``period`` (arrears for October
    paid in December count in October). Payments held by a pre-payment check count once they
    are released. A dimension not grouped on is null. Refused while an import is open.
    """
    refuse_while_importing(db)
    cols = [DIMENSIONS[d] for d in dims]
    select = ", ".join(cols) + (", " if cols else "")
    group = f"GROUP BY {', '.join(cols)} ORDER BY {', '.join(cols)}" if cols else ""
    rows = db.query(
        f"SELECT {select}COUNT(DISTINCT case_id), COUNT(*), COALESCE(SUM(amount), 0) "
        f"FROM payments WHERE period = ? AND held = '' AND {APPROVED_RUN} {group}",
        (period,),
    )
    out = []
    for row in rows:
        values = dict(zip(cols, row, strict=False))
        cases, payments, amount = row[len(cols) :]
        if not cols and payments == 0:
            continue
        record: dict[str, Any] = {
            "period": period,
            "program": values.get("program"),
            "department": values.get("department"),
            "region_code": values.get("county", values.get("region_code")),
        }
        if "kind" in values:
            record["kind"] = values["kind"]
        record.update(cases=int(cases), payments=int(payments), amount=format_fen(int(amount)))
        out.append(record)
    return out


NOTICE_FIELDS = ("region_code", "program", "name", "id_number", "household_size", "amount")


def notice_report(db: Database, period: str, region: str) -> list[dict[str, Any]]:
    """The public-notice (公示) list: who is paid what for ``period`` in a region.

    Names and id numbers are masked (张*三, 610102********1234); only what the notice needs
    is shown. ``region`` is a 6-digit county or a 12-digit village code (a prefix match).
    Refused while an import is open.
    """
    refuse_while_importing(db)
    from ledger.ids import mask_id_number, mask_name

    rows = db.query(
        "SELECT p.region_code, p.program, c.name, p.id_number, c.household_size, "
        "SUM(p.amount) FROM payments p JOIN cases c ON c.case_id = p.case_id "
        f"WHERE p.period = ? AND p.region_code LIKE ? AND p.held = '' AND p.{APPROVED_RUN} "
        "GROUP BY p.region_code, p.program, c.name, p.id_number, c.household_size "
        "ORDER BY p.region_code, p.program, p.id_number",
        (period, f"{region}%"),
    )
    return [
        {
            "region_code": r,
            "program": prog,
            "name": mask_name(name),
            "id_number": mask_id_number(idn),
            "household_size": int(size),
            "amount": format_fen(int(amount)),
        }
        for r, prog, name, idn, size, amount in rows
    ]
