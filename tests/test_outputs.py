"""Reports, findings, recoveries, a run and the 公示 notice as spreadsheets and files."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from tests.conftest import FIXTURES


def paid_month(cli: Any, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    cli("import", "staff", str(FIXTURES / "staff.csv"), "--by", "S007")
    cli("import", "cases", str(FIXTURES / "cases.csv"), "--by", "S001")
    cli("import", "deaths", str(FIXTURES / "deaths.csv"), "--by", "S001")
    run = json.loads(
        cli("payout", "prepare", "--period", "2026-06", "--by", "S003", "--format", "json").stdout
    )["run_id"]
    assert cli("payout", "approve", run, "--by", "S005").exit_code == 0
    return str(run)


def sheet_rows(path: Path, name: str | None = None) -> list[list[Any]]:
    book = load_workbook(path)
    ws = book[name] if name else book.worksheets[0]
    return [[c.value for c in row] for row in ws.iter_rows()]


def test_each_report_as_xlsx_amounts_as_numbers_ids_as_text(cli: Any, tmp_path: Path) -> None:
    run = paid_month(cli, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    commands = {
        "payouts": ["report", "payouts", "--period", "2026-06", "--by", "program"],
        "notice": ["report", "notice", "--period", "2026-06", "--region", "610102"],
        "findings": ["findings", "--period", "2026-06"],
        "recoveries": ["recoveries", "--status", "all"],
        "run": ["payout", "show", run],
    }
    for name, args in commands.items():
        result = cli(*args, "--format", "xlsx", "--out", str(out / f"{name}.xlsx"))
        assert result.exit_code == 0, (name, result.output)
    payouts = sheet_rows(out / "payouts.xlsx")
    header = payouts[2]
    assert header[:2] == ["period", "program"]
    dibao = next(r for r in payouts if r[1] == "dibao")
    assert Decimal(str(dibao[header.index("amount")])) == Decimal("3640.00")
    assert isinstance(dibao[header.index("cases")], int)
    findings = sheet_rows(out / "findings.xlsx")
    (held,) = [r for r in findings[3:] if r[1] == "paid_after_death"]
    assert held[findings[2].index("case_id")] == "C003"
    run_book = load_workbook(out / "run.xlsx")
    assert run_book.sheetnames == ["run", "by program", "by kind", "held"]
    held_sheet = sheet_rows(out / "run.xlsx", "held")
    assert held_sheet[0][0] == "payment_id"  # no title lines: the table from the top
    assert held_sheet[1][1] == "C003" and Decimal(str(held_sheet[1][3])) == Decimal("200.00")
    # Without --out, or over an existing file: refused, nothing written.
    assert cli(*commands["payouts"], "--format", "xlsx").exit_code == 2
    again = cli(*commands["payouts"], "--format", "xlsx", "--out", str(out / "payouts.xlsx"))
    assert again.exit_code == 1 and "--force" in again.output
    assert sorted(p.name for p in out.iterdir()) == [
        "findings.xlsx",
        "notice.xlsx",
        "payouts.xlsx",
        "recoveries.xlsx",
        "run.xlsx",
    ]


def test_the_notice_is_print_ready_and_masked(cli: Any, tmp_path: Path) -> None:
    paid_month(cli, tmp_path)
    config = cli("config", "show", "--format", "toml").stdout + (
        '\n[bureau]\nname = "新城区民政局"\n\n[regions.names]\n'
        '"610102" = "新城区"\n"610102001" = "西一路街道"\n"610102001001" = "东新社区"\n'
    )
    (tmp_path / "c.toml").write_text(config, encoding="utf-8")
    assert cli("config", "apply", str(tmp_path / "c.toml"), "--by", "S007").exit_code == 0
    path = tmp_path / "notice.xlsx"
    args = ["report", "notice", "--period", "2026-06", "--region", "610102"]
    assert cli(*args, "--format", "xlsx", "--out", str(path)).exit_code == 0
    rows = sheet_rows(path)
    assert rows[0][0] == "新城区2026年6月社会救助资金发放公示"
    assert rows[1][0] == "发布单位：新城区民政局" and rows[2][0] == "发布日期：2026-12-15"
    assert rows[4] == ["序号", "地区", "救助项目", "姓名", "身份证号", "家庭人口", "金额(元)"]
    first = rows[5]
    assert first[1] == "新城区西一路街道东新社区" and first[2] == "最低生活保障"
    assert first[3] == "王*兰" and first[4] == "610102********0011"
    text = json.dumps(rows, ensure_ascii=False)
    assert "王秀兰" not in text and "610102195001010011" not in text
    totals = [r for r in rows if r[1] in ("合计", "总计")]
    assert totals[-1][1] == "总计" and Decimal(str(totals[-1][6])) == Decimal("4911.00")
    table = cli(*args)
    assert "新城区2026年6月社会救助资金发放公示" in table.stdout and "发布单位" in table.stdout
