"""Bank file export: valid pain.001, held payments left out, stable ids, recorded exports."""

from __future__ import annotations

import csv
import errno
import io
import stat
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from aidledger.settings import Settings
from aidledger.wiring import Services, init_store
from disbursement import export
from disbursement.export import PAIN001_NS, PAIN001_XSD, ExportLine, ExportRefused
from disbursement.runs import RunClosed
from ledger.errors import AidLedgerError
from ledger.outputs import OutputRefused, written_beside
from ledger.payment import run_aggregate_id
from ledger.period import Period
from tests.builders import load, with_staff
from tests.conftest import FIXTURES, TEST_TODAY

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


def test_the_file_is_dated_in_beijing_time_with_its_offset(svc: Services, tmp_path: Path) -> None:
    """A bank reads a bare CreDtTm as Beijing time: the file says which time it is."""
    from datetime import UTC, datetime

    run_id = approved_run(svc)
    out = tmp_path / "run.xml"
    now = datetime(2026, 12, 15, 2, 30, tzinfo=UTC)
    svc.payouts.export(run_id, fmt="pain001", out=out, by="S003", now=now)
    created = etree.parse(str(out)).xpath("string(//p:GrpHdr/p:CreDtTm)", namespaces=NS)
    assert created == "2026-12-15T10:30:00+08:00"


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
    again = dict(fmt="pain001", out=b, by="S003", now=datetime(2026, 6, 2, 9, tzinfo=UTC))
    # Two files of the same payments at the bank could pay them twice: a reason is asked.
    with pytest.raises(AidLedgerError, match="written to a bank file already"):
        svc.payouts.export(run_id, **again)  # type: ignore[arg-type]
    assert not b.exists()
    svc.payouts.export(run_id, **again, reason="the bank lost the first file")  # type: ignore[arg-type]
    last = list(svc.app.events.get(run_aggregate_id(run_id)))[-1]
    assert last.again_because == "the bank lost the first file"  # type: ignore[attr-defined]
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


# -- where the file goes: never over an existing file unasked, never over the store, never partial


@pytest.fixture
def sqlite_svc(tmp_path: Path) -> Iterator[Services]:
    """A store in an SQLite file (whatever the store_url parameter)."""
    services = init_store(Settings(database_url=str(tmp_path / "aidledger.db"), today=TEST_TODAY))
    yield services
    services.close()


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def exported_status(svc: Services, run_id: str) -> str:
    return str(svc.db.query("SELECT status FROM runs WHERE run_id = ?", (run_id,))[0][0])


def test_an_existing_file_is_refused_unless_replace(svc: Services, tmp_path: Path) -> None:
    run_id = approved_run(svc)
    (tmp_path / "bank").mkdir()
    out = tmp_path / "bank" / "run.xml"
    out.write_text("yesterday's file\n", encoding="utf-8")
    with pytest.raises(
        OutputRefused, match=r"run\.xml exists: choose another --out, or add --force"
    ):
        svc.payouts.export(run_id, fmt="pain001", out=out, by="S003")
    assert out.read_text(encoding="utf-8") == "yesterday's file\n"
    assert exported_status(svc, run_id) == "approved", "nothing recorded"
    svc.payouts.export(run_id, fmt="pain001", out=out, by="S003", replace=True)
    assert out.read_bytes().startswith(b"<?xml")
    assert files_in(out.parent) == ["run.xml"]


@pytest.mark.parametrize("name", ["{db}", "{db}-wal", "{db}-shm", "{db}-journal", "link", "hard"])
def test_the_store_itself_is_never_written_over_even_with_replace(
    sqlite_svc: Services, tmp_path: Path, name: str
) -> None:
    svc = sqlite_svc
    run_id = approved_run(svc)
    db = Path(svc.store.path)
    svc.db.query("SELECT 1")  # the WAL and shared-memory files exist while it is open
    if name == "link":
        out = tmp_path / "innocent.xml"
        out.symlink_to(db)
    elif name == "hard":
        out = tmp_path / "hard.xml"
        out.hardlink_to(db)
    else:
        out = Path(name.format(db=db))
    before = db.read_bytes()
    with pytest.raises(
        OutputRefused, match="is the store's own file: nothing is ever written over the store"
    ):
        svc.payouts.export(run_id, fmt="pain001", out=out, by="S003", replace=True)
    assert db.read_bytes() == before
    assert not [f for f in files_in(db.parent) if f.endswith(".part")]
    assert exported_status(svc, run_id) == "approved"


@pytest.mark.parametrize("where", ["folder", "missing folder", "device"])
def test_a_folder_a_missing_folder_or_a_device_is_refused(
    svc: Services, tmp_path: Path, where: str
) -> None:
    run_id = approved_run(svc)
    out, message = {
        "folder": (tmp_path, "is a folder: name the file to write"),
        "missing folder": (tmp_path / "nowhere" / "run.xml", "nowhere does not exist: create it"),
        "device": (Path("/dev/null"), "is not a regular file"),
    }[where]
    before = files_in(tmp_path)
    with pytest.raises(OutputRefused, match=message):
        svc.payouts.export(run_id, fmt="pain001", out=out, by="S003", replace=True)
    assert files_in(tmp_path) == before
    assert exported_status(svc, run_id) == "approved"


