"""Applications and their steps: ``aidledger import steps FILE --by STAFF`` and
``aidledger application history APP_ID``.

A steps file (``application_id, case_id, program, step, date, staff_id, outcome, detail``, and
on an ``apply`` line of a case not recorded yet the applicant's ``region_code, name,
id_number``) is checked whole before anything is recorded: every line against every rule of
`STEP_RULES`, given the steps its application had before (recorded by earlier files, or on
earlier lines of this one). Any problem refuses the file with each line and rule; nothing is
recorded. A line repeating a step its application already has records nothing, so a file
of an application's steps so far can be imported again with new ones at its end, and the
same file twice records nothing. A good file is written in one transaction with its record.

What stops a misuse:
- the importer is a caseworker or an approver, covering the application's region, with no
  interest in it; each step's staff member is registered, in scope on the step's date, holds
  its role (``township`` a caseworker, ``approve`` an approver, two people) and has no
  interest in the application (回避: the applicant, the case's holder, relatives, accounts);
- an approval is recorded by its approver themselves (``--by`` the approve line's staff id),
  and the township review it follows by someone else: a caseworker cannot write an approval
  into a file of theirs, nor an approver a whole application; the case opened from the
  application must name that approver (`ledger.applications.check_application_gate`);
- the chain's order, the notice days before approval, an upheld objection sending it back,
  a failed step ending it (`eligibility.chain`).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

from eligibility.chain import (
    Progress,
    Step,
    check_step,
    next_expected,
    only_reject_after_a_failure,
    replay,
    taken_by_case_staff,
)
from ledger.access import Viewer
from ledger.applications import (
    APPLICANT_COLUMNS,
    STEP_COLUMNS,
    Applicant,
    Application,
    StepIdentity,
    StepRow,
    application_aggregate_id,
    approval_recorded_by_other,
    step_rows,
)
from ledger.case import CaseState
from ledger.csvfile import InputFile, SecondReading, iter_rows, reread_rows
from ledger.duties import Actor, StaffDirectory
from ledger.errors import NotFound, Problem, Problems
from ledger.events import LedgerEvent, event_type_name
from ledger.history import edge
from ledger.imports import (
    DEFAULT_MAX_INPUT_BYTES,
    ImportSummary,
    RowReport,
    begin_import,
    counted_rows,
    file_tag,
)
from ledger.registry import ImportedFile
from ledger.service import LedgerService
from ledger.store import Database, batched, save_batch, select_events_of

#: The kind of file, as `import list` shows it.
KIND = "steps"
#: Lines checked together (their applications and cases read from the store at once).
CHUNK = 2000


@dataclass
class Facts:
    """What the check knows of one application: its case, applicant, and steps so far."""

    application_id: str
    case_id: str
    program: str
    applicant: Applicant | None
    #: The stored case of the application's case_id, if any.
    case: CaseState | None = None
    recorded: bool = False
    steps: list[Step] = field(default_factory=list)
    identities: set[StepIdentity] = field(default_factory=set)
    progress: Progress = field(default_factory=Progress)
    #: Id numbers recorded as members of its case's household (whatever their dates).
    members: list[str] = field(default_factory=list)
    #: Staff ids with an interest in it (computed once its people are known).
    interested: set[str] | None = None
    #: Who recorded its latest township review (the importer of that line).
    township_recorded_by: str | None = None

    @property
    def region(self) -> str | None:
        return self.applicant.region_code if self.applicant else None

    def interest(self, staff: StaffDirectory) -> set[str]:
        """The staff with an interest: in the applicant, the case's holder, a member of its
        household, or its account."""
        if self.interested is None:
            people = {p for p in (self.applicant.id_number if self.applicant else "",) if p}
            people.update(self.members)
            accounts: set[str] = set()
            if self.case is not None:
                people.add(self.case.id_number)
                accounts.add(self.case.bank_account)
            self.interested = staff.interested(people, accounts)
        return self.interested

    def took(self, row: StepRow, step: Step, *, recorded_by: str) -> None:
        self.steps.append(step)
        self.identities.add(row.identity)
        self.progress = self.progress.after(step)
        if row.step == "township":
            self.township_recorded_by = recorded_by


@dataclass(frozen=True)
class StepContext:
    """One line of a steps file, and what its rules are judged on."""

    row: StepRow
    facts: Facts  # the application before this line
    staff: StaffDirectory
    importer: Actor
    notice_days: int
    first_in_file: bool  # the application's first line in this file

    @property
    def step(self) -> Step:
        return _step(self.row)


# -- the rules of a line (pure) -------------------------------------------------------------


def follows_the_chain(c: StepContext) -> list[str]:
    """Order, dates, roles, scope, notice days, objections, interest: `chain.check_step`."""
    return check_step(
        c.facts.progress,
        c.step,
        staff=c.staff,
        region=c.facts.region,
        interested=c.facts.interest(c.staff),
        notice_days=c.notice_days,
    )


def ends_after_a_failure(c: StepContext) -> list[str]:
    return only_reject_after_a_failure(c.facts.steps, c.step)


def by_case_staff(c: StepContext) -> list[str]:
    return taken_by_case_staff(c.staff, c.step)


def approval_recorded_by_its_approver(c: StepContext) -> list[str]:
    """An ``approve`` line is imported by its approver (a caseworker cannot record one)."""
    if c.row.step == "approve" and c.importer.staff_id != c.row.staff_id:
        return [approval_recorded_by_other(c.row.staff_id, c.importer.staff_id)]
    return []


def township_and_approval_recorded_by_two_people(c: StepContext) -> list[str]:
    """The approver records the approval; someone else recorded the township review it
    follows: an approver cannot write a whole application alone, nor a caseworker."""
    recorder = c.facts.township_recorded_by
    if c.row.step == "approve" and recorder == c.importer.staff_id:
        return [
            f"the township review was recorded by {recorder}: its approval is recorded by "
            "another person (two people)"
        ]
    return []


def importer_in_scope_without_interest(c: StepContext) -> list[str]:
    """Whoever records an application's steps covers its region and has no interest in it
    (said once per application and file)."""
    if not c.first_in_file:
        return []
    problems = []
    region, who = c.facts.region, c.importer.staff_id
    if region is not None and not c.importer.covers(region):
        problems.append(
            f"the application's region {region} is outside the importer {who}'s region "
            f"{c.importer.region}"
        )
    if who in c.facts.interest(c.staff):
        problems.append(
            f"the importer {who} has an interest in this application: another staff member "
            "must record its steps (回避)"
        )
    return problems


def one_case_and_program(c: StepContext) -> list[str]:
    """An application is for one case and one program; a recorded case keeps its program."""
    f, r = c.facts, c.row
    problems = []
    if (r.case_id, r.program) != (f.case_id, f.program):
        problems.append(
            f"application {f.application_id} is for case {f.case_id} ({f.program}), not "
            f"{r.case_id} ({r.program})"
        )
    elif f.case is not None and f.case.program != r.program:
        problems.append(
            f"case {r.case_id} is a {f.case.program} case: an application for {r.program} "
            "needs a new case_id"
        )
    return problems


def applicant_known(c: StepContext) -> list[str]:
    """An application's applicant is known from its apply line (or its recorded case)."""
    if c.row.step == "apply" and c.facts.applicant is None:
        return [
            "the apply line of a case not recorded yet names its applicant: columns "
            f"{', '.join(APPLICANT_COLUMNS)}"
        ]
    return []


