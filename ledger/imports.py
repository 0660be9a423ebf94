"""Importing cases, deaths, staff, relatives and grants files: all or nothing, once, in batches.

Order of work. The file is opened and, if it is larger than the limit, refused at once; a
first reading hashes it: a file imported before (same kind and content) records nothing.
Another import left open (interrupted, or running) refuses this one. Then a second reading
checks every row as it goes (values, duties, the program of each case against the stored
cases) and keeps only what the checks across rows need, in 13 to 20 bytes a row
(`validation.LineKeys`): the few lines those point at are read once more to be sure. Any
problem refuses the file, with every problem (the first thousand listed), before anything is
written. Only then a last reading decides each row against the registers as they stand (new,
changed, unchanged; for cases a chunk of rows at a time) and writes in batches of whole
aggregates, and finally records the file. Each reading checks the file's bytes are those the
first one hashed (`csvfile.InputFile`). Memory holds a chunk of rows and those few bytes a
row, not the file's rows.

An import that writes records that it started (`registry.FileImport`) in its first
transaction and ends with the file's record (`ImportedFile`). A crash in between leaves the
batches written so far, and an open import: payout runs, reconciliation and reports refuse
to read until it completes (`projections.registers.refuse_while_importing`). Running the
same import again completes it, because ids are derived from business keys and rows it
already wrote are recognised by their source (file name, content hash, line).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

from ledger.case import CASE_COLUMNS, Case, CaseRow, CaseState, case_aggregate_id
from ledger.csvfile import (
    BLOCK,
    CsvRow,
    InputFile,
    SecondReading,
    iter_rows,
    reread_rows,
    reread_values,
)
from ledger.csvparts import Emit, SecondHalf, keys_in_two, second_half
from ledger.duties import Actor, StaffDirectory
from ledger.errors import (
    ImportIncomplete,
    InputChanged,
    InputTooLarge,
    Problem,
    Problems,
    ProblemSink,
)
from ledger.grant import GRANT_COLUMNS, GrantRow, ReliefGrant, against_the_recorded
from ledger.household import (
    HOUSEHOLD_COLUMNS,
    HouseholdMember,
    HouseholdRow,
    household_member_aggregate_id,
)
from ledger.programs import ProgramsConfig
from ledger.registry import (
    DEATH_COLUMNS,
    RELATIVE_COLUMNS,
    STAFF_COLUMNS,
    DeathReport,
    DeathRow,
    FileImport,
    ImportedFile,
    Relative,
    RelativeRow,
    StaffMember,
    StaffRow,
    death_aggregate_id,
    file_aggregate_id,
    relative_aggregate_id,
    staff_aggregate_id,
)
from ledger.service import LedgerService, PhaseClock
from ledger.store import (
    Database,
    EventBatch,
    LedgerApp,
    as_date,
    batched,
    events_table,
    gc_paused,
    select_events_of,
)
from ledger.validation import (
    LineKeys,
    case_row,
    case_rows,
    check_case_duties,
    check_grant_duties,
    check_staff_duties,
    death_rows,
    duplicate_keys,
    grant_rows,
    household_row,
    household_rows,
    relative_rows,
    staff_rows,
)

Kind = Literal["cases", "deaths", "staff", "relatives", "grants", "households"]
KINDS: tuple[Kind, ...] = ("cases", "deaths", "staff", "relatives", "grants", "households")
COLUMNS: dict[Kind, tuple[str, ...]] = {
    "cases": CASE_COLUMNS,
    "deaths": DEATH_COLUMNS,
    "staff": STAFF_COLUMNS,
    "relatives": RELATIVE_COLUMNS,
    "grants": GRANT_COLUMNS,
    "households": HOUSEHOLD_COLUMNS,
}
#: The role that may import each kind of file.
IMPORTER_ROLE: dict[Kind, str] = {
    "cases": "caseworker",
    "deaths": "caseworker",
    "staff": "admin",
    "relatives": "caseworker",
    "grants": "caseworker",
    "households": "caseworker",
}
#: The largest input file read unless the settings say otherwise (`max_input_bytes`).
DEFAULT_MAX_INPUT_BYTES = 4 * 2**30


@dataclass
class ImportSummary:
    """What an import did (or, for a file seen before, that it did nothing)."""

    kind: str
    filename: str
    sha256: str
    rows: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    events: int = 0
    already_imported: bool = False
    previously: dict[str, str] = field(default_factory=dict)
    #: Seconds spent reading+validating, writing events, updating read models.
    seconds: dict[str, float] = field(default_factory=dict)
    #: A dry run: what would be recorded was only reported (`Importer.import_file`'s
    #: ``report``), nothing recorded.
    dry_run: bool = False


#: What a dry run reports for each row: ``{"line", "key", "outcome", "changes"}`` (outcome
#: new, changed, terminated, reinstated or unchanged; changes ``{field: [before, after]}``).
RowReport = Callable[[dict[str, Any]], None]


Progress = Callable[[int], None]


R = TypeVar("R", StaffRow, DeathRow, RelativeRow, GrantRow, HouseholdRow)


def _staff_key(row: StaffRow) -> str:
    return row.staff_id


def _relative_key(row: RelativeRow) -> str:
    return f"{row.staff_id}/{row.id_number}"


def _death_key(row: DeathRow) -> str:
    return row.id_number


def _grant_key(row: GrantRow) -> str:
    return row.grant_id


def _member_key(row: HouseholdRow) -> str:
    return f"{row.case_id}/{row.member_id_number}"


#: Each register's key, and the column a duplicate key is reported on.
REGISTER_KEYS: dict[Kind, tuple[Callable[[Any], str], str]] = {
    "staff": (_staff_key, "staff_id"),
    "relatives": (_relative_key, "id_number"),
    "deaths": (_death_key, "id_number"),
    "grants": (_grant_key, "grant_id"),
    "households": (_member_key, "member_id_number"),
}

#: The tag of a case line in `LineKeys` when the case is stored: checked against the store.
_STORED = -1


@dataclass
class _Checked:
    """What the checking reading of a file leaves for the writing one."""

    rows: int = 0
    #: Hashes (``hash_of``) of the case ids on more than one line (cases; a few other case
    #: ids may share one: they are written as if repeated, which is slower, not wrong).
    repeated: set[int] = field(default_factory=set)
    hash_of: Callable[[str], int] = hash
    #: Lines that repeat an earlier line of the same key, identical (registers: first wins).
    skip: set[int] = field(default_factory=set)


@dataclass
class _Plan:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    events: int = 0
    #: A dry run's reader of what each row would record (None: a real import).
    report: RowReport | None = None

    def tell(
        self, line: int, key: str, outcome: str, before: Any = None, after: Any = None
    ) -> None:
        """A row's outcome to the dry run's report (its changes from ``before`` to ``after``,
        worked out only when there is a report to tell)."""
        if self.report is not None:
            changes = _row_changes(before, after) if after is not None else {}
            self.report({"line": line, "key": key, "outcome": outcome, "changes": changes})

    def count_written(self, done: tuple[int, int] | None) -> None:
        """A row that matches the registers: unchanged, unless a killed run of this same file
        wrote it (``done``: the row's version and line), then that run's new (version 1) or
        changed row, as a clean import would count it."""
        if done is None:
            self.unchanged += 1
        elif done[0] == 1:
            self.new += 1
        else:
            self.changed += 1


class DryBatch(EventBatch):
    """A dry run's batches: counted, never written."""

    def flush(self) -> None:
        self.written += len(self.events)
        self.events, self.items = [], 0


class _ImportBatch(EventBatch):
    """The batches of one import: the first one written begins with ``opening`` (the
    import's `FileImport.Started`; none when a killed run of it recorded that already)."""

    def __init__(
        self,
        app: LedgerApp,
        limit: int,
        *,
        opening: Sequence[Any],
        after_flush: Callable[[int], None] | None,
    ) -> None:
        super().__init__(app, limit, after_flush=after_flush)
        self._opening = list(opening)
        self.opened = len(self._opening)

    def add(self, *events: Any) -> None:
        if self._opening:
            self.events.extend(self._opening)
            self._opening = []
        super().add(*events)

    @property
    def rows_written(self) -> int:
        """Events written for the file's rows (the opening aside)."""
        return self.written - (self.opened if not self._opening else 0)


def file_tag(filename: str, sha256: str) -> str:
    """How events name the file they come from: ``cases.csv@1a2b3c4d5e6f`` (name and content),
    followed by ``:line``. An auditor sees which version of a file decided; a rerun of a killed
    import recognises the rows its first run already wrote."""
    return f"{filename}@{sha256[:12]}"


class Importer(LedgerService):
    """Imports cases, deaths and staff files into one ledger."""

    #: Rows above which a second process projects while the file is written.
    follow_above = 20_000
    #: Rows above which a cases file first brings the statistics of what it reads up to date.
    analyze_above = 20_000
    #: The largest file read, in bytes; a larger one is refused before it is read. The
    #: composition root sets it from the settings (AIDLEDGER_MAX_INPUT_BYTES).
    max_input_bytes = DEFAULT_MAX_INPUT_BYTES

    def count_lines(self, path: Path) -> int:
        """The lines of a file, for a progress bar: counted a block at a time. A file larger
        than `max_input_bytes` is refused at once (`InputTooLarge`)."""
        size = path.stat().st_size
        if size > self.max_input_bytes:
            raise InputTooLarge(str(path), size, self.max_input_bytes)
        with path.open("rb") as f:
            return sum(block.count(b"\n") for block in iter(lambda: f.read(BLOCK), b""))

    def import_file(
        self,
        kind: Kind,
        path: Path,
        *,
        by: str,
        today: date | None = None,
        progress: Progress | None = None,
        report: RowReport | None = None,
    ) -> ImportSummary:
        """Import one file. Raises InputRefused (nothing recorded; InputTooLarge for a file
        above `max_input_bytes`), NotAuthorised, or ImportIncomplete (another import is open:
        it must be completed first).

        With ``report`` it is a dry run: every check as for the import, then each row's
        outcome handed to ``report`` as it is decided, and nothing recorded."""
        clock = PhaseClock()
        with InputFile(path, max_bytes=self.max_input_bytes) as file:
            return self._import(kind, file, by, today or self.today, progress, clock, report)

    def _import(
        self,
        kind: Kind,
        file: InputFile,
        by: str,
        today: date,
        progress: Progress | None,
        clock: PhaseClock,
        report: RowReport | None = None,
    ) -> ImportSummary:
        sha, name = file.sha256, file.path.name
        summary = ImportSummary(kind=kind, filename=name, sha256=sha, dry_run=report is not None)
        self.sync()
        directory = self.directory()
        if kind != "staff" or not directory.is_empty():
            # Before anything else, even the "already imported" answer: the file is the act.
            directory.actor(by, today).require(IMPORTER_ROLE[kind], to=f"import a {kind} file")
        previous = self._previous_import(kind, sha)
        if previous is not None:
            summary.already_imported = True
            summary.previously = previous
            return summary
        resuming = self._refuse_while_another_import_is_open(kind, sha, name)

        problems = Problems()
        if kind == "cases":
            checked = self._check_cases(file, directory, by, today, problems)
        else:
            checked = self._check_register(kind, file, directory, by, today, problems)
        problems.refuse_if_any(str(file.path))
        summary.rows = checked.rows
        clock.lap("validate")

        tag = file_tag(name, sha)
        opening = (
            ()
            if resuming or report is not None
            else FileImport.start(kind=kind, filename=name, sha256=sha, by=by).collect_events()
        )
        batch: EventBatch = (
            DryBatch(self.app, self.batch_events)
            if report is not None
            else _ImportBatch(self.app, self.batch_events, opening=opening, after_flush=progress)
        )
        try:
            with (
                self.following(
                    kind in ("cases", "households") and checked.rows > self.follow_above
                ),
                gc_paused(),
                batch,
            ):
                if kind == "cases":
                    plan = self._write_cases(file, checked, batch, by=by, tag=tag, report=report)
                else:
                    plan = self._write_register(
                        kind,
                        file,
                        checked,
                        batch,
                        directory,
                        by=by,
                        today=today,
                        tag=tag,
                        report=report,
                    )
        except InputChanged as e:
            if not batch.written:
                raise
            raise InputChanged(
                f"{e}; the batches written before stay, and the import stays open until the "
                f"file as it was checked (sha256 {sha}) is imported again"
            ) from None
        plan.events = batch.rows_written if isinstance(batch, _ImportBatch) else batch.written
        clock.lap("write")
        summary.new, summary.changed, summary.unchanged = plan.new, plan.changed, plan.unchanged
        summary.events = plan.events
        if report is not None:
            return summary  # a dry run: nothing recorded
        record = ImportedFile.record(
            kind=kind,
            filename=name,
            sha256=sha,
            by=by,
            rows=summary.rows,
            new=plan.new,
            changed=plan.changed,
            unchanged=plan.unchanged,
        )
        self.app.save(record)
        self.sync()
        clock.lap("project")
        summary.seconds = clock.laps
        return summary

    # -- checks ---------------------------------------------------------------------------

    def _previous_import(self, kind: str, sha: str) -> dict[str, str] | None:
        return previous_import(self.db, kind, sha)

    def _refuse_while_another_import_is_open(self, kind: str, sha: str, name: str) -> bool:
        """Refuse while another import is open (this one would read, or change, what it left
        half-written); whether this very import is open (a rerun: it completes it)."""
        from projections.registers import describe_open_imports, open_imports

        mine = str(file_aggregate_id(kind, sha))
        open_now = open_imports(self.db)
        others = [i for i in open_now if i.file_id != mine]
        if others:
            raise ImportIncomplete(f"{name}: not imported: {describe_open_imports(others)}")
        return bool(open_now)

    def _check_cases(
        self,
        file: InputFile,
        directory: StaffDirectory,
        by: str,
        today: date,
        problems: Problems,
    ) -> _Checked:
        """Read and check every row of a cases file (problems to ``problems``), holding a
        chunk of rows at a time: values, duties, the program of stored cases and a death that
        ended one; then the program of each new case across the file's lines."""
        from projections.registers import has_cases

        stored = has_cases(self.db)  # a first import has no stored case: no queries
        deaths = self._deaths()
        checked = _Checked()
        required_from = self.config.chain.required_from
        if stored:
            keys, new_cases = self._stored_case_keys(
                file, directory, by, today, deaths, problems, checked
            )
        else:
            # No case stored: every row is checked by itself, against the config, the staff
            # and the deaths known; a large file in two processes.
            first = NewCases(self.config, deaths, directory, by, today)
            keys, new_cases = self._new_case_keys(file, first, problems, checked)
        checked.hash_of = keys.hash_of
        if new_cases and required_from is not None:
            problems.extend(self._check_applications(file, new_cases, directory, required_from))

        # A new case's lines must all be of one program: the lines whose case id's hash is
        # on lines of several programs are read again, and their case ids compared.
        suspects: set[int] = set()
        for shared, lines in keys.groups():
            checked.repeated.add(shared)
            new = [(line, tag) for line, tag in lines if tag != _STORED]
            if len({tag for _, tag in new}) > 1:
                if len(suspects) < READ_AGAIN:
                    suspects.update(line for line, _ in new)
                else:  # counted, not listed: the first thousand problems are long found
                    problems.also(sum(1 for _, tag in new if tag != new[0][1]))
        if suspects:
            again = self._read_again(file, "cases", suspects, directory, today)
            problems.extend(program_conflicts(again, {}))
        return checked

    def _stored_case_keys(
        self,
        file: InputFile,
        directory: StaffDirectory,
        by: str,
        today: date,
        deaths: Mapping[str, date],
        problems: Problems,
        checked: _Checked,
    ) -> tuple[LineKeys, dict[str, int]]:
        """An import over stored cases: each row's values, then a chunk of rows at a time
        against the store (`_against_the_store`). A large file's second half has its values
        checked by a helper process (`ledger.csvparts.second_half`) while this one checks the
        first; once it says they are good, they are read here without their checks
        (`case_row`, as the writing reading does) and go through the same checks against the
        store. If it found a problem, the file is checked again whole here, from nothing, so
        a refusal is what one reading finds."""
        with second_half(file, CASE_COLUMNS, check_case_values, self.config) as theirs:
            if theirs is not None:
                attempt, counted = Problems(problems.listed), _Checked()
                halves = self._halves(file, theirs, attempt, counted)
                try:
                    found = self._against_the_store(halves, directory, by, today, deaths, attempt)
                except _ReadWhole:
                    pass
                else:
                    problems.extend(attempt.kept)
                    problems.also(attempt.count - len(attempt.kept))
                    checked.rows = counted.rows
                    return found
        rows = case_rows(
            _counted(iter_rows(file, CASE_COLUMNS, problems), checked), self.config, problems
        )
        return self._against_the_store(rows, directory, by, today, deaths, problems)

    def _halves(
        self, file: InputFile, theirs: SecondHalf, problems: Problems, checked: _Checked
    ) -> Iterator[tuple[int, CaseRow]]:
        """The typed rows of the first half, checked here; then, if the helper found the
        second half's values good, its rows read without their checks. Raises _ReadWhole if
        it did not."""
        first = iter_rows(file, CASE_COLUMNS, problems, (0, theirs.start))
        yield from case_rows(_counted(first, checked), self.config, problems)
        rows = theirs.result()
        if rows is None:
            raise _ReadWhole
        checked.rows += rows
        config, offset = self.config, theirs.offset
        for line, values in reread_values(
            file, CASE_COLUMNS, (0, theirs.head_end), (theirs.start, file.size)
        ):
            yield line + offset, case_row(values, config)

    def _against_the_store(
        self,
        rows: Iterable[tuple[int, CaseRow]],
        directory: StaffDirectory,
        by: str,
        today: date,
        deaths: Mapping[str, date],
        problems: Problems,
    ) -> tuple[LineKeys, dict[str, int]]:
        """Typed rows of a cases file checked against the store a chunk at a time: the
        program of stored cases, a death that ended one, the household's members for
        interest (回避), the duties. Each line's case id and program in `LineKeys`
        (``_STORED`` for a stored case), and the first line of each new case in effect from
        ``[chain] required_from``."""
        from projections.households import has_members
        from projections.registers import stored_programs

        keys = LineKeys(small_tags=True)
        program_tag = {code: n for n, code in enumerate(self.config.programs)}
        required_from = self.config.chain.required_from
        new_cases: dict[str, int] = {}

        def checked(rows: Iterable[tuple[int, CaseRow]]) -> Iterator[tuple[int, CaseRow]]:
            for chunk in batched(rows, EXISTING_CHUNK):
                programs = stored_programs(self.db, sorted({r.case_id for _, r in chunk}))
                problems.extend(
                    program_conflicts([(n, r) for n, r in chunk if r.case_id in programs], programs)
                )
                problems.extend(self._after_death(chunk, deaths))
                for line, row in chunk:
                    stored = row.case_id in programs
                    keys.add(row.case_id, line, _STORED if stored else program_tag[row.program])
                    if (
                        not stored
                        and required_from is not None
                        and row.effective_from >= required_from
                    ):
                        new_cases.setdefault(row.case_id, line)
                yield from chunk

        rows = checked(rows)
        household: dict[str, list[str]] = {}
        if has_members(self.db):
            rows = _with_households(self.db, rows, household)
        problems.extend(check_case_duties(rows, directory, directory.actor(by, today), household))
        return keys, new_cases

    def _new_case_keys(
        self, file: InputFile, check: NewCases, problems: Problems, checked: _Checked
    ) -> tuple[LineKeys, dict[str, int]]:
        """A first import's check (`check_new_cases`): each line's case id and program in
        `LineKeys`, and the first line of each case in effect from ``[chain] required_from``.
        In two processes when the file is large (`ledger.csvparts.keys_in_two`); whole here
        when it is not, cannot be cut, or has a problem (then as one reading finds them)."""
        required_from = check.config.chain.required_from
        since = required_from.toordinal() if required_from is not None else None

        def fresh() -> tuple[LineKeys, dict[str, int], Emit]:
            keys = LineKeys(small_tags=True)
            new_cases: dict[str, int] = {}

            def emit(line: int, case_id: str, tag: int, effective_from: int) -> None:
                keys.add(case_id, line, tag)
                if since is not None and effective_from >= since:
                    new_cases.setdefault(case_id, line)

            return keys, new_cases, emit

        keys, new_cases, emit = fresh()
        rows = keys_in_two(file, CASE_COLUMNS, check_new_cases, check, emit)
        if rows is None:
            keys, new_cases, emit = fresh()
            read = _counted(iter_rows(file, CASE_COLUMNS, problems), checked)
            check_new_cases(read, problems, check, emit)
        else:
            checked.rows = rows
        return keys, new_cases

    def _check_applications(
        self,
        file: InputFile,
        new_cases: dict[str, int],
        directory: StaffDirectory,
        required_from: date,
    ) -> Iterator[Problem]:
        """The gate of the decision chain: each new case whose first line in the file is in
        effect from ``required_from`` on needs an approved application
        (`ledger.applications.check_application_gate`). ``new_cases``: the first line of each
        new case in effect from then; a case with an earlier line was opened before then.
        The file is read once more, only when there are such cases."""
        from ledger.applications import check_application_gate
        from projections.applications import approved_for_cases

        openings: list[tuple[int, CaseRow]] = []
        for line, values in reread_values(file, CASE_COLUMNS):
            first = new_cases.get(values[0])
            if first is None or line > first:
                continue
            if line < first:
                del new_cases[values[0]]  # opened by an earlier line, before required_from
                continue
            openings.append((line, case_row(values, self.config)))
        for chunk in batched(openings, EXISTING_CHUNK):
            approved = approved_for_cases(self.db, [row.case_id for _, row in chunk])
            for line, row in chunk:
                yield from check_application_gate(
                    line,
                    row,
                    approved.get((row.case_id, row.program), []),
                    directory,
                    required_from,
                )

    def _check_register(
        self,
        kind: Kind,
        file: InputFile,
        directory: StaffDirectory,
        by: str,
        today: date,
        problems: Problems,
    ) -> _Checked:
        """Read and check every row of a staff, relatives or deaths file (problems to
        ``problems``), then the lines that repeat a key: the same values again are left out
        (the first line wins), other values are a conflict."""
        key, column = REGISTER_KEYS[kind]
        checked = _Checked()
        if kind == "households":
            keys = self._household_keys(file, directory.actor(by, today), problems, checked)
        else:
            keys = self._register_keys(kind, file, directory, by, today, problems, checked)
        # Lines sharing a key's hash: a line with the values of one before it (same tag) is
        # left out when writing (the first wins); lines with other values are read again
        # and compared (another key with the same hash, or a conflict that refuses).
        suspects: set[int] = set()
        for _, lines in keys.groups():
            seen: set[int] = set()
            for line, tag in lines:
                if tag in seen:
                    checked.skip.add(line)
                seen.add(tag)
            if len(seen) > 1:
                if len(suspects) < READ_AGAIN:
                    suspects.update(line for line, _ in lines)
                else:  # counted, not listed: the first thousand problems are long found
                    problems.also(len(seen) - 1)
        if suspects:
            again = self._read_again(file, kind, suspects, directory, today)
            problems.extend(duplicate_keys(again, key, column))
        return checked

    def _register_keys(
        self,
        kind: Kind,
        file: InputFile,
        directory: StaffDirectory,
        by: str,
        today: date,
        problems: Problems,
        checked: _Checked,
    ) -> LineKeys:
        """A staff, relatives, deaths or grants file's rows checked, each line's key in
        `LineKeys` tagged by its values."""
        key, _ = REGISTER_KEYS[kind]
        keys = LineKeys()
        rows = _keyed(
            self._typed(
                kind,
                _counted(iter_rows(file, COLUMNS[kind], problems), checked),
                problems,
                directory,
                today,
            ),
            keys,
            lambda row: (key(row), hash(row)),  # tagged by the row's values
        )
        if kind == "staff":
            problems.extend(check_staff_duties(rows, directory, by, today))
        elif kind == "grants":
            problems.extend(self._check_grants(rows, directory, by, today, problems))
        else:
            for _ in rows:
                pass
        return keys

    def _household_keys(
        self, file: InputFile, actor: Actor, problems: Problems, checked: _Checked
    ) -> LineKeys:
        """A households file's rows checked (`check_household_rows`, in two processes when
        the file is large: `ledger.csvparts.keys_in_two`), each line's member key in
        `LineKeys` tagged by its values, and each row's case against the store, a chunk of
        rows at a time: recorded, within ``actor``'s region. In two processes any problem
        means the file is read again whole here, to report them as one reading does."""

        def fresh(into: Problems) -> tuple[LineKeys, Emit, Callable[[], None]]:
            keys = LineKeys()
            chunk: list[tuple[int, str]] = []

            def flush() -> None:
                into.extend(self._check_household_cases(chunk, actor))
                chunk.clear()

            def emit(line: int, key: str, tag: int, case_id_length: int) -> None:
                keys.add(key, line, tag)
                chunk.append((line, key[:case_id_length]))
                if len(chunk) >= EXISTING_CHUNK:
                    flush()

            return keys, emit, flush

        against_the_store = Problems(0)
        keys, emit, flush = fresh(against_the_store)
        rows = keys_in_two(file, HOUSEHOLD_COLUMNS, check_household_rows, None, emit)
        if rows is not None:
            flush()
            if not against_the_store:
                checked.rows = rows
                return keys
        keys, emit, flush = fresh(problems)
        read = _counted(iter_rows(file, HOUSEHOLD_COLUMNS, problems), checked)
        check_household_rows(read, problems, None, emit)
        flush()
        return keys

    def _typed(
        self,
        kind: Kind,
        rows: Iterable[CsvRow],
        problems: ProblemSink,
        directory: StaffDirectory,
        today: date,
    ) -> Iterator[tuple[int, Any]]:
        """The good rows of a file of ``kind``, typed (see `ledger.validation`)."""
        if kind == "cases":
            return case_rows(rows, self.config, problems)
        if kind == "staff":
            return staff_rows(rows, problems)
        if kind == "relatives":
            return relative_rows(rows, directory, problems)
        if kind == "grants":
            return grant_rows(rows, self.config, today, problems)
        if kind == "households":
            return household_rows(rows, problems)
        return death_rows(rows, today, problems)

    def _read_again(
        self, file: InputFile, kind: Kind, lines: set[int], directory: StaffDirectory, today: date
    ) -> list[tuple[int, Any]]:
        """The typed rows of these (good) lines, read again: the few a check across rows
        must see whole."""
        wanted = (row for row in reread_rows(file, COLUMNS[kind]) if row.line in lines)
        return list(self._typed(kind, wanted, SecondReading(file), directory, today))

    def _deaths(self) -> dict[str, date]:
        """Every reported date of death, by id number."""
        opened = self.db.sealer.open
        return {
            opened(str(id_number)): day
            for id_number, died in self.db.query("SELECT id_number, date_of_death FROM deaths")
            if (day := as_date(died)) is not None
        }

    def _after_death(
        self, chunk: Sequence[tuple[int, CaseRow]], deaths: Mapping[str, date]
    ) -> list[Problem]:
        """`in_effect_after_death` for a chunk of rows, against the stored cases they name."""
        if not deaths:
            return []
        from projections.registers import load_cases

        flagged = [r.case_id for _, r in chunk if r.id_number in deaths]
        stored = (
            {c: state.as_row() for c, (state, _) in load_cases(self.db, flagged).items()}
            if flagged
            else {}
        )
        return in_effect_after_death(chunk, deaths, stored)

    # -- writing --------------------------------------------------------------------------

    def _write_cases(
        self,
        file: InputFile,
        checked: _Checked,
        batch: EventBatch,
        *,
        by: str,
        tag: str,
        report: RowReport | None = None,
    ) -> _Plan:
        """Read the checked file again and write its rows' events, deciding each row against
        the cases as they stand a chunk of rows at a time (a month's re-import of the whole
        register is the common case: neither the file's rows nor the register are held)."""
        from projections.registers import has_cases, load_cases

        stored = has_cases(self.db)
        if stored and checked.rows > self.analyze_above:
            # A case is read by id from `cases`, and a changed one's events from the log:
            # with statistics from before the last bulk writes, PostgreSQL takes each id for
            # thousands of rows and scans in parallel (50 ms a case, not 0.1 ms).
            self.db.analyze(events_table(self.db.dialect), "cases")
        load = partial(load_cases, self.db) if stored else None
        plan = _Plan(report=report)
        repeated, hash_of = checked.repeated, checked.hash_of
        resumed = self._written_by_this_file("cases", "case_id", tag)
        # Cases on several lines that a killed run of this file wrote: what each line did.
        done_lines = self._lines_written([c for c in resumed if hash_of(c) in repeated], tag)
        touched: dict[str, Case] = {}
        config = self.config
        rows = ((n, case_row(values, config)) for n, values in reread_values(file, CASE_COLUMNS))
        for line, row, existing in _with_existing(rows, touched, load):
            source_line = f"{tag}:{line}"
            done = resumed.get(row.case_id)
            if done is not None and line <= done[1]:
                # Written by a killed run of this file: count it as it was, write nothing.
                if row.case_id not in done_lines:
                    plan.count_written(done)
                elif (outcome := done_lines[row.case_id].get(line)) == "new":
                    plan.new += 1
                elif outcome == "changed":
                    plan.changed += 1
                else:
                    plan.unchanged += 1
                continue
            case = touched.get(row.case_id)
            if case is None:
                known = existing.get(row.case_id)
                if known is None:
                    plan.new += 1
                    plan.tell(line, row.case_id, "new", after=row)
                    if hash_of(row.case_id) in repeated:
                        case = touched[row.case_id] = Case.approve(row, by=by, source=source_line)
                        batch.add_aggregate(case)
                    else:
                        batch.add(Case.approval(row, by=by, source=source_line))
                    continue
                if known[0].as_row() == row:
                    plan.unchanged += 1
                    plan.tell(line, row.case_id, "unchanged")
                    continue
                case = touched[row.case_id] = self.app.repository.get(
                    case_aggregate_id(row.case_id)
                )
            before = case.state.as_row()
            if case.decide(row, by=by, source=source_line):
                plan.changed += 1
                plan.tell(line, row.case_id, _outcome(before, row), before, row)
                batch.add_aggregate(case)
            else:
                plan.unchanged += 1
                plan.tell(line, row.case_id, "unchanged")
        return plan

    def _write_register(
        self,
        kind: Kind,
        file: InputFile,
        checked: _Checked,
        batch: EventBatch,
        directory: StaffDirectory,
        *,
        by: str,
        today: date,
        tag: str,
        report: RowReport | None = None,
    ) -> _Plan:
        """Read the checked file again and write its rows: new, changed or unchanged per row of
        a register (staff, relatives, deaths); a line repeating an earlier one is left out."""
        rows: Iterable[tuple[int, Any]] = (
            # The lean reading, as for cases: a province's register is millions of members.
            ((n, household_row(values)) for n, values in reread_values(file, COLUMNS[kind]))
            if kind == "households"
            else self._typed(
                kind, reread_rows(file, COLUMNS[kind]), SecondReading(file), directory, today
            )
        )
        kept = ((line, row) for line, row in rows if line not in checked.skip)
        if kind == "staff":
            plan = self._write_staff(kept, batch, by=by, today=today, tag=tag, report=report)
        elif kind == "grants":
            plan = self._write_grants(kept, batch, by=by, tag=tag, report=report)
        elif kind == "relatives":
            plan = self._write_relatives(kept, batch, by=by, tag=tag, report=report)
        elif kind == "households":
            plan = self._write_households(kept, batch, by=by, tag=tag, report=report)
        else:
            plan = self._write_deaths(kept, batch, by=by, tag=tag, report=report)
        return plan

    def _write_staff(
        self,
        rows: Iterable[tuple[int, StaffRow]],
        batch: EventBatch,
        *,
        by: str,
        today: date,
        tag: str,
        report: RowReport | None = None,
    ) -> _Plan:
        existing = {
            r[0]: StaffRow(*r)
            for r in self.db.sealer.open_rows(
                self.db.query(f"SELECT {', '.join(STAFF_COLUMNS)} FROM staff"),
                [STAFF_COLUMNS.index(c) for c in ("name", "id_number", "bank_account")],
            )
        }
        return _write_rows(
            rows,
            existing,
            _staff_key,
            tag,
            self._written_by_this_file("staff", "staff_id", tag),
            batch,
            create=lambda row, src: StaffMember.register(row, by=by, source=src),
            load=lambda row: self.app.repository.get(staff_aggregate_id(row.staff_id)),
            change=lambda member, row, src: member.update(row, by=by, source=src, on=today),
            report=report,
        )

    def _write_relatives(
        self,
        rows: Iterable[tuple[int, RelativeRow]],
        batch: EventBatch,
        *,
        by: str,
        tag: str,
        report: RowReport | None = None,
    ) -> _Plan:
        existing = {
            f"{s}/{i}": RelativeRow(s, i, r)
            for s, i, r in self.db.sealer.open_rows(
                self.db.query("SELECT staff_id, id_number, relation FROM relatives"), (1,)
            )
        }
        written = {
            f"{s}/{i}": (int(v), int(str(src).rsplit(":", 1)[1]))
            for s, i, v, src in self.db.sealer.open_rows(
                self.db.query(
                    "SELECT staff_id, id_number, version, source FROM relatives "
                    "WHERE substr(source, 1, ?) = ?",
                    (len(tag) + 1, f"{tag}:"),
                ),
                (1,),
            )
        }
        return _write_rows(
            rows,
            existing,
            _relative_key,
            tag,
            written,
            batch,
            create=lambda row, src: Relative.register(row, by=by, source=src),
            load=lambda row: self.app.repository.get(
                relative_aggregate_id(row.staff_id, row.id_number)
            ),
            change=lambda relative, row, src: relative.change(row, by=by, source=src),
            report=report,
        )

    def _write_deaths(
        self,
        rows: Iterable[tuple[int, DeathRow]],
        batch: EventBatch,
        *,
        by: str,
        tag: str,
        report: RowReport | None = None,
    ) -> _Plan:
        existing = {
            r[0]: DeathRow(r[0], as_date(r[1]), r[2])  # type: ignore[arg-type]
            for r in self.db.sealer.open_rows(
                self.db.query("SELECT id_number, date_of_death, feed FROM deaths"), (0,)
            )
        }
        return _write_rows(
            rows,
            existing,
            _death_key,
            tag,
            self._written_by_this_file("deaths", "id_number", tag),
            batch,
            create=lambda row, src: DeathReport.report(row, by=by, source=src),
            load=lambda row: self.app.repository.get(death_aggregate_id(row.id_number)),
            change=lambda death, row, src: death.correct(row, by=by, source=src),
            report=report,
        )

    def _check_household_cases(
        self, chunk: Sequence[tuple[int, str]], actor: Actor
    ) -> Iterator[Problem]:
        """Each row's case (a chunk of lines and case ids) must be recorded, and within the
        importer's region (one query of the ``cases`` read model)."""
        from projections.households import case_regions

        regions = case_regions(self.db, sorted({case_id for _, case_id in chunk}))
        for line, case_id in chunk:
            region = regions.get(case_id)
            if region is None:
                yield Problem(
                    line,
                    "case_id",
                    f"no case {case_id} is recorded (import the cases file first)",
                    case_id,
                )
            elif not actor.covers(region):
                yield Problem(
                    line,
                    "case_id",
                    f"case {case_id} is in region {region}, outside {actor.staff_id}'s "
                    f"region {actor.region}",
                    case_id,
                )

    def _write_households(
        self,
        rows: Iterable[tuple[int, HouseholdRow]],
        batch: EventBatch,
        *,
        by: str,
        tag: str,
        report: RowReport | None = None,
    ) -> _Plan:
        from projections.households import stored_members

        existing = {_member_key(m): m for m in stored_members(self.db)}
        written = {
            f"{c}/{i}": (int(v), int(str(src).rsplit(":", 1)[1]))
            for c, i, v, src in self.db.sealer.open_rows(
                self.db.query(
                    "SELECT case_id, member_id_number, version, source FROM household_members "
                    "WHERE substr(source, 1, ?) = ?",
                    (len(tag) + 1, f"{tag}:"),
                ),
                (1,),
            )
        }
        return _write_rows(
            rows,
            existing,
            _member_key,
            tag,
            written,
            batch,
            create=lambda row, src: HouseholdMember.join(row, by=by, source=src),
            new_event=lambda row, src: HouseholdMember.joining(row, by=by, source=src),
            load=lambda row: self.app.repository.get(
                household_member_aggregate_id(row.case_id, row.member_id_number)
            ),
            change=lambda member, row, src: member.change(row, by=by, source=src),
            report=report,
        )

    def _check_grants(
        self,
        rows: Iterable[tuple[int, GrantRow]],
        directory: StaffDirectory,
        by: str,
        today: date,
        problems: ProblemSink,
    ) -> Iterator[Problem]:
        """A grants file's rows against the grants recorded (a grant is decided once) and the
        cases' ids, then their duties (`ledger.validation.check_grant_duties`)."""
        from projections.grants import load_grants
        from projections.registers import stored_programs

        recorded = against_the_recorded(
            rows,
            lambda ids: load_grants(self.db, ids),
            problems,
            cases=lambda ids: stored_programs(self.db, ids).keys(),
        )
        return check_grant_duties(recorded, directory, directory.actor(by, today))

    def _write_grants(
        self,
        rows: Iterable[tuple[int, GrantRow]],
        batch: EventBatch,
        *,
        by: str,
        tag: str,
        report: RowReport | None = None,
    ) -> _Plan:
        """New or unchanged per row of a grants file (the checks refused a changed one), the
        recorded grants read a chunk of rows at a time."""
        from projections.grants import load_grants

        resumed = self._written_by_this_file("grants", "grant_id", tag)
        plan = _Plan(report=report)
        for chunk in batched(rows, EXISTING_CHUNK):
            stored = load_grants(self.db, sorted({r.grant_id for _, r in chunk}))
            for line, row in chunk:
                if row.grant_id in stored:
                    plan.count_written(resumed.get(row.grant_id))
                    plan.tell(line, row.grant_id, "unchanged")
                    continue
                batch.add_aggregate(ReliefGrant.approve(row, by=by, source=f"{tag}:{line}"))
                plan.new += 1
                plan.tell(line, row.grant_id, "new", after=row)
        return plan

    def _written_by_this_file(self, table: str, key: str, tag: str) -> dict[str, tuple[int, int]]:
        """Rows whose latest event came from this very file (same name and content): written
        by an earlier run of this import that was killed before recording the file. Their
        version (1: that run created them) and the file line of that latest event."""
        prefix = f"{tag}:"
        rows = self.db.query(
            f"SELECT {key}, version, source FROM {table} WHERE substr(source, 1, ?) = ?",
            (len(prefix), prefix),
        )
        if key == "id_number":  # the deaths register's key is personal: sealed with a key
            rows = self.db.sealer.open_rows(rows, (0,))
        return {k: (int(v), int(str(src).rsplit(":", 1)[1])) for k, v, src in rows}

    def _lines_written(self, case_ids: Sequence[str], tag: str) -> dict[str, dict[int, str]]:
        """For cases on several lines of this file: what each line already written did."""
        if not case_ids:
            return {}
        prefix = f"{tag}:"
        ids = {case_aggregate_id(c): c for c in case_ids}
        out: dict[str, dict[int, str]] = {}
        for agg, events in select_events_of(self.app, self.db, list(ids)).items():
            lines = out.setdefault(ids[agg], {})
            for e in events:
                if e.source.startswith(prefix):
                    line = int(e.source.rsplit(":", 1)[1])
                    lines[line] = "new" if isinstance(e, Case.Approved) else "changed"
        return out


def _write_rows(
    rows: Iterable[tuple[int, R]],
    existing: Mapping[str, R],
    key: Callable[[R], str],
    tag: str,
    resumed: Mapping[str, tuple[int, int]],
    batch: EventBatch,
    *,
    create: Callable[[R, str], Any],
    load: Callable[[R], Any],
    change: Callable[[Any, R, str], object],
    report: RowReport | None = None,
    new_event: Callable[[R, str], Any] | None = None,
) -> _Plan:
    """New, changed or unchanged per row of a register, each written as it comes (a new row
    by ``new_event``, its first event built directly, where the register has one: a bulk
    path for millions of rows)."""
    plan = _Plan(report=report)
    for line, row in rows:
        source = f"{tag}:{line}"
        old = existing.get(key(row))
        if old is None and new_event is not None:
            batch.add(new_event(row, source))
            plan.new += 1
            plan.tell(line, key(row), "new", after=row)
        elif old is None:
            batch.add_aggregate(create(row, source))
            plan.new += 1
            plan.tell(line, key(row), "new", after=row)
        elif old == row:
            plan.count_written(resumed.get(key(row)))
            plan.tell(line, key(row), "unchanged")
        else:
            aggregate = load(row)
            change(aggregate, row, source)
            batch.add_aggregate(aggregate)
            plan.changed += 1
            plan.tell(line, key(row), "changed", old, row)
    return plan


def _row_changes(before: Any, after: Any) -> dict[str, list[Any]]:
    """Each field a row changes, as ``[before, after]`` shown at the edge (fen as "1234.50");
    a new row: its fields as ``[None, value]``."""
    from dataclasses import fields

    from ledger.history import edge

    out: dict[str, list[Any]] = {}
    for f in fields(after):
        new = getattr(after, f.name)
        old = getattr(before, f.name) if before is not None else None
        if before is None or old != new:
            out[f.name] = [edge(f.name, old), edge(f.name, new)]
    return out


def _outcome(before: CaseRow, after: CaseRow) -> str:
    """What a changed cases row does: terminated (a new or earlier end), reinstated (the end
    cleared or later), or changed (amount, account, details, who decided)."""
    if before.effective_to != after.effective_to:
        if after.effective_to is not None and (
            before.effective_to is None or after.effective_to < before.effective_to
        ):
            return "terminated"
        return "reinstated"
    return "changed"


T = TypeVar("T")


def previous_import(db: Database, kind: str, sha: str) -> dict[str, str] | None:
    """The file of ``kind`` with content ``sha`` imported before (its name, who and when), or
    None: a file seen before records nothing."""
    rows = db.query(
        "SELECT filename, imported_by, recorded_at FROM imported_files WHERE aggregate_id = ?",
        (str(file_aggregate_id(kind, sha)),),
    )
    if not rows:
        return None
    filename, by, at = rows[0]
    return {"filename": filename, "by": by, "recorded_at": at}


def begin_import(
    service: LedgerService, file: InputFile, kind: str, by: str, *, dry_run: bool
) -> tuple[ImportSummary, StaffDirectory, Actor]:
    """The start every file import of a caseworker or approver shares: the read models caught
    up, the importer in one of those roles, a file seen before (``summary.already_imported``:
    the caller records nothing) or another import open (ImportIncomplete)."""
    from projections.registers import describe_open_imports, open_imports

    sha, name = file.sha256, file.path.name
    summary = ImportSummary(kind=kind, filename=name, sha256=sha, dry_run=dry_run)
    service.sync()
    staff = service.directory()
    importer = staff.actor(by, service.today)
    importer.require("caseworker", "approver", to=f"import a {kind} file")
    previous = previous_import(service.db, kind, sha)
    if previous is not None:
        summary.already_imported, summary.previously = True, previous
    elif others := open_imports(service.db):
        raise ImportIncomplete(f"{name}: not imported: {describe_open_imports(others)}")
    return summary, staff, importer


def counted_rows(rows: Iterable[Any], summary: ImportSummary) -> Iterator[Any]:
    """The rows, each counted in ``summary.rows`` as it is read."""
    for row in rows:
        summary.rows += 1
        yield row


def _counted(rows: Iterable[CsvRow], checked: _Checked) -> Iterator[CsvRow]:
    """The rows, counted into ``checked.rows`` as they pass."""
    for row in rows:
        checked.rows += 1
        yield row


def _with_households(
    db: Database, rows: Iterable[tuple[int, CaseRow]], household: dict[str, list[str]]
) -> Iterator[tuple[int, CaseRow]]:
    """The rows, a chunk at a time; before each chunk ``household`` is filled with the id
    numbers of the stored members of its cases (a query per chunk)."""
    from projections.households import members_of

    for chunk in batched(rows, EXISTING_CHUNK):
        household.clear()
        for m in members_of(db, sorted({r.case_id for _, r in chunk})):
            household.setdefault(m.case_id, []).append(m.id_number)
        yield from chunk


def _keyed(
    rows: Iterable[tuple[int, T]], keys: LineKeys, key: Callable[[T], tuple[str, int]]
) -> Iterator[tuple[int, T]]:
    """The rows, each line's key (and tag) recorded in ``keys`` as they pass."""
    for line, row in rows:
        k, tag = key(row)
        keys.add(k, line, tag)
        yield line, row


#: Lines read again at most for the exact checks across rows; beyond them (a file where
#: nearly every line conflicts with another) conflicts are counted, not listed.
READ_AGAIN = 100_000

#: Rows compared at a time with the cases as they stand (a query per 500 of their cases).
EXISTING_CHUNK = 5000


def _with_existing(
    rows: Iterable[tuple[int, CaseRow]],
    touched: Mapping[str, Case],
    load: Callable[[Sequence[str]], Mapping[str, tuple[CaseState, int]]] | None,
) -> Iterator[tuple[int, CaseRow, Mapping[str, tuple[CaseState, int]]]]:
    """Each row with the stored cases of its chunk of rows, loaded (``load``, None when
    nothing is stored) as the chunk comes up: those cases not touched by earlier rows of this
    file (the caller keeps those itself)."""
    none: Mapping[str, tuple[CaseState, int]] = {}
    for chunk in batched(rows, EXISTING_CHUNK):
        ids = sorted({r.case_id for _, r in chunk if r.case_id not in touched})
        existing = load(ids) if load is not None and ids else none
        for line, row in chunk:
            yield line, row, existing


class _ReadWhole(Exception):
    """The helper found a problem in its half: the file is to be checked whole here."""


def check_case_values(
    rows: Iterator[CsvRow], problems: Problems, config: ProgramsConfig, emit: Emit
) -> None:
    """A cases file's rows, each value checked (`case_rows`): a helper's half of an import
    over stored cases, whose checks against the store are made here (`_against_the_store`);
    nothing to ``emit``."""
    for _row in case_rows(rows, config, problems):
        pass


def check_household_rows(rows: Iterator[CsvRow], problems: Problems, _: None, emit: Emit) -> None:
    """A households file's rows, each checked by itself (`household_rows`); each good row's
    line, member key, the tag of its values (`values_tag`) and the length of its case id to
    ``emit``."""
    for line, row in household_rows(rows, problems):
        emit(line, _member_key(row), values_tag(row), len(row.case_id))


def values_tag(row: HouseholdRow) -> int:
    """A 64-bit tag of a member row's values, the same in every process (a helper's tags
    are compared with this process's; `hash` of text differs from one process to the
    next)."""
    text = "\x1f".join(
        (
            row.case_id,
            row.member_id_number,
            row.member_name,
            row.relation,
            row.start.isoformat(),
            row.end.isoformat() if row.end is not None else "",
        )
    )
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


@dataclass(frozen=True)
class NewCases:
    """What `check_new_cases` checks rows against (pickled to a helper process)."""

    config: ProgramsConfig
    #: Every reported date of death, by id number.
    deaths: Mapping[str, date]
    directory: StaffDirectory
    by: str
    today: date


def check_new_cases(
    rows: Iterator[CsvRow], problems: Problems, check: NewCases, emit: Emit
) -> None:
    """A first import's rows (no case stored), each checked by itself: its values
    (`case_rows`), a death reported before it (`in_effect_after_death`) and its duties
    (`check_case_duties`); each good row's line, case id, program (its place in the config)
    and ``effective_from`` (an ordinal) to ``emit``."""
    program_tag = {code: n for n, code in enumerate(check.config.programs)}

    def emitted(typed: Iterable[tuple[int, CaseRow]]) -> Iterator[tuple[int, CaseRow]]:
        for chunk in batched(typed, EXISTING_CHUNK):
            if check.deaths:
                problems.extend(in_effect_after_death(chunk, check.deaths, {}))
            for line, row in chunk:
                emit(line, row.case_id, program_tag[row.program], row.effective_from.toordinal())
            yield from chunk

    directory = check.directory
    typed = emitted(case_rows(rows, check.config, problems))
    problems.extend(check_case_duties(typed, directory, directory.actor(check.by, check.today)))


def in_effect_after_death(
    rows: Sequence[tuple[int, CaseRow]],
    deaths: Mapping[str, date],
    stored: Mapping[str, CaseRow],
) -> list[Problem]:
    """Rows that would decide a case of a holder reported dead to be in effect after the
    death: a new case; or, for a stored one in effect then, a row that keeps it longer in
    effect (a reinstatement, even in two steps) or changes what it pays or to whom. A row
    repeating the case as it is, or only ending it sooner, passes (the month's register before
    应退尽退 ends it; a termination)."""
    problems = []
    for line, row in rows:
        died = deaths.get(row.id_number)
        if died is None or (row.effective_to is not None and row.effective_to <= died):
            continue
        was = stored.get(row.case_id)
        if was is not None and not _extends(was, row, died) and _terms(was) == _terms(row):
            continue
        problems.append(
            Problem(
                line,
                "effective_to",
                f"case {row.case_id}: its holder is reported dead on {died.isoformat()}; no "
                "decision may keep it in effect after that (end it on that day, or correct the "
                "deaths file first; surviving household members need a new case)",
                "" if row.effective_to is None else row.effective_to.isoformat(),
            )
        )
    return problems


def _extends(was: CaseRow, row: CaseRow, died: date) -> bool:
    """Whether ``row`` keeps the case in effect later than ``was`` did, past ``died``."""
    far = date.max
    return (row.effective_to or far) > max(was.effective_to or far, died)


def _terms(row: CaseRow) -> tuple[object, ...]:
    """What a case pays and to whom (not when it ends, nor who decided, nor from when)."""
    return (
        row.program,
        row.region_code,
        row.name,
        row.id_number,
        row.household_size,
        row.monthly_amount,
        row.bank_account,
        row.account_name,
    )


def program_conflicts(
    rows: Sequence[tuple[int, CaseRow]], stored: Mapping[str, str]
) -> list[Problem]:
    """Rows that would move a case to another program (a new case_id is needed for that),
    given the program of each stored case."""
    first: dict[str, str] = {}  # the program of each new case's first row
    problems = []
    for line, row in rows:
        known = stored.get(row.case_id) or first.setdefault(row.case_id, row.program)
        if known != row.program:
            problems.append(
                Problem(
                    line,
                    "program",
                    f"case {row.case_id} belongs to program {known}; a decision for "
                    f"{row.program} needs a new case_id",
                    row.program,
                )
            )
    return problems
