"""Bank file export: valid pain.001, held payments left out, stable ids, recorded exports."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

from aidledger.wiring import Services
from disbursement.export import PAIN001_NS, PAIN001_XSD
from disbursement.runs import RunClosed
from ledger.period import Period
from tests.builders import load, with_staff
from tests.conftest import FIXTURES

NS = {"p": PAIN001_NS}


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(PAIN001_XSD))


def approved_run(svc: Services, period: str = "2026-06") -> str:
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    load(svc, "deaths", FIXTURES / "deaths.csv")  # C003 died 2026-04-12: held
    run_id = svc.payouts.prepare(Period.parse(period), program=None, by="S003").run_id
    assert run_id is not None
    svc.payouts.approve(run_id, by="S005")
    return run_id


def test_exported_pain001_is_valid_and_leaves_out_held_payments(
    svc: Services, tmp_path: Path, schema: xmlschema.XMLSchema
) -> None:
    run_id = approved_run(svc)
    out = tmp_path / "run.xml"
    exported = svc.payouts.export(run_id, fmt="pain001", out=out, by="S003")
    n, amount = exported.payments, exported.amount
    schema.validate(str(out))  # raises on any schema error
    doc = etree.parse(str(out))
    ids = doc.xpath("//p:CdtTrfTxInf/p:PmtId/p:EndToEndId/text()", namespaces=NS)
    held = {r[0] for r in svc.db.query("SELECT payment_id FROM payments WHERE held <> ''")}
    assert len(held) == 1 and not held & set(ids)
    assert len(ids) == n == 4 and all(len(i) <= 35 for i in ids)
    # C001 1560.00 + C002 1180.50 + C004 90.50 + C005 2080.00 (C003 held)
    assert doc.xpath("string(//p:GrpHdr/p:CtrlSum)", namespaces=NS) == "4911.00"
    assert amount == 491100


def test_one_pmtinf_per_program_and_date_with_the_programs_payment_day(
    svc: Services, tmp_path: Path
) -> None:
    run_id = approved_run(svc)
    out = tmp_path / "run.xml"
    svc.payouts.export(run_id, fmt="pain001", out=out, by="S003")
    doc = etree.parse(str(out))
    infos = [
        (
            i.findtext("p:ReqdExctnDt", namespaces=NS),
            i.findtext("p:DbtrAcct/p:Id/p:Othr/p:Id", namespaces=NS),
            len(i.findall("p:CdtTrfTxInf", namespaces=NS)),
        )
        for i in doc.xpath("//p:PmtInf", namespaces=NS)
    ]
    # dibao (2 cases) and tekun pay on the 10th from civil affairs; disability on the 20th
    # from the disabled persons' federation. Elderly's only case is held.
    assert sorted(infos) == [
        ("2026-06-10", "6222020200000000001", 1),
        ("2026-06-10", "6222020200000000001", 2),
        ("2026-06-20", "6222020200000000002", 1),
    ]


def test_reexport_is_identical_apart_from_creation_time(svc: Services, tmp_path: Path) -> None:
    run_id = approved_run(svc)
    a, b = tmp_path / "a.xml", tmp_path / "b.xml"
    svc.payouts.export(
        run_id, fmt="pain001", out=a, by="S003", now=datetime(2026, 6, 1, 8, tzinfo=UTC)
    )
    svc.payouts.export(
        run_id, fmt="pain001", out=b, by="S003", now=datetime(2026, 6, 2, 9, tzinfo=UTC)
    )
    strip = lambda p: [line for line in p.read_text().splitlines() if "CreDtTm" not in line]  # noqa: E731
    assert strip(a) == strip(b)
    assert a.read_bytes() != b.read_bytes()
    exports = svc.db.query("SELECT status FROM runs WHERE run_id = ?", (run_id,))
    assert exports == [("exported",)]


def test_unapproved_run_is_not_exported(svc: Services, tmp_path: Path) -> None:
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    run_id = svc.payouts.prepare(Period.parse("2026-06"), program=None, by="S003").run_id
    with pytest.raises(RunClosed):
        svc.payouts.export(run_id or "", fmt="pain001", out=tmp_path / "x.xml", by="S003")
    assert not (tmp_path / "x.xml").exists()


def test_csv_daifa_file_in_gb18030(svc: Services, tmp_path: Path) -> None:
    run_id = approved_run(svc)
    out = tmp_path / "run.csv"
    svc.payouts.export(run_id, fmt="csv", out=out, by="S003", encoding="gb18030")
    rows = list(csv.DictReader(out.read_text(encoding="gb18030").splitlines()))
    assert [r["amount"] for r in rows] == ["1560.00", "2080.00", "90.50", "1180.50"]
    assert {r["name"] for r in rows} >= {"王秀兰", "李德明"}
    assert [r["seq"] for r in rows] == ["1", "2", "3", "4"]