def same_applicant(c: StepContext) -> list[str]:
    """A line naming an applicant names the application's own."""
    given, known = c.row.applicant, c.facts.applicant
    if given is None or known is None or given == known:
        return []
    differs = [
        n for n in APPLICANT_COLUMNS if getattr(given, n) and getattr(given, n) != getattr(known, n)
    ]
    if not differs:
        return []
    return [
        f"{', '.join(differs)} differ from application {c.facts.application_id}'s applicant "
        "(a new applicant needs a new application)"
    ]


Rule = Callable[[StepContext], list[str]]

#: Every rule of a new step, with the column its problems are reported on, in this order.
STEP_RULES: tuple[tuple[str, Rule], ...] = (
    ("application_id", one_case_and_program),
    ("region_code", applicant_known),
    ("id_number", same_applicant),
    ("step", follows_the_chain),
    ("step", ends_after_a_failure),
    ("staff_id", by_case_staff),
    ("staff_id", approval_recorded_by_its_approver),
    ("staff_id", township_and_approval_recorded_by_two_people),
    ("application_id", importer_in_scope_without_interest),
)
#: The rules a line repeating a step already taken must still meet (it names the same
#: application and applicant; it records nothing).
REPEAT_RULES: tuple[tuple[str, Rule], ...] = (
    ("application_id", one_case_and_program),
    ("id_number", same_applicant),
)