@pytest.mark.parametrize("fmt", ["pain001", "csv"])
def test_a_disk_error_half_way_leaves_no_file_and_records_nothing(
    svc: Services, tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = approved_run(svc)
    real = export._Hashing.write
    written = [0]

    def half_then_the_disk_is_full(self: export._Hashing, data: bytes) -> int:
        written[0] += real(self, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export._Hashing, "write", half_then_the_disk_is_full)
    folder = tmp_path / "bank"
    folder.mkdir()
    with pytest.raises(OSError, match="No space left"):
        svc.payouts.export(run_id, fmt=fmt, out=folder / "run.out", by="S003")
    assert written[0] > 0, "failed half-way through"
    assert files_in(folder) == []
    assert exported_status(svc, run_id) == "approved"


def test_a_file_failing_its_check_against_the_approval_is_not_left(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.payment import PayoutRun, ReadModelTampered

    run_id = approved_run(svc)

    def tampered(*_: object, **__: object) -> None:
        raise ReadModelTampered("the bank file would hold something else")

    monkeypatch.setattr(PayoutRun, "record_export", tampered)
    folder = tmp_path / "bank"
    folder.mkdir()
    with pytest.raises(ReadModelTampered):
        svc.payouts.export(run_id, fmt="csv", out=folder / "run.csv", by="S003")
    assert files_in(folder) == []


def test_a_file_appearing_while_writing_is_not_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "run.xml"
    with (
        pytest.raises(OutputRefused, match="exists"),
        written_beside(out, replace=False) as f,
    ):
        f.write(b"<bank file/>")
        out.write_text("someone else's\n", encoding="utf-8")
    assert out.read_text(encoding="utf-8") == "someone else's\n"
    assert files_in(tmp_path) == ["run.xml"]


def test_the_file_is_private_to_its_owner(svc: Services, tmp_path: Path) -> None:
    run_id = approved_run(svc)
    out = tmp_path / "run.csv"
    svc.payouts.export(run_id, fmt="csv", out=out, by="S003")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # names and accounts


# -- the bank CSV never carries a formula cell ----------------------------------------------------


def line(**changed: object) -> ExportLine:
    values: dict[str, object] = {
        "payment_id": "202612R1HLSMJRZKUG4UH4NIAWJY",
        "program": "dibao",
        "department": "civil_affairs",
        "period": "2026-12",
        "kind": "regular",
        "amount": 156000,
        "payment_date": date(2026, 12, 10),
        "account": "6222020200001234567",
        "name": "王秀兰",
    }
    values.update(changed)
    return ExportLine(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changed", "column"),
    [
        ({"name": '=HYPERLINK("http://x","王")'}, "name"),
        ({"name": "+86 王"}, "name"),
        ({"name": "@SUM(1)"}, "name"),
        ({"name": "\t王秀兰"}, "name"),
        ({"name": "\r王秀兰"}, "name"),
        ({"account": "-6222020200001234567"}, "account"),
        ({"amount": -200}, "amount"),  # never instructed; and never "-2.00" in a bank file
    ],
)
def test_the_bank_csv_refuses_a_formula_cell_and_writes_nothing(
    changed: dict[str, object], column: str
) -> None:
    from ledger.programs import load_programs

    sink = io.BytesIO()
    with pytest.raises(ExportRefused, match=f"its {column} starts with .* a bank CSV never"):
        export.write_daifa_csv(sink, [line(), line(**changed)], load_programs())
    assert b"HYPERLINK" not in sink.getvalue() and b"'" not in sink.getvalue()


def test_the_bank_csv_writes_names_as_they_are(tmp_path: Path) -> None:
    from ledger.programs import load_programs

    sink = io.BytesIO()
    export.write_daifa_csv(sink, [line(name="欧阳-娜娜")], load_programs())  # a dash inside
    rows = list(csv.DictReader(sink.getvalue().decode("utf-8").splitlines()))
    assert rows[0]["name"] == "欧阳-娜娜"


# -- pain.001 transactions written as text: exactly lxml's bytes ----------------------------------


def lxml_transaction(*texts: str) -> str:
    """A transaction element built and written by lxml, as the export wrote each before."""
    template = export._el("CdtTrfTxInf")
    export._path(template, "PmtId/EndToEndId", texts[0])
    export._sub(export._sub(template, "Amt"), "InstdAmt", texts[1], Ccy="CNY")
    export._path(template, "Cdtr/Nm", texts[2])
    export._path(template, "CdtrAcct/Id/Othr/Id", texts[3])
    export._path(template, "RmtInf/Ustrd", texts[4])
    return etree.tostring(template, encoding="unicode", pretty_print=True)


@settings(max_examples=300, deadline=None)
@given(name=st.text(max_size=12), remit=st.text(max_size=12))
def test_a_transaction_is_written_as_lxml_writes_it_or_refused_as_lxml_refuses_it(
    name: str, remit: str
) -> None:
    texts = ("202612R1HLSMJRZKUG4UH4NIAWJY", "1560.00", name, "6222020200001234567", remit)
    try:
        expected = lxml_transaction(*texts)
    except ValueError:  # lxml: "All strings must be XML compatible"
        with pytest.raises(ExportRefused, match="202612R1HLSMJRZKUG4UH4NIAWJY: its text holds"):
            export._TransactionText().of(*texts)
        return
    assert export._TransactionText().of(*texts) == expected


@pytest.mark.parametrize("name", ["王&<秀>兰", "a\rb", "Tab\there", "é中\u3000", "\x01王"])
def test_a_transaction_with_characters_to_escape_is_lxmls(name: str) -> None:
    texts = ("P1", "1.00", name, "6222020200001234567", "2026-12 最低生活保障 regular")
    try:
        expected = lxml_transaction(*texts)
    except ValueError:
        with pytest.raises(ExportRefused, match="cannot carry"):
            export._TransactionText().of(*texts)
        return
    assert export._TransactionText().of(*texts) == expected
