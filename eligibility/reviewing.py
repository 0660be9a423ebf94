"""Periodic reviews on a store: ``aidledger import reviews FILE --by STAFF`` and ``aidledger
reviews due``.

A reviews file (``case_id, date, reviewer, outcome, monthly_amount, effective_from,
next_review_months``) is checked whole before anything is recorded: every line against every
rule of `eligibility.reviews.REVIEW_RULES` (the case, the reviewer's and the importer's
duties, the terms). Any problem refuses the file with each line and rule; nothing is recorded.
A line repeating a review recorded before (same case, day and terms) records nothing, and the
same file twice records nothing. A good file is written in one transaction with its record:
each review, the decision an ``adjust`` or ``terminate`` makes on its case (`Case.decide`,
decided by the reviewer and approved by the importer, so the next payout run pays the arrears
or raises the recoveries it makes), and the closing of the case's open ``review_overdue``
findings.

What falls due, and when, is `eligibility.reviews`; the cases it reads come from
`projections.reviews.review_scan`, a page at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import date, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from eligibility.reviews import (
    REPEAT_RULES,
    REVIEW_RULES,
    DueReview,
    ReviewContext,
    ReviewTerms,
    check_may_list_reviews_due,
    earliest_basis,
    line_problems,
    review_state,
    reviews_due,
)
from ledger.case import Case, CaseState, case_aggregate_id
from ledger.config_store import load_config
from ledger.csvfile import InputFile, SecondReading, iter_rows, reread_rows
from ledger.duties import Actor
from ledger.errors import Problems
from ledger.history import edge
from ledger.imports import (
    DEFAULT_MAX_INPUT_BYTES,
    ImportSummary,
    RowReport,
    begin_import,
    counted_rows,
    file_tag,
)
from ledger.payment import Finding, finding_aggregate_id
from ledger.registry import ImportedFile
from ledger.review import OVERDUE_FINDING, REVIEW_COLUMNS, CaseReview, ReviewRow, review_rows
from ledger.service import LedgerService
from ledger.store import Database, LedgerApp, rows_where_in, save_batch

#: The kind of file, as `import list` shows it.
KIND = "reviews"
#: Lines checked together (their cases and reviews read from the store at once).
CHUNK = 2000


class Reviews(LedgerService):
    """Imports reviews files and says which cases are due."""

    #: The largest file read, in bytes (the composition root sets it from the settings).
    max_input_bytes = DEFAULT_MAX_INPUT_BYTES

    # -- what falls due ---------------------------------------------------------------------

    def terms(self, on: date) -> ReviewTerms:
        """The review rules of the config in force on ``on``."""
        return store_terms(self.app, self.db, on)

    def scan(self, as_of: date, terms: ReviewTerms | None = None) -> Iterator[list[DueReview]]:
        """The cases in effect on ``as_of`` and due by then, a page at a time in case order."""
        self.sync()
        yield from due_pages(self.db, terms or self.terms(as_of), as_of)

    def due(self, as_of: date, *, reader: Actor | None = None) -> list[DueReview]:
        """``reviews due --as-of``: every case due by ``as_of``, most overdue first.
        ``reader``: the staff member asking (the console, the API), refused unless their role
        lists reviews (`check_may_list_reviews_due`)."""
        if reader is not None:
            check_may_list_reviews_due(reader)
        rows = [d for page in self.scan(as_of) for d in page]
        return sorted(rows, key=lambda d: (-d.days_overdue, d.case_id))

    # -- the import ---------------------------------------------------------------------------

    def import_file(self, path: Path, *, by: str, report: RowReport | None = None) -> ImportSummary:
        """Import a reviews file: all or nothing (InputRefused naming every line and rule),
        a file seen before records nothing. With ``report``, a dry run: every check, then each
        line's outcome handed to ``report``; nothing recorded."""
        with InputFile(path, max_bytes=self.max_input_bytes) as file:
            return self._import(file, by, report)

    def _import(self, file: InputFile, by: str, report: RowReport | None) -> ImportSummary:
        summary, staff, importer = begin_import(self, file, KIND, by, dry_run=report is not None)
        if summary.already_imported:
            return summary
        sha, name = file.sha256, file.path.name
        problems = Problems()
        rows = counted_rows(iter_rows(file, REVIEW_COLUMNS, problems), summary)
        cases: dict[str, CaseState] = {}
        typed_rows = review_rows(rows, self.today, problems)
        unchanged = self._check(typed_rows, cases, staff, importer, problems)
        problems.refuse_if_any(str(file.path))

        tag = file_tag(name, sha)
        pending: list[Any] = []
        reviewed: list[str] = []
        typed = review_rows(reread_rows(file, REVIEW_COLUMNS), self.today, SecondReading(file))
        for line, row in typed:
            if line in unchanged:
                summary.unchanged += 1
                _tell(report, line, row, "unchanged")
                continue
            source = f"{tag}:{line}"
            state = cases[row.case_id]
            pending.append(
                CaseReview.record(
                    row, program=state.program, region_code=state.region_code, by=by, source=source
                )
            )
            if row.outcome != "continue":
                case: Case = self.app.repository.get(case_aggregate_id(row.case_id))
                case.decide(_decision(case.state, row, by), by=by, source=source)
                pending.append(case)
            reviewed.append(row.case_id)
            summary.new += 1
            _tell(report, line, row, "new")
        pending += self._closing(reviewed, by)
        summary.events = sum(len(a.pending_events) for a in pending)
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
        save_batch(self.app, [*pending, record])  # one transaction: all or nothing
        self.sync()
        return summary

    def _check(
        self,
        rows: Iterable[tuple[int, ReviewRow]],
        cases: dict[str, CaseState],
        staff: Any,
        importer: Any,
        problems: Problems,
    ) -> set[int]:
        """Check every line against `REVIEW_RULES`, a chunk at a time; ``cases`` ends with the
        state of each case the file names. Returns the lines repeating a recorded review."""
        from projections.registers import load_cases
        from projections.reviews import recorded_reviews

        unchanged: set[int] = set()
        first_line: dict[str, int] = {}
        it = iter(rows)
        while chunk := list(islice(it, CHUNK)):
            ids = sorted({r.case_id for _, r in chunk})
            for case_id, (state, _) in load_cases(self.db, ids).items():
                cases[case_id] = state
            recorded = recorded_reviews(self.db, ids)
            for line, row in chunk:
                known = cases.get(row.case_id)
                before = recorded.get(row.case_id, [])
                max_monthly = (
                    self.config.programs[known.program].max_monthly_fen
                    if known is not None and known.program in self.config.programs
                    else 0
                )
                c = ReviewContext(
                    row,
                    known,
                    before[-1].date if before else None,
                    staff,
                    importer,
                    max_monthly,
                    first_line.get(row.case_id),
                )
                first_line.setdefault(row.case_id, line)
                if row in before:
                    unchanged.add(line)
                    problems.extend(line_problems(line, c, REPEAT_RULES))
                    continue
                problems.extend(line_problems(line, c, REVIEW_RULES))
        return unchanged

    def _closing(self, case_ids: Sequence[str], by: str) -> list[Finding]:
        """The open ``review_overdue`` findings of the reviewed cases, closed as corrected."""
        out: list[Finding] = []
        for (fid,) in rows_where_in(
            self.db,
            "SELECT finding_id FROM findings",
            "case_id",
            case_ids,
            f"AND type = '{OVERDUE_FINDING}' AND status <> 'resolved'",
        ):
            finding: Finding = self.app.repository.get(finding_aggregate_id(fid))
            finding.close(by=by, comment=f"review recorded by {by} on {self.today.isoformat()}")
            out.append(finding)
        return out