def line_problems(line: int, c: StepContext, rules: Sequence[tuple[str, Rule]]) -> list[Problem]:
    """The problems of one line under ``rules``."""
    return [Problem(line, column, reason) for column, rule in rules for reason in rule(c)]


# -- the import -----------------------------------------------------------------------------


class Steps(LedgerService):
    """Imports steps files (caseworker or approver) and reads applications back."""

    #: The largest file read, in bytes (the composition root sets it from the settings).
    max_input_bytes = DEFAULT_MAX_INPUT_BYTES

    def import_file(self, path: Path, *, by: str, report: RowReport | None = None) -> ImportSummary:
        """Import a steps file: all or nothing (InputRefused naming every line and rule),
        a file seen before records nothing. With ``report``, a dry run: every check, then
        each line's outcome (``new`` or ``unchanged``) handed to ``report``; nothing recorded.
        """
        with InputFile(path, max_bytes=self.max_input_bytes) as file:
            return self._import(file, by, report)

    def _import(self, file: InputFile, by: str, report: RowReport | None) -> ImportSummary:
        summary, staff, importer = begin_import(self, file, KIND, by, dry_run=report is not None)
        if summary.already_imported:
            return summary
        sha, name = file.sha256, file.path.name
        columns = (*STEP_COLUMNS, *(c for c in APPLICANT_COLUMNS if c in _header(file)))
        problems = Problems()
        facts: dict[str, Facts] = {}
        rows = counted_rows(iter_rows(file, columns, problems), summary)
        unchanged = self._check(
            step_rows(rows, self.config, self.today, problems), facts, staff, importer, problems
        )
        problems.refuse_if_any(str(file.path))

        tag = file_tag(name, sha)
        touched: dict[str, Application] = {}
        typed = step_rows(reread_rows(file, columns), self.config, self.today, SecondReading(file))
        for line, row in typed:
            if line in unchanged:
                summary.unchanged += 1
                _tell(report, line, row, "unchanged")
                continue
            source = f"{tag}:{line}"
            f = facts[row.application_id]
            application = touched.get(row.application_id)
            if application is not None:
                application.take(row, by=by, source=source)
            elif f.recorded:
                application = self.app.repository.get(application_aggregate_id(row.application_id))
                application.take(row, by=by, source=source)
            else:  # a new application's first line: its apply step (the check saw to it)
                application = Application.make(row, f.applicant, by=by, source=source)
            touched[row.application_id] = application
            summary.new += 1
            _tell(report, line, row, "new")
        summary.events = sum(len(a.pending_events) for a in touched.values())
        if report is not None:
            return summary
        record = ImportedFile.record(
            kind=KIND,
            filename=name,
            sha256=sha,
            by=by,
            rows=summary.rows,
            new=summary.new,
            changed=0,
            unchanged=summary.unchanged,
        )
        save_batch(self.app, [*touched.values(), record])  # one transaction: all or nothing
        self.sync()
        return summary

    def _check(
        self,
        rows: Iterable[tuple[int, StepRow]],
        facts: dict[str, Facts],
        staff: StaffDirectory,
        importer: Actor,
        problems: Problems,
    ) -> set[int]:
        """Check every line against `STEP_RULES` (problems to ``problems``), a chunk of
        lines at a time; ``facts`` ends with each application of the file. Returns the lines
        that repeat a step already taken."""
        unchanged: set[int] = set()
        seen: set[str] = set()
        notice_days = self.config.chain.notice_days
        for chunk in batched(rows, CHUNK):
            self._load(chunk, facts)
            for line, row in chunk:
                f = facts[row.application_id]
                first = row.application_id not in seen
                c = StepContext(row, f, staff, importer, notice_days, first)
                if row.identity in f.identities:
                    unchanged.add(line)
                    problems.extend(line_problems(line, c, REPEAT_RULES))
                    continue
                seen.add(row.application_id)
                problems.extend(line_problems(line, c, STEP_RULES))
                f.took(row, c.step, recorded_by=importer.staff_id)
        return unchanged

    def _load(self, chunk: Sequence[tuple[int, StepRow]], facts: dict[str, Facts]) -> None:
        """The facts of the chunk's applications not met before: recorded ones from their
        events, new ones from their first line; and the stored cases they name."""
        from projections.households import has_members, members_of
        from projections.registers import has_cases, load_cases

        new = sorted({r.application_id for _, r in chunk} - facts.keys())
        if not new:
            return
        ids = {application_aggregate_id(a): a for a in new}
        for events in select_events_of(self.app, self.db, list(ids)).values():
            f = _recorded_facts(events)
            facts[f.application_id] = f
        for _, row in chunk:
            if row.application_id not in facts:
                facts[row.application_id] = Facts(
                    row.application_id, row.case_id, row.program, row.applicant
                )
        mine = [facts[a] for a in new]
        if has_cases(self.db):
            cases = load_cases(self.db, sorted({f.case_id for f in mine}))
            for f in mine:
                stored = cases.get(f.case_id)
                if stored is not None:
                    f.case = stored[0]
                    if f.applicant is None:
                        s = f.case
                        f.applicant = Applicant(s.region_code, s.name, s.id_number)
        if has_members(self.db):
            of_case: dict[str, list[str]] = {}
            for m in members_of(self.db, sorted({f.case_id for f in mine})):
                of_case.setdefault(m.case_id, []).append(m.id_number)
            for f in mine:
                f.members = of_case.get(f.case_id, [])


