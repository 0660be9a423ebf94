"""Applications for assistance (申请) and their steps: the 阳光 decision chain as events.

An application is a small aggregate, `Application`, its id derived from its ``application_id``.
Its first event, `Application.Made`, is the ``apply`` step with the applicant (region, name,
id number); every later step (``verify``, ``visit``, ``review``, ``township``, ``notice``,
``objection``, ``approve``, ``reject``) is an `Application.StepTaken`. Each carries who took
the step (``staff_id``), its date (``taken_on``), ``outcome``, ``detail`` and the line of the
file it came from (``source``); ``by`` is who recorded it.

The rules of the chain (order, actors, notice days, objections, interest) are pure functions
in `eligibility.chain`, checked for every line of a steps file before anything is recorded
(`eligibility.applications`). The aggregate keeps what it can check alone: one case and one
program per application, nothing after it ended, and an approval recorded by its approver.

What a new case needs once ``[chain] required_from`` is in force is here too, pure:
`check_application_gate` judges a cases row against the approved applications of its case.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, ClassVar, Self
from uuid import UUID

from ledger.case import CaseRow
from ledger.csvfile import CsvRow
from ledger.duties import StaffDirectory
from ledger.errors import AidLedgerError, InvalidValue, Problem, ProblemSink
from ledger.events import LedgerAggregate, register_event_topics
from ledger.ids import (
    derived_id,
    mask_id_number,
    parse_id_number,
    parse_region_code,
    parse_staff_id,
)
from ledger.period import parse_date
from ledger.programs import ProgramsConfig
from ledger.validation import _case_id, _RowChecker, _text

#: The columns of a steps file, in their documented order.
STEP_COLUMNS: tuple[str, ...] = (
    "application_id",
    "case_id",
    "program",
    "step",
    "date",
    "staff_id",
    "outcome",
    "detail",
)
#: Optional columns: the applicant, given on the ``apply`` line of an application whose case
#: is not recorded yet (region, and the person the notice and the interest checks are about).
APPLICANT_COLUMNS: tuple[str, ...] = ("region_code", "name", "id_number")


@dataclass(frozen=True, slots=True)
class Applicant:
    """Who applies, and where: what the notice shows (masked) and interest is judged on."""

    region_code: str
    name: str
    id_number: str


#: What makes a step the same step: its kind, date, staff member, outcome and detail.
StepIdentity = tuple[str, date, str, str, str]


@dataclass(frozen=True, slots=True)
class StepRow:
    """One validated line of a steps file (the applicant columns empty where not given)."""

    application_id: str
    case_id: str
    program: str
    step: str
    date: date
    staff_id: str
    outcome: str
    detail: str
    region_code: str = ""
    name: str = ""
    id_number: str = ""

    @property
    def applicant(self) -> Applicant | None:
        """The applicant this line names (None: the line names none)."""
        if not (self.region_code or self.name or self.id_number):
            return None
        return Applicant(self.region_code, self.name, self.id_number)

    @property
    def identity(self) -> StepIdentity:
        """What makes a step the same step: a line repeating one already taken records
        nothing (a file of an application's steps so far, imported again with new ones)."""
        return (self.step, self.date, self.staff_id, self.outcome, self.detail)


def application_aggregate_id(application_id: str) -> UUID:
    """The aggregate id of an application: derived from its application_id."""
    return derived_id("application", application_id)


class ApplicationRefused(AidLedgerError):
    """A step the application itself refuses (another case, after its end, an approval
    recorded by someone else). Nothing recorded."""


class Application(LedgerAggregate):
    """One application and its steps. Commands check first, then trigger the event."""

    class Made(LedgerAggregate.Created):
        """The ``apply`` step: the application and its applicant."""

        TOPIC: ClassVar[str] = "aidledger.ApplicationMade"
        application_id: str
        case_id: str
        program: str
        region_code: str
        name: str
        id_number: str
        taken_on: date
        staff_id: str
        outcome: str
        detail: str
        source: str = ""

        def apply(self, aggregate: Application) -> None:
            aggregate.application_id = self.application_id
            aggregate.case_id = self.case_id
            aggregate.program = self.program
            aggregate.applicant = Applicant(self.region_code, self.name, self.id_number)
            aggregate.steps = [self.row()]

        def row(self) -> StepRow:
            return StepRow(
                self.application_id,
                self.case_id,
                self.program,
                "apply",
                self.taken_on,
                self.staff_id,
                self.outcome,
                self.detail,
            )

    class StepTaken(LedgerAggregate.Event):
        """Any later step: verify, visit, review, township, notice, objection, approve, reject."""

        TOPIC: ClassVar[str] = "aidledger.ApplicationStepTaken"
        application_id: str
        step: str
        taken_on: date
        staff_id: str
        outcome: str
        detail: str
        source: str = ""

        def apply(self, aggregate: Application) -> None:
            aggregate.steps.append(
                StepRow(
                    aggregate.application_id,
                    aggregate.case_id,
                    aggregate.program,
                    self.step,
                    self.taken_on,
                    self.staff_id,
                    self.outcome,
                    self.detail,
                )
            )

    if TYPE_CHECKING:
        application_id: str
        case_id: str
        program: str
        applicant: Applicant
        steps: list[StepRow]

    #: The steps that end an application.
    ENDINGS: ClassVar[dict[str, str]] = {"approve": "approved", "reject": "rejected"}

    @classmethod
    def make(cls, row: StepRow, applicant: Applicant | None, *, by: str, source: str) -> Self:
        """Open an application from its ``apply`` line, with its applicant."""
        if row.step != "apply":
            raise ApplicationRefused(
                f"application {row.application_id} starts with apply, not {row.step}"
            )
        if applicant is None:
            raise ApplicationRefused(
                f"application {row.application_id} names no applicant (region_code, name, "
                "id_number on its apply line)"
            )
        return cls._create(
            cls.Made,
            id=application_aggregate_id(row.application_id),
            by=by,
            source=source,
            application_id=row.application_id,
            case_id=row.case_id,
            program=row.program,
            region_code=applicant.region_code,
            name=applicant.name,
            id_number=applicant.id_number,
            taken_on=row.date,
            staff_id=row.staff_id,
            outcome=row.outcome,
            detail=row.detail,
        )

    @property
    def ended(self) -> str | None:
        """``approved`` or ``rejected`` once it ended, else None."""
        return self.ENDINGS.get(self.steps[-1].step)

    def take(self, row: StepRow, *, by: str, source: str) -> None:
        """Record a later step. The chain's rules were checked for the whole file first
        (`eligibility.applications`); these are the application's own."""
        self._check_same_case(row)
        self._check_not_ended(row)
        self._check_approval_recorded_by_its_approver(row, by)
        self.trigger_event(
            self.StepTaken,
            by=by,
            source=source,
            application_id=self.application_id,
            step=row.step,
            taken_on=row.date,
            staff_id=row.staff_id,
            outcome=row.outcome,
            detail=row.detail,
        )

    def _check_same_case(self, row: StepRow) -> None:
        if (row.case_id, row.program) != (self.case_id, self.program):
            raise ApplicationRefused(
                f"application {self.application_id} is for case {self.case_id} "
                f"({self.program}), not {row.case_id} ({row.program})"
            )

    def _check_not_ended(self, row: StepRow) -> None:
        if self.ended is not None:
            raise ApplicationRefused(
                f"application {self.application_id} was already {self.ended}: no {row.step} "
                "after it"
            )

    def _check_approval_recorded_by_its_approver(self, row: StepRow, by: str) -> None:
        if row.step == "approve" and by != row.staff_id:
            raise ApplicationRefused(approval_recorded_by_other(row.staff_id, by))


register_event_topics(Application, "aidledger.Application")


def approval_recorded_by_other(approver: str, by: str) -> str:
    """Why an approval recorded by someone other than its approver is refused."""
    return (
        f"an approval is recorded by its approver: {approver} imports the file with their "
        f"approve step (--by {approver}); {by} may not record it"
    )


# -- a steps file's lines (pure) ------------------------------------------------------------


def step_rows(
    rows: Iterable[CsvRow], config: ProgramsConfig, today: date, problems: ProblemSink
) -> Iterator[tuple[int, StepRow]]:
    """Each good line of a steps file, typed, with its line number; each problem found goes
    to ``problems``. Whether a step may follow the ones before it is the chain's to say
    (`eligibility.chain`): here each value alone."""
    for row in rows:
        c = _RowChecker(row, problems)
        day = c.value("date", parse_date, today)
        if day > today:
            c.fail("date", f"is after today ({today.isoformat()}): a step is recorded once taken")
        step = StepRow(
            application_id=c.value("application_id", _application_id, ""),
            case_id=c.value("case_id", _case_id, ""),
            program=c.value("program", lambda s: config.program(s).code, ""),
            step=c.value("step", _text(16), ""),
            date=day,
            staff_id=c.value("staff_id", parse_staff_id, ""),
            outcome=c.value("outcome", _optional(32), ""),
            detail=c.value("detail", _optional(500), ""),
            **_applicant(c, row, config),
        )
        if c.ok:
            yield row.line, step


def _application_id(raw: str) -> str:
    try:
        return _case_id(raw)
    except InvalidValue:
        raise InvalidValue(
            "application_id must be 1-64 characters without spaces or commas"
        ) from None


def _optional(max_len: int) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if len(raw) > max_len:
            raise InvalidValue(f"is longer than {max_len} characters")
        return raw

    return parse


def _applicant(c: _RowChecker, row: CsvRow, config: ProgramsConfig) -> dict[str, str]:
    """The applicant columns of a line, where the file has them and they are not empty."""
    out: dict[str, str] = {}
    values = row.values
    if values.get("region_code"):
        region = c.value("region_code", parse_region_code, "")
        if region and not config.bureau.covers(region):
            c.fail(
                "region_code",
                f"is outside the bureau's regions ({', '.join(config.bureau.regions)})",
            )
        out["region_code"] = region
    if values.get("name"):
        out["name"] = c.value("name", _text(64), "")
    if values.get("id_number"):
        out["id_number"] = c.value("id_number", parse_id_number, "")
    return out


# -- the gate of a new case (pure) ----------------------------------------------------------


@dataclass(frozen=True)
class ApprovedApplication:
    """An approved application, as a new case's row is judged against it."""

    application_id: str
    case_id: str
    program: str
    region_code: str
    id_number: str
    approved_on: date
    approved_by: str
    #: Everyone who took one of its steps (for 回避 against the case's people and account).
    step_staff: frozenset[str]


def check_application_gate(
    line: int,
    row: CaseRow,
    approved: Sequence[ApprovedApplication],
    directory: StaffDirectory,
    required_from: date,
) -> list[Problem]:
    """The problems of a row that opens a new case in effect from ``required_from`` on:
    its case and program need an approved application, approved no later than the case's
    ``effective_from``, for this person (``id_number``) and region, approved by the row's
    ``approved_by`` (the case's approver is the application's), and none of the staff who
    took its steps may have an interest in the case (its person or its account, now known)."""
    if not approved:
        return [
            Problem(
                line,
                "case_id",
                f"a new case in effect from {row.effective_from.isoformat()} (on or after "
                f"the chain's required_from, {required_from.isoformat()}) needs an approved "
                f"application for case {row.case_id} and program {row.program}: import its "
                "steps first (aidledger import steps)",
                row.case_id,
            )
        ]
    in_time = [a for a in approved if a.approved_on <= row.effective_from]
    if not in_time:
        first = min(approved, key=lambda a: a.approved_on)
        return [
            Problem(
                line,
                "effective_from",
                f"application {first.application_id} was approved on "
                f"{first.approved_on.isoformat()}: the case takes effect no earlier",
                row.effective_from.isoformat(),
            )
        ]
    same_person = [a for a in in_time if a.id_number == row.id_number]
    a = max(same_person or in_time, key=lambda a: a.approved_on)
    problems = []
    if a.id_number != row.id_number:
        problems.append(
            Problem(
                line,
                "id_number",
                f"application {a.application_id} was made by another person "
                f"({mask_id_number(a.id_number)}): a case is opened for its applicant",
            )
        )
    if a.region_code != row.region_code:
        problems.append(
            Problem(
                line,
                "region_code",
                f"application {a.application_id} is for region {a.region_code}",
                row.region_code,
            )
        )
    if a.approved_by != row.approved_by:
        problems.append(
            Problem(
                line,
                "approved_by",
                f"application {a.application_id} was approved by {a.approved_by} on "
                f"{a.approved_on.isoformat()}: the case's approver is its application's",
                row.approved_by,
            )
        )
    interested = directory.interested([row.id_number], [row.bank_account]) & a.step_staff
    for staff_id in sorted(interested):
        problems.append(
            Problem(
                line,
                "case_id",
                f"{staff_id} took a step of application {a.application_id} and has an interest "
                "in this case (the beneficiary is the staff member or a registered relative, "
                "or the account is the staff member's own): the application must be taken by "
                "others (回避)",
                row.case_id,
            )
        )
    return problems
