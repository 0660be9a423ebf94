"""Confidentiality at rest: with a cipher key no table holds a name, id number or account in
clear, and a month gives the same findings and payments as without one. Both stores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.cipher import AESCipher

from aidledger.settings import Settings
from aidledger.synthetic import CASE_COLUMNS, STAFF_COLUMNS, generate_county, write_csv
from aidledger.wiring import Services, init_store
from ledger.ids import id_check_char
from ledger.period import Period
from reconciliation.banksim import Anomalies, camt054, pain002, read_pain001
from reconciliation.service import list_findings
from tests.builders import as_stored, every_table_as_text

PERIOD = "2026-06"
AS_OF = date(2026, 7, 31)
#: Values planted in one case, appearing nowhere else.
NAME = "王测试甲乙"
ID_17 = "61010219770707123"
ID_NUMBER = ID_17 + id_check_char(ID_17)
ACCOUNT = "6299887766554433221"


def _month(svc: Services, tmp_path: Path) -> list[dict[str, Any]]:
    """A county with planted frauds and one planted person: staff and cases imported, a death
    reported, June prepared, approved, exported, answered by the bank, reconciled."""
    county = generate_county(cases=60, seed=5, frauds=True)
    planted = dict(county.cases[2])  # in effect, no fraud planted in it
    planted.update(
        case_id="C610102999999", name=NAME, account_name=NAME, id_number=ID_NUMBER,
        bank_account=ACCOUNT,
    )  # fmt: skip
    write_csv(tmp_path / "staff.csv", county.staff, STAFF_COLUMNS)
    write_csv(tmp_path / "cases.csv", [*county.cases, planted], CASE_COLUMNS)
    svc.importer.import_file("staff", tmp_path / "staff.csv", by="S0001", today=AS_OF)
    svc.importer.import_file("cases", tmp_path / "cases.csv", by="S0002", today=AS_OF)
    died = county.cases[3]["id_number"]
    (tmp_path / "deaths.csv").write_text(
        f"id_number,date_of_death,source\n{died},2026-01-05,公安\n", encoding="utf-8"
    )
    svc.importer.import_file("deaths", tmp_path / "deaths.csv", by="S0002", today=AS_OF)
    run = svc.payouts.prepare(Period.parse(PERIOD), program=None, by="S0004")
    svc.payouts.approve(run.run_id, by="S0005")
    svc.payouts.export(run.run_id, fmt="pain001", out=tmp_path / "run.xml", by="S0004")
    paid = read_pain001((tmp_path / "run.xml").read_bytes())
    assert any(p.name == NAME and p.account == ACCOUNT for p in paid)  # the bank file: clear
    e2e = sorted(p.end_to_end_id for p in paid)
    odd = Anomalies(account={e2e[3]: "6200000000000000001"}, returned={e2e[4]: "AC04"})
    odd.missing.add(e2e[5])
    (tmp_path / "status.xml").write_bytes(pain002(paid, odd))
    (tmp_path / "booked.xml").write_bytes(camt054(paid, odd))
    svc.bank.import_file(tmp_path / "status.xml", by="S0004", today=AS_OF)
    svc.bank.import_file(tmp_path / "booked.xml", by="S0004", today=AS_OF)
    svc.reconciliation.reconcile(Period.parse(PERIOD), as_of=AS_OF, by="S0004")
    return sorted(
        (
            {k: f.get(k) for k in ("type", "case_id", "payment_id", "amount", "detail")}
            for f in list_findings(svc.db, period=PERIOD, status="all")
        ),
        key=lambda f: (f["type"], f["case_id"] or "", f["payment_id"] or ""),
    )


def _planted_in(stored: str) -> list[str]:
    secrets = (NAME, ID_NUMBER, ACCOUNT)
    return [s for s in secrets if s in stored or as_stored(s) in stored]


@pytest.fixture
def keyed(settings: Settings) -> Iterator[Services]:
    svc = init_store(settings.model_copy(update={"cipher_key": AESCipher.create_key(32)}))
    yield svc
    svc.close()


def test_with_a_key_no_table_holds_a_planted_name_id_or_account_and_findings_are_the_same(
    keyed: Services, tmp_path: Path
) -> None:
    (tmp_path / "keyed").mkdir()
    findings = _month(keyed, tmp_path / "keyed")
    assert _planted_in(every_table_as_text(keyed)) == []
    # The same month without a key, in a store of its own: the same findings, to the word.
    (tmp_path / "clear").mkdir()
    clear_settings = keyed.settings.model_copy(
        update={"cipher_key": None, "database_url": str(tmp_path / "clear" / "clear.db")}
    )
    clear = init_store(clear_settings)
    try:
        assert findings == _month(clear, tmp_path / "clear")
        stored = every_table_as_text(clear)
    finally:
        clear.close()
    types = {f["type"] for f in findings}
    assert {"account_mismatch", "missing_result"} <= types
    assert types & {"duplicate_beneficiary", "shared_account", "staff_account"}
    # The scanner finds the planted values where they are in clear.
    assert _planted_in(stored) == [NAME, ID_NUMBER, ACCOUNT]


def test_the_case_history_shows_the_planted_person_in_clear_to_the_caseworker_only(
    keyed: Services, tmp_path: Path
) -> None:
    _month(keyed, tmp_path)
    history = keyed.history
    seen = history.history(
        "C610102999999", as_of=AS_OF, known_at=None, viewer=history.viewer("S0002", channel="cli")
    )
    assert NAME in str(seen) and ID_NUMBER in str(seen)