def _recorded_facts(events: Sequence[LedgerEvent]) -> Facts:
    made = events[0]
    if not isinstance(made, Application.Made):
        raise TypeError(f"an application begins with ApplicationMade, not {made!r}")
    f = Facts(
        made.application_id,
        made.case_id,
        made.program,
        Applicant(made.region_code, made.name, made.id_number),
        recorded=True,
    )
    for e, row in zip(events, _rows_of(events), strict=True):
        f.took(row, _step(row), recorded_by=e.by)
    return f


def _rows_of(events: Iterable[LedgerEvent]) -> Iterator[StepRow]:
    """An application's steps as recorded, in order."""
    aggregate: Any = None
    for e in events:
        aggregate = e.mutate(aggregate)
    yield from aggregate.steps if aggregate is not None else ()


def _step(row: StepRow) -> Step:
    """A line as the chain's rules take it."""
    return Step(
        row.application_id,
        row.case_id,
        row.program,
        row.step,
        row.date,
        row.staff_id,
        row.outcome,
        row.detail,
    )


def _header(file: InputFile) -> list[str]:
    """The column names of a file's header (empty for an unreadable one)."""
    if file.encoding is None:
        return []
    try:
        return [h.strip() for h in next(csv.reader(file.text()), [])]
    except (csv.Error, UnicodeDecodeError):
        return []


def _tell(report: RowReport | None, line: int, row: StepRow, outcome: str) -> None:
    if report is None:
        return
    changes: dict[str, list[Any]] = {}
    if outcome == "new":
        for name in (*STEP_COLUMNS[1:], *APPLICANT_COLUMNS):
            value = getattr(row, name)
            if value not in ("", None):
                changes[name] = [None, edge(name, value)]
    report({"line": line, "key": row.application_id, "outcome": outcome, "changes": changes})


# -- reading an application back --------------------------------------------------------------


class ApplicationHistory(LedgerService):
    """``application history`` as a staff member sees it: the applicant's name and id number
    masked by their role (`ledger.masking`), the view recorded in the access log
    (`ledger.access`) before it is answered."""

    #: The bureau's time zone (``--known-at`` is the end of a day there).
    timezone: str = "Asia/Shanghai"

    def history(
        self, application_id: str, *, as_of: date, known_at: date | None, viewer: Viewer
    ) -> dict[str, Any]:
        """The document of ``application history --format json`` (`history_document`) as
        ``viewer`` sees it; `NotFound` for an application the ledger does not have (nothing
        recorded then)."""
        from ledger.masking import masked_history, sight

        events = cast(
            list[LedgerEvent], list(self.app.events.get(application_aggregate_id(application_id)))
        )
        if not events:
            raise NotFound(f"no application {application_id!r}")
        doc = history_document(
            application_id,
            events,
            as_of=as_of,
            known_at=known_at,
            timezone=self.timezone,
            notice_days=self.config.chain.notice_days,
            staff_names=names_of_staff_in(self.db, events),
        )
        made = events[0]
        region = made.region_code if isinstance(made, Application.Made) else None
        seen = sight(viewer.actor, region, reason=viewer.reason)
        case_ids = (doc["case_id"],) if doc["case_id"] else ()
        self.record_view(
            viewer, kind="application_history", subject=application_id, case_ids=case_ids
        )
        return masked_history(doc, seen)


