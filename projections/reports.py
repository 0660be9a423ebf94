"""Reports from the read models: monthly payouts per program, department and region."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ledger.errors import InvalidValue
from ledger.money import format_fen, parse_fen
from ledger.programs import ProgramsConfig
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


def parse_dimensions(text: str, known: Mapping[str, str] = DIMENSIONS) -> list[str]:
    """``program,region`` -> the dimensions, each one of ``known`` (region or village, not
    both)."""
    dims = [d.strip() for d in text.split(",") if d.strip()]
    unknown = [d for d in dims if d not in known]
    if unknown or ("region" in dims and "village" in dims):
        raise InvalidValue(
            f"--by takes a comma list of {', '.join(known)} (region or village, not both)"
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
#: The print-ready notice's columns (the rows also keep ``NOTICE_FIELDS``), and their headings.
NOTICE_PRINT_FIELDS = (
    "seq",
    "place",
    "program_name",
    "name",
    "id_number",
    "household_size",
    "amount",
)
NOTICE_LABELS = {
    "seq": "序号",
    "place": "地区",
    "program_name": "救助项目",
    "name": "姓名",
    "id_number": "身份证号",
    "household_size": "家庭人口",
    "amount": "金额(元)",
}


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
    if db.sealer.on:  # in the order of the id numbers themselves, not of their sealed texts
        rows = sorted(db.sealer.open_rows(rows, (2, 3)), key=lambda r: (r[0], r[1], r[3]))
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


@dataclass(frozen=True)
class Notice:
    """The 公示 notice, print-ready: title, issuing department, date, rows, totals."""

    title: str
    issuer: str
    issued_on: date
    region: str
    place: str
    rows: list[dict[str, Any]]
    totals: list[dict[str, Any]]  # one per program, then the whole
    #: The printed columns and their headings (the notice of payees' by default).
    fields: tuple[str, ...] = NOTICE_PRINT_FIELDS
    labels: Mapping[str, str] = field(default_factory=lambda: NOTICE_LABELS)

    @property
    def heading(self) -> list[str]:
        return [self.title, f"发布单位：{self.issuer}", f"发布日期：{self.issued_on.isoformat()}"]


def place_name(config: ProgramsConfig, region_code: str) -> str:
    """The most specific place name the config knows for a region code (village, township,
    county), with the names above it; the code itself when it knows none."""
    names = config.regions.names
    parts = [
        names[region_code[:n]]
        for n in (6, 9, 12)
        if region_code[:n] in names and n <= len(region_code)
    ]
    return "".join(parts) or region_code


def notice_document(
    db: Database, config: ProgramsConfig, period: str, region: str, issued_on: date
) -> Notice:
    """The notice of who is paid what for ``period`` in ``region``, print-ready (names and id
    numbers masked as in `notice_report`; Chinese program and place names; totals)."""
    rows = notice_report(db, period, region)
    totals: dict[str, list[int]] = {}
    for n, r in enumerate(rows, start=1):
        program = config.programs.get(r["program"])
        r["seq"] = n
        r["program_name"] = program.name if program else r["program"]
        r["place"] = place_name(config, r["region_code"])
        t = totals.setdefault(r["program_name"], [0, 0])
        t[0] += 1
        t[1] += parse_fen(r["amount"])
    year, month = period.split("-")
    place = place_name(config, region)
    summary = [
        {
            "seq": None,
            "place": "合计",
            "program_name": name,
            "name": f"{n}户",
            "amount": format_fen(a),
        }
        for name, (n, a) in sorted(totals.items())
    ]
    if len(summary) != 1:
        summary.append(
            {
                "seq": None,
                "place": "总计",
                "program_name": "",
                "name": f"{len(rows)}户",
                "amount": format_fen(sum(a for _, a in totals.values())),
            }
        )
    named = place != region
    title = f"{int(year)}年{int(month)}月社会救助资金发放公示"
    return Notice(
        title=f"{place}{title}" if named else f"{title}（{region}）",
        issuer=config.bureau.name or "民政局",
        issued_on=issued_on,
        region=region,
        place=place,
        rows=rows,
        totals=summary,
    )
