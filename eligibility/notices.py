"""The public notices (公示) of the decision chain besides the payees' one: before approval
(``report notice --stage pre-approval``), and of the cases that ended (``--stage exits``).

Both are print-ready like the notice of payees (`projections.reports.notice_document`): a
title with the place's Chinese name, the issuing department, the date, rows and totals;
names and id numbers masked (张*三, 610102********1234), nothing else personal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from itertools import groupby
from typing import Any

from eligibility.chain import Step, replay
from eligibility.deceased import DEATH_SOURCE
from ledger.ids import mask_id_number, mask_name
from ledger.money import format_fen, parse_fen
from ledger.period import Period
from ledger.programs import ProgramsConfig
from ledger.store import Database
from projections.applications import NoticeStep, notice_steps
from projections.registers import ended_cases, refuse_while_importing
from projections.reports import Notice, place_name

PRE_APPROVAL_FIELDS = (
    "seq",
    "place",
    "program_name",
    "name",
    "id_number",
    "notice_from",
    "notice_to",
)
PRE_APPROVAL_LABELS = {
    "seq": "序号",
    "place": "地区",
    "program_name": "申请项目",
    "name": "申请人",
    "id_number": "身份证号",
    "notice_from": "公示开始",
    "notice_to": "公示截止",
}
EXITS_FIELDS = (
    "seq",
    "place",
    "program_name",
    "name",
    "id_number",
    "household_size",
    "amount",
    "ended_on",
    "reason",
)
EXITS_LABELS = {
    "seq": "序号",
    "place": "地区",
    "program_name": "救助项目",
    "name": "姓名",
    "id_number": "身份证号",
    "household_size": "家庭人口",
    "amount": "原月金额(元)",
    "ended_on": "终止日期",
    "reason": "退出原因",
}


def in_notice(steps: Sequence[Step], day: date, notice_days: int) -> date | None:
    """The first day of the notice an application is in on ``day``, given its steps up to
    that day (None: not in its notice window then). The window is the notice's day and the
    ``notice_days - 1`` days after it; an upheld objection, approval or rejection ends it."""
    progress = replay(steps)
    start = progress.notice_on
    if start is None or progress.ended or not start <= day < start + timedelta(days=notice_days):
        return None
    return start


def pre_approval_rows(
    steps: Sequence[NoticeStep], day: date, notice_days: int
) -> list[dict[str, Any]]:
    """The applications in their notice window on ``day``, masked, given the steps of those
    that might be (`projections.applications.notice_steps`)."""
    rows: list[dict[str, Any]] = []
    for _, group in groupby(steps, key=lambda s: s.application_id):
        mine = list(group)
        start = in_notice([_as_step(s) for s in mine], day, notice_days)
        if start is None:
            continue
        a = mine[0]
        rows.append(
            {
                "application_id": a.application_id,
                "region_code": a.region_code,
                "program": a.program,
                "name": mask_name(a.name),
                "id_number": mask_id_number(a.id_number),
                "notice_from": start.isoformat(),
                "notice_to": (start + timedelta(days=notice_days - 1)).isoformat(),
            }
        )
    return rows


def _as_step(s: NoticeStep) -> Step:
    return Step(
        s.application_id, s.case_id, s.program, s.step, s.taken_on, s.staff_id, s.outcome, s.detail
    )


def pre_approval_notice(db: Database, config: ProgramsConfig, region: str, as_of: date) -> Notice:
    """The notice before approval (审批前公示) as it stands on ``as_of`` (its date): who
    applied for what in ``region``, whose notice runs that day. Refused while an import is
    open."""
    refuse_while_importing(db)
    days = config.chain.notice_days
    found = notice_steps(db, region, as_of - timedelta(days=max(days - 1, 0)), as_of)
    rows = pre_approval_rows(found, as_of, days)
    _number(rows, config)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["program_name"]] = counts.get(r["program_name"], 0) + 1
    totals = _totals({name: (n, None) for name, n in counts.items()}, len(rows), None, unit="人")
    return _notice(
        config,
        region,
        as_of,
        "社会救助审批前公示",
        rows,
        totals,
        PRE_APPROVAL_FIELDS,
        PRE_APPROVAL_LABELS,
    )


def exits_notice(
    db: Database, config: ProgramsConfig, region: str, period: Period, issued_on: date
) -> Notice:
    """The notice of exits (退出公示): the cases of ``region`` whose last day in effect falls
    in ``period``, with their last monthly amount and why they ended. Refused while an import
    is open."""
    refuse_while_importing(db)
    rows: list[dict[str, Any]] = []
    for state, source in ended_cases(db, region, period.first_day, period.last_day):
        if state.effective_to is None:  # the query asks for an end
            continue
        rows.append(
            {
                "case_id": state.case_id,
                "region_code": state.region_code,
                "program": state.program,
                "name": mask_name(state.name),
                "id_number": mask_id_number(state.id_number),
                "household_size": state.household_size,
                "amount": format_fen(state.monthly_amount),
                "ended_on": state.effective_to.isoformat(),
                "reason": "死亡" if source.startswith(DEATH_SOURCE) else "终止",
            }
        )
    _number(rows, config)
    sums: dict[str, tuple[int, int | None]] = {}
    for r in rows:
        n, a = sums.get(r["program_name"], (0, 0))
        sums[r["program_name"]] = (n + 1, (a or 0) + parse_fen(r["amount"]))
    whole = sum(a or 0 for _, a in sums.values())
    year, month = str(period).split("-")
    return _notice(
        config,
        region,
        issued_on,
        f"{int(year)}年{int(month)}月社会救助退出公示",
        rows,
        _totals(sums, len(rows), whole, unit="户"),
        EXITS_FIELDS,
        EXITS_LABELS,
    )


def _number(rows: list[dict[str, Any]], config: ProgramsConfig) -> None:
    """Sequence numbers, Chinese program and place names, as the notice of payees has."""
    for n, r in enumerate(rows, start=1):
        program = config.programs.get(r["program"])
        r["seq"] = n
        r["program_name"] = program.name if program else r["program"]
        r["place"] = place_name(config, r["region_code"])


def _totals(
    per_program: dict[str, tuple[int, int | None]], count: int, whole: int | None, *, unit: str
) -> list[dict[str, Any]]:
    """A 合计 line per program (count, and amount where there is one), then a 总计 line
    when there are several programs (or none)."""
    summary = [
        {
            "seq": None,
            "place": "合计",
            "program_name": name,
            "name": f"{n}{unit}",
            "amount": format_fen(a) if a is not None else None,
        }
        for name, (n, a) in sorted(per_program.items())
    ]
    if len(summary) != 1:
        summary.append(
            {
                "seq": None,
                "place": "总计",
                "program_name": "",
                "name": f"{count}{unit}",
                "amount": format_fen(whole) if whole is not None else None,
            }
        )
    return summary


def _notice(
    config: ProgramsConfig,
    region: str,
    issued_on: date,
    title: str,
    rows: list[dict[str, Any]],
    totals: list[dict[str, Any]],
    fields: tuple[str, ...],
    labels: dict[str, str],
) -> Notice:
    place = place_name(config, region)
    named = place != region
    return Notice(
        title=f"{place}{title}" if named else f"{title}（{region}）",
        issuer=config.bureau.name or "民政局",
        issued_on=issued_on,
        region=region,
        place=place,
        rows=rows,
        totals=totals,
        fields=fields,
        labels=labels,
    )