def due_pages(db: Database, terms: ReviewTerms, as_of: date) -> Iterator[list[DueReview]]:
    """The cases in effect on ``as_of`` and due for review by then under ``terms``, a page at a
    time in case order (`projections.reviews.review_scan`): bounded memory for a province."""
    from projections.reviews import review_scan

    for page in review_scan(db, in_effect_on=as_of, basis_until=earliest_basis(as_of)):
        states = (
            review_state(terms, c, p, r, start, last, months)
            for c, p, r, start, _, last, months in page
        )
        found = reviews_due((s for s in states if s is not None), as_of)
        if found:
            yield sorted(found, key=lambda d: d.case_id)


def store_terms(app: LedgerApp, db: Database, on: date) -> ReviewTerms:
    """The review rules of the config in force on ``on``, with the day the store began."""
    from projections.reviews import first_config_day

    return ReviewTerms.of(load_config(app, db, on), first_config_day(db))


def _decision(state: CaseState, row: ReviewRow, by: str) -> Any:
    """The cases-file row a review's change amounts to: the case as it stands, with the new
    amount from ``effective_from`` (adjust) or ending the day before it (terminate); decided by
    the reviewer, approved by the importer."""
    current = state.as_row()
    if row.outcome == "adjust" and row.monthly_amount and row.effective_from:
        return replace(
            current,
            monthly_amount=row.monthly_amount,
            effective_from=row.effective_from,
            decided_by=row.reviewer,
            approved_by=by,
        )
    if row.effective_from is None:
        raise ValueError("a terminate review gives its first day without (checked)")
    return replace(
        current,
        effective_to=row.effective_from - timedelta(days=1),
        decided_by=row.reviewer,
        approved_by=by,
    )


def _tell(report: RowReport | None, line: int, row: ReviewRow, outcome: str) -> None:
    if report is None:
        return
    changes: dict[str, list[Any]] = {}
    if outcome == "new":
        for column in REVIEW_COLUMNS[1:]:
            value = getattr(row, column)
            if value is not None:
                changes[column] = [None, edge(column, value)]
    report({"line": line, "key": row.case_id, "outcome": outcome, "changes": changes})
