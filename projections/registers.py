"""Read models of the registers: cases as last decided, staff, deaths, imported files and
imports under way.

Imports read these to decide what a row changes without loading aggregates one by one;
reconciliation looks beneficiaries up by id_number and bank account through their indexes.
Whatever reads the registers to pay or report refuses while an import is open
(`refuse_while_importing`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from sys import intern
from typing import Any, ClassVar

from ledger.case import CASE_COLUMNS, Case, CaseDecision, CaseState
from ledger.config_store import ConfigVersion
from ledger.duties import SINCE_EVER, Person, StaffDirectory, Terms, parse_roles
from ledger.errors import ImportIncomplete
from ledger.events import LedgerEvent
from ledger.ids import county_of
from ledger.registry import (
    DeathReport,
    FileImport,
    ImportedFile,
    Relative,
    StaffMember,
    file_aggregate_id,
    import_id,
)
from ledger.sealing import CLEAR, Sealer
from ledger.store import Database, Tx, as_date, rows_where_in
from projections.runner import ReadModel

_CASE_TABLE_COLUMNS = (
    "case_id",
    "aggregate_id",
    "version",
    *CASE_COLUMNS[1:],
    "county",
    "start_date",
    "source",
)


def _upsert(table: str, columns: Sequence[str], key: str) -> str:
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    marks = ", ".join("?" * len(columns))
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )


#: Where a ``cases`` row holds personal values (sealed with a key: `ledger.sealing`).
CASE_PERSONAL = tuple(
    _CASE_TABLE_COLUMNS.index(c) for c in ("name", "id_number", "bank_account", "account_name")
)


def case_state_from_row(row: Sequence[Any], sealer: Sealer = CLEAR) -> CaseState:
    """A CaseState from a ``cases`` table row selected with :data:`CASE_SELECT` (its personal
    values opened with ``sealer``, the store's)."""
    values = dict(zip(_CASE_TABLE_COLUMNS, row, strict=True))
    if sealer.on:
        for c in ("name", "id_number", "bank_account", "account_name"):
            values[c] = sealer.open(values[c])
    return CaseState(
        case_id=values["case_id"],
        program=values["program"],
        region_code=values["region_code"],
        name=values["name"],
        id_number=values["id_number"],
        household_size=int(values["household_size"]),
        monthly_amount=int(values["monthly_amount"]),
        effective_from=as_date(values["effective_from"]),  # type: ignore[arg-type]
        effective_to=as_date(values["effective_to"]),
        bank_account=values["bank_account"],
        account_name=values["account_name"],
        decided_by=values["decided_by"],
        approved_by=values["approved_by"],
        start=as_date(values["start_date"]),  # type: ignore[arg-type]
    )


CASE_SELECT = f"SELECT {', '.join(_CASE_TABLE_COLUMNS)} FROM cases"
#: The columns a case's row is written with: those read, and when its latest event was
#: recorded (`recorded_text`; for the movements of a month, `projections.caseload`).
_CASE_WRITE_COLUMNS = (*_CASE_TABLE_COLUMNS, "recorded_at")


def recorded_text(moment: datetime) -> str:
    """A moment as ``cases.recorded_at`` holds it: UTC, to the microsecond, one width, so that
    the text compares as the time does."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def load_cases(db: Database | Tx, case_ids: Sequence[str]) -> dict[str, tuple[CaseState, int]]:
    """Current state and aggregate version of the given cases (those that exist; a query per
    500 ids, so a caller that may find the register empty asks `has_cases` first)."""
    out: dict[str, tuple[CaseState, int]] = {}
    for row in rows_where_in(db, CASE_SELECT, "case_id", case_ids):
        state = case_state_from_row(row, db.sealer)
        out[state.case_id] = (state, int(row[2]))
    return out


def stored_programs(db: Database | Tx, case_ids: Sequence[str]) -> dict[str, str]:
    """The program of each of the given cases that exists (a province's register in some
    100 bytes a case, where `load_cases` would hold the whole rows)."""
    rows = rows_where_in(db, "SELECT case_id, program FROM cases", "case_id", case_ids)
    return {case_id: intern(program) for case_id, program in rows}


def has_cases(db: Database | Tx) -> bool:
    """Whether the ``cases`` read model holds any case (a first import need ask nothing)."""
    sql = "SELECT 1 FROM cases LIMIT 1"
    return bool(db.query(sql) if isinstance(db, Database) else db.execute(sql).fetchall())


def ended_cases(db: Database, region: str, first: date, last: date) -> list[tuple[CaseState, str]]:
    """The cases of ``region`` (a prefix) whose last day in effect is from ``first`` to
    ``last`` (the cases a month's exits notice lists), with the source of their latest
    decision; a case never in effect (ended before its first day) is none of them."""
    rows = db.query(
        f"{CASE_SELECT} WHERE region_code LIKE ? AND effective_to >= ? AND effective_to <= ? "
        "AND effective_to >= start_date ORDER BY region_code, program, case_id",
        (f"{region}%", first, last),
    )
    return [(case_state_from_row(row, db.sealer), str(row[-1] or "")) for row in rows]


class CasesModel(ReadModel):
    """``cases``: each case as last decided, with its aggregate version."""

    name: ClassVar[str] = "cases"
    tables: ClassVar[tuple[str, ...]] = ("cases",)
    topics: ClassVar[frozenset[str]] = frozenset(
        cls.TOPIC
        for cls in (
            Case.Approved,
            Case.MonthlyAmountChanged,
            Case.AccountChanged,
            Case.DetailsCorrected,
            Case.Reviewed,
            Case.Terminated,
            Case.Reinstated,
        )
    )

    def apply(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        if not events:
            return
        current: dict[str, tuple[CaseState, int]] = {}
        by_aggregate: dict[Any, str] = {}
        loaded_ids: list[str] = []
        missing = {e.originator_id for e in events if not isinstance(e, Case.Approved)} - {
            e.originator_id for e in events if isinstance(e, Case.Approved)
        }
        for row in rows_where_in(tx, CASE_SELECT, "aggregate_id", (str(m) for m in missing)):
            loaded_ids.append(row[0])
            by_aggregate[row[1]] = row[0]
            current[row[0]] = (case_state_from_row(row, tx.sealer), int(row[2]))
        sources: dict[str, str] = {}
        recorded: dict[str, datetime] = {}
        for e in events:
            if isinstance(e, Case.Approved):
                by_aggregate[str(e.originator_id)] = e.case_id
                current[e.case_id] = (e.initial_state(), e.originator_version)
                sources[e.case_id] = e.source
                recorded[e.case_id] = e.timestamp
            elif isinstance(e, CaseDecision):
                case_id = by_aggregate[str(e.originator_id)]
                state, _ = current[case_id]
                e.apply_state(state)
                current[case_id] = (state, e.originator_version)
                sources[case_id] = e.source
                recorded[case_id] = max(recorded.get(case_id, e.timestamp), e.timestamp)
        aggregate_of = {case_id: agg for agg, case_id in by_aggregate.items()}
        loaded = set(loaded_ids)
        new_rows: list[tuple[Any, ...]] = []
        changed_rows: list[tuple[Any, ...]] = []
        for s, version in current.values():
            row = (
                s.case_id,
                aggregate_of[s.case_id],
                version,
                *(getattr(s, c) for c in CASE_COLUMNS[1:]),
                county_of(s.region_code),
                s.start,
                sources[s.case_id],
                recorded_text(recorded[s.case_id]) if s.case_id in recorded else None,
            )
            (changed_rows if s.case_id in loaded else new_rows).append(row)
        # A case's first event creates its row exactly once (the runner applies each event
        # once), so new rows can be bulk-copied; rows that existed are updated.
        seal = tx.sealer.seal_rows
        tx.copy_rows("cases", _CASE_WRITE_COLUMNS, seal(new_rows, CASE_PERSONAL))
        tx.executemany(
            _upsert("cases", _CASE_WRITE_COLUMNS, "case_id"), seal(changed_rows, CASE_PERSONAL)
        )


class StaffModel(ReadModel):
    """``staff`` (the registry as it stands), ``staff_terms`` (each member's roles and region
    from a date on) and ``relatives`` (registered relatives, for 回避)."""

    name: ClassVar[str] = "staff"
    tables: ClassVar[tuple[str, ...]] = ("staff", "staff_terms", "relatives")
    topics: ClassVar[frozenset[str]] = frozenset(
        {
            StaffMember.Registered.TOPIC,
            StaffMember.DetailsChanged.TOPIC,
            Relative.Registered.TOPIC,
            Relative.RelationChanged.TOPIC,
        }
    )
    _columns = (
        "staff_id",
        "version",
        "name",
        "id_number",
        "bank_account",
        "role",
        "region_code",
        "source",
    )
    _terms = ("staff_id", "version", "since", "roles", "region_code")
    _relatives = ("staff_id", "id_number", "version", "relation", "source")

    def apply(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        latest: dict[str, tuple[Any, ...]] = {}
        terms: list[tuple[Any, ...]] = []
        relatives: dict[tuple[str, str], tuple[Any, ...]] = {}
        for e in events:
            if isinstance(e, StaffMember.Registered | StaffMember.DetailsChanged):
                latest[e.staff_id] = (
                    e.staff_id,
                    e.originator_version,
                    e.name,
                    e.id_number,
                    e.bank_account,
                    e.role,
                    e.region_code,
                    e.source,
                )
                since = SINCE_EVER if isinstance(e, StaffMember.Registered) else e.in_force_from
                terms.append((e.staff_id, e.originator_version, since, e.role, e.region_code))
            elif isinstance(e, Relative.Registered | Relative.RelationChanged):
                relatives[(e.staff_id, e.id_number)] = (
                    e.staff_id,
                    e.id_number,
                    e.originator_version,
                    e.relation,
                    e.source,
                )
        seal = tx.sealer.seal_rows
        tx.executemany(
            _upsert("staff", self._columns, "staff_id"), seal(list(latest.values()), (2, 3, 4))
        )
        tx.executemany(
            f"INSERT INTO staff_terms ({', '.join(self._terms)}) VALUES (?, ?, ?, ?, ?)", terms
        )
        tx.executemany(
            _upsert("relatives", self._relatives, "staff_id, id_number"),
            seal(list(relatives.values()), (1,)),
        )


def load_directory(db: Database, only: str | None = None) -> StaffDirectory:
    """The staff registry through time, with relatives (a few thousand rows for a province),
    their personal values opened, read in one transaction; ``only``: of that one staff member
    (who acts, on every page of the console: a few rows by key, not the registry)."""
    opened = db.sealer.open
    where, params = ("WHERE staff_id = ?", (only,)) if only is not None else ("", ())
    with db.transaction(write=False) as tx:
        term_rows = tx.execute(
            f"SELECT staff_id, since, roles, region_code FROM staff_terms {where} "
            "ORDER BY staff_id, version",
            params,
        ).fetchall()
        staff_rows = tx.execute(
            f"SELECT staff_id, name, id_number, bank_account FROM staff {where}", params
        ).fetchall()
        relative_rows = tx.execute(
            f"SELECT staff_id, id_number FROM relatives {where}", params
        ).fetchall()
    terms: dict[str, list[Terms]] = {}
    for staff_id, since, roles, region in term_rows:
        history = terms.setdefault(staff_id, [])
        day = as_date(since) or SINCE_EVER
        # A change recorded twice on one day: the later one is what held from that day.
        if history and history[-1].since >= day:
            history[:] = [t for t in history if t.since < day]
        history.append(Terms(day, _roles(roles), region))
    people = {
        staff_id: Person(opened(name), opened(id_number), opened(account))
        for staff_id, name, id_number, account in staff_rows
    }
    relatives: dict[str, set[str]] = {}
    for staff_id, id_number in relative_rows:
        relatives.setdefault(staff_id, set()).add(opened(id_number))
    return StaffDirectory(
        terms, people, {staff_id: frozenset(ids) for staff_id, ids in relatives.items()}
    )


def staff_names(db: Database, staff_ids: Iterable[str]) -> dict[str, str]:
    """The names of the staff members ``staff_ids`` (those of a history's events, not the
    registry), opened."""
    rows = list(rows_where_in(db, "SELECT staff_id, name FROM staff", "staff_id", staff_ids))
    return dict(db.sealer.open_rows(rows, (1,)))


def _roles(text: str) -> frozenset[str]:
    """Roles as stored; a role of staff rows recorded before roles were checked is kept as it
    was (it grants nothing: no duty asks for it)."""
    try:
        return parse_roles(text)
    except ValueError:
        return frozenset(r.strip() for r in text.split(";") if r.strip())


class DeathsModel(ReadModel):
    """``deaths``: the latest reported date of death per id_number."""

    name: ClassVar[str] = "deaths"
    tables: ClassVar[tuple[str, ...]] = ("deaths",)
    topics: ClassVar[frozenset[str]] = frozenset(
        {DeathReport.Reported.TOPIC, DeathReport.Corrected.TOPIC}
    )
    _columns = ("id_number", "version", "date_of_death", "feed", "source")

    def apply(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        latest: dict[str, tuple[Any, ...]] = {}
        for e in events:
            if isinstance(e, DeathReport.Reported | DeathReport.Corrected):
                latest[e.id_number] = (
                    e.id_number,
                    e.originator_version,
                    e.date_of_death,
                    e.feed,
                    e.source,
                )
        tx.executemany(
            _upsert("deaths", self._columns, "id_number"),
            tx.sealer.seal_rows(list(latest.values()), (0,)),
        )


class ImportedFilesModel(ReadModel):
    """``imported_files``: what was imported, when, by whom, with what result; and
    ``import_runs``: each import that wrote in batches, when and by whom it started, and when
    it completed (NULL: open, interrupted or still running)."""

    name: ClassVar[str] = "imported_files"
    tables: ClassVar[tuple[str, ...]] = ("imported_files", "import_runs")
    topics: ClassVar[frozenset[str]] = frozenset(
        {ImportedFile.Imported.TOPIC, ImportedFile.Reverted.TOPIC, FileImport.Started.TOPIC}
    )
    _columns = (
        "aggregate_id",
        "kind",
        "filename",
        "sha256",
        "imported_by",
        "recorded_at",
        "rows_total",
        "rows_new",
        "rows_changed",
        "rows_unchanged",
    )

    def apply(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        rows = [
            (
                str(e.originator_id),
                e.kind,
                e.filename,
                e.sha256,
                e.by,
                e.timestamp.isoformat(),
                e.rows,
                e.new,
                e.changed,
                e.unchanged,
            )
            for e in events
            if isinstance(e, ImportedFile.Imported)
        ]
        tx.executemany(_upsert("imported_files", self._columns, "aggregate_id"), rows)
        started = [
            (
                str(file_aggregate_id(e.kind, e.sha256)),
                e.kind,
                e.filename,
                e.sha256,
                e.by,
                e.timestamp.isoformat(),
            )
            for e in events
            if isinstance(e, FileImport.Started)
        ]
        tx.executemany(_upsert("import_runs", _IMPORT_RUN_COLUMNS, "file_id"), started)
        # After the starts: a page may hold an import's start and its file's record.
        tx.executemany(
            "UPDATE import_runs SET completed_at = ? WHERE file_id = ?",
            [(r[5], r[0]) for r in rows],
        )
        tx.executemany(
            "UPDATE imported_files SET reverted_by = ?, reverted_at = ?, revert_reason = ? "
            "WHERE aggregate_id = ?",
            [
                (e.by, e.timestamp.isoformat(), e.reason, str(e.originator_id))
                for e in events
                if isinstance(e, ImportedFile.Reverted)
            ],
        )


_IMPORT_RUN_COLUMNS = ("file_id", "kind", "filename", "sha256", "started_by", "started_at")


@dataclass(frozen=True)
class OpenImport:
    """An import started and not completed: interrupted, or still running."""

    file_id: str
    kind: str
    filename: str
    started_by: str
    started_at: str

    def __str__(self) -> str:
        started = f"{self.started_at[:19].replace('T', ' ')} UTC"
        return (
            f"import of {self.filename} (started {started} by {self.started_by}) was "
            "interrupted or is still running: run it again (aidledger import "
            f"{self.kind} {self.filename} --by …), which completes it"
        )


def open_imports(db: Database) -> list[OpenImport]:
    """The imports started and not completed, oldest first."""
    return [
        OpenImport(*row)
        for row in db.query(
            "SELECT file_id, kind, filename, started_by, started_at FROM import_runs "
            "WHERE completed_at IS NULL ORDER BY started_at"
        )
    ]


def list_imports(db: Database) -> list[dict[str, Any]]:
    """Every import, newest first, with its id (`eligibility.revert.import_id`) and status:
    ``complete``, ``reverted``, or ``open`` (started, not completed: interrupted or running)."""
    done = db.query(
        "SELECT kind, filename, sha256, imported_by, recorded_at, rows_total, rows_new, "
        "rows_changed, rows_unchanged, reverted_by, reverted_at, revert_reason "
        "FROM imported_files"
    )
    rows: list[dict[str, Any]] = []
    for kind, name, sha, by, at, total, new, changed, same, r_by, r_at, why in done:
        rows.append(
            {
                "import_id": import_id(kind, sha),
                "kind": kind,
                "filename": name,
                "sha256": sha,
                "imported_by": by,
                "recorded_at": at,
                "started_by": None,
                "started_at": None,
                "rows": total,
                "new": new,
                "changed": changed,
                "unchanged": same,
                "status": "reverted" if r_by else "complete",
                "reverted_by": r_by,
                "reverted_at": r_at,
                "revert_reason": why,
            }
        )
    for kind, name, sha, by, at in db.query(
        "SELECT kind, filename, sha256, started_by, started_at FROM import_runs "
        "WHERE completed_at IS NULL"
    ):
        rows.append(
            {
                "import_id": import_id(kind, sha),
                "kind": kind,
                "filename": name,
                "sha256": sha,
                "imported_by": None,
                "recorded_at": None,
                "started_by": by,
                "started_at": at,
                "rows": None,
                "new": None,
                "changed": None,
                "unchanged": None,
                "status": "open",
                "reverted_by": None,
                "reverted_at": None,
                "revert_reason": None,
            }
        )
    rows.sort(key=lambda r: r["recorded_at"] or r["started_at"] or "", reverse=True)
    return rows


def describe_open_imports(imports: Sequence[OpenImport]) -> str:
    """What to say of open imports: each, and how to complete it."""
    return "; ".join(str(i) for i in imports)


def refuse_while_importing(db: Database) -> None:
    """Raise ImportIncomplete while an import is open: its rows are not all there, so a run,
    a reconciliation or a report from the registers now would count part of a file.

    Called first by whatever reads the registers to pay or to report (payout prepare,
    reconcile, the payouts and notice reports, the findings list), after catching the read
    models up (the start is recorded with an import's first rows)."""
    imports = open_imports(db)
    if imports:
        raise ImportIncomplete(describe_open_imports(imports))


class ConfigModel(ReadModel):
    """``config_versions``: which programs config is in force from which day (its text stays
    in the event log, read from there)."""

    name: ClassVar[str] = "config"
    tables: ClassVar[tuple[str, ...]] = ("config_versions",)
    topics: ClassVar[frozenset[str]] = frozenset({ConfigVersion.Applied.TOPIC})
    _columns = (
        "aggregate_id",
        "effective_from",
        "sha256",
        "filename",
        "applied_by",
        "recorded_at",
    )

    def apply(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        rows = [
            (
                str(e.originator_id),
                e.effective_from,
                e.sha256,
                e.filename,
                e.by,
                e.timestamp.isoformat(),
            )
            for e in events
            if isinstance(e, ConfigVersion.Applied)
        ]
        tx.executemany(_upsert("config_versions", self._columns, "aggregate_id"), rows)


def config_version_in_force(db: Database, on: date) -> str | None:
    """The aggregate id of the config version in force on ``on`` (None: no config yet)."""
    rows = db.query(
        "SELECT aggregate_id FROM config_versions WHERE effective_from <= ? "
        "ORDER BY effective_from DESC, recorded_at DESC LIMIT 1",
        (on,),
    )
    return str(rows[0][0]) if rows else None


def register_models() -> list[ReadModel]:
    """The read models of the registers, in the order they are applied."""
    return [CasesModel(), StaffModel(), DeathsModel(), ImportedFilesModel(), ConfigModel()]


#: The names of `all_models`, in their order, known without importing them: a command that
#: finds every model at the head of the log has nothing to apply and builds none of them
#: (a test holds this to `all_models`).
MODEL_NAMES = (
    "cases",
    "staff",
    "deaths",
    "imported_files",
    "config",
    "grants",
    "payouts",
    "bank_results",
    "findings",
    "access_log",
    "verifications",
    "complaints",
    "applications",
    "households",
    "comparison",
    "reviews",
)


def all_models() -> list[ReadModel]:
    """Every read model: registers first, then the money, the access log, the decision chain."""
    from projections.access import AccessLogModel
    from projections.applications import ApplicationsModel
    from projections.bank import BankResultsModel
    from projections.comparison import ComparisonModel
    from projections.complaints import ComplaintsModel, VerificationsModel
    from projections.grants import GrantsModel
    from projections.households import HouseholdsModel
    from projections.payouts import FindingsModel, PayoutsModel
    from projections.reviews import ReviewsModel

    return [
        *register_models(),
        GrantsModel(),
        PayoutsModel(),
        BankResultsModel(),
        FindingsModel(),
        AccessLogModel(),
        VerificationsModel(),
        ComplaintsModel(),
        ApplicationsModel(),
        HouseholdsModel(),
        ComparisonModel(),
        ReviewsModel(),
    ]
