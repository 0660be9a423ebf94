"""Builders the tests share: the fixture files' staff by role, loading files, writing rows.

The staff fixture (``fixtures/staff.csv``) holds one member per role, all of county 610102.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aidledger.wiring import Services
from tests.conftest import FIXTURES, TEST_TODAY

CASEWORKER, APPROVER, FINANCE, AUDITOR, FINANCE_APPROVER, SUPERVISOR, ADMIN = (
    f"S00{i}" for i in range(1, 8)
)
HEADER = (FIXTURES / "cases.csv").read_text(encoding="utf-8").splitlines()[0]


def head(svc: Services) -> int:
    return svc.app.recorder.max_notification_id() or 0


def load(svc: Services, kind: str, path: Path, by: str | None = None) -> Any:
    """Import a file as the staff member whose role imports it (admin for staff files)."""
    who = by or (ADMIN if kind == "staff" else CASEWORKER)
    return svc.importer.import_file(kind, path, by=who, today=TEST_TODAY)  # type: ignore[arg-type]


def with_staff(svc: Services) -> None:
    load(svc, "staff", FIXTURES / "staff.csv")


def case_rows(tmp_path: Path, name: str, *rows: str) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def fixture_row(case_id: str) -> str:
    for line in (FIXTURES / "cases.csv").read_text(encoding="utf-8").splitlines():
        if line.startswith(case_id + ","):
            return line
    raise KeyError(case_id)


def write_file(tmp_path: Path, name: str, header: str, *rows: str) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def with_county_staff(svc: Services, tmp_path: Path, *, cases: int, seed: int) -> None:
    """Register the staff a generated county's cases name (S0001...), beside the fixture's
    (S001...): imported by the fixture's admin."""
    from ledger.synthetic import STAFF_COLUMNS, staff_rows_for, write_csv

    path = tmp_path / f"county-staff-{seed}.csv"
    write_csv(path, staff_rows_for(cases, seed), STAFF_COLUMNS)
    if svc.db.query("SELECT 1 FROM staff LIMIT 1"):
        load(svc, "staff", path, by=ADMIN)
    else:
        load(svc, "staff", path, by="S0001")