def application_events(steps: Steps, application_id: str) -> list[LedgerEvent]:
    """Every event of an application, in order (empty: no such application)."""
    return list(steps.app.events.get(application_aggregate_id(application_id)))  # type: ignore[arg-type]


def history_document(
    application_id: str,
    events: Sequence[LedgerEvent],
    *,
    as_of: date,
    known_at: date | None,
    timezone: str,
    notice_days: int,
    staff_names: dict[str, str],
) -> dict[str, Any]:
    """The JSON document of ``aidledger application history``: the application's steps as
    recorded (each with who took it and who recorded it, when, and from which line), and its
    state as of ``as_of`` (the steps dated by then), as known at the end of ``known_at``."""
    from projections.trail import end_of_day

    if known_at is not None:
        moment = end_of_day(known_at, timezone)
        events = [e for e in events if e.timestamp <= moment]
    made = events[0] if events else None
    rows = list(_rows_of(events))
    records = [_record(e, staff_names) for e in events]
    return {
        "application_id": application_id,
        "case_id": made.case_id if isinstance(made, Application.Made) else None,
        "program": made.program if isinstance(made, Application.Made) else None,
        "as_of": as_of.isoformat(),
        "known_at": known_at.isoformat() if known_at else None,
        "state": _state(made, [r for r in rows if r.date <= as_of], notice_days),
        "events": records,
    }


def names_of_staff_in(db: Database, events: Sequence[LedgerEvent]) -> dict[str, str]:
    """The names of the staff an application's steps name: who recorded each, who took it."""
    from projections.registers import staff_names

    ids = {e.by for e in events} | {str(getattr(e, "staff_id", "")) for e in events}
    return staff_names(db, ids - {""})


def _record(e: LedgerEvent, names: dict[str, str]) -> dict[str, Any]:
    step = "apply" if isinstance(e, Application.Made) else getattr(e, "step", None)
    record: dict[str, Any] = {
        "type": event_type_name(e),
        "by": e.by,
        "by_name": names.get(e.by),
        "recorded_at": e.timestamp.isoformat(),
        "date": edge("date", getattr(e, "taken_on", None)),
        "step": step,
        "staff_id": getattr(e, "staff_id", None),
        "staff_name": names.get(getattr(e, "staff_id", "")),
        "outcome": getattr(e, "outcome", None),
        "detail": getattr(e, "detail", None),
        "source": getattr(e, "source", None),
    }
    if isinstance(e, Application.Made):
        record.update(region_code=e.region_code, name=e.name, id_number=e.id_number)
    return record


def _state(
    made: LedgerEvent | None, rows: Sequence[StepRow], notice_days: int
) -> dict[str, Any] | None:
    """Where the application stood after ``rows`` (None before its apply step)."""
    if not isinstance(made, Application.Made) or not rows:
        return None
    progress = replay([_step(r) for r in rows])
    approve = next((r for r in rows if r.step == "approve"), None)
    reject = next((r for r in rows if r.step == "reject"), None)
    notice = progress.notice_on
    return {
        "status": progress.ended or "open",
        "next_step": None if progress.ended else next_expected(progress),
        "region_code": made.region_code,
        "name": made.name,
        "id_number": made.id_number,
        "applied_on": rows[0].date.isoformat(),
        "notice_on": notice.isoformat() if notice else None,
        "notice_until": (notice + timedelta(days=notice_days - 1)).isoformat()
        if notice and notice_days
        else None,
        "township_by": progress.township_by,
        "approved_on": approve.date.isoformat() if approve else None,
        "approved_by": approve.staff_id if approve else None,
        "rejected_on": reject.date.isoformat() if reject else None,
        "steps": len(rows),
    }
