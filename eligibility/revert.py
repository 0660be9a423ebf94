"""Undoing a mistaken cases file: ``aidledger import revert IMPORT_ID --by STAFF --reason TEXT``.

A file's decisions are never deleted: the revert records, on each case the file decided,
compensating decisions by the approver who reverts, effective as the undone ones were, so the
case reads again, on every day, as it read before the file (its amount, account, details and
validity). A case the file opened is ended from its first day. Money already sent becomes a
recovery (or, for a termination undone, arrears) at the next prepare, as for any decision.

What stops a misuse:
- the approver role, a region covering every case the file decided, and no interest in any of
  them (回避), as for approving the decisions themselves; a reason, kept with the file;
- only the latest decisions on their cases are undone: a case decided again after the file
  (a later file, a death) is refused by name, since undoing the file would silently undo a
  later decision too;
- a case whose holder is reported dead is never put back in effect after the death;
- every case's undo is checked against the case as it read before the file, day by day, and
  refused if it would not give that back (a file that moved a case's first day earlier);
- all or nothing: any refusal records nothing; once recorded, the file is marked reverted and
  a second revert is refused. A revert interrupted half-way is completed by running it again
  (the cases already compensated are recognised by their source).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, timedelta
from typing import Any, cast
from uuid import UUID

from ledger.case import (
    CASE_COLUMNS,
    Case,
    CaseDecision,
    CaseRow,
    CaseState,
    current_state,
    decision_events,
    state_as_of,
)
from ledger.errors import AidLedgerError, NotFound
from ledger.events import LedgerEvent
from ledger.registry import ImportedFile, file_aggregate_id, import_aggregate_id, import_id
from ledger.service import LedgerService
from projections.households import members_of_cases

#: The ``source`` of a compensating decision begins with this, then the file's tag.
REVERT_SOURCE = "revert of "

#: The fields that say what a case pays, to whom, and when (not who decided, nor from when
#: the latest decision took effect): a revert must give these back on every day.
_TERMS = tuple(n for n in CASE_COLUMNS if n not in ("decided_by", "approved_by", "effective_from"))

#: Every topic of a case's events: the notifications an import of a cases file records.
CASE_TOPICS = tuple(
    sorted(
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
)

#: Files whose revert is refused, and why: what they record is not undone by compensating
#: decisions, and what to do instead.
REGISTER_CORRECTIONS = {
    "households": (
        "a households file is a register of who lives in each household, not a decision, so it "
        "is not reverted; correct it by importing a corrected households file (a member who "
        "left, or was registered by mistake: their row with `to` set; a wrong name or relation: "
        "the corrected row), which records each change as it was known, and its history keeps "
        "what this file said"
    ),
    "reviews": (
        "a reviews file records reviews that took place (定期核查) with the decisions they made; "
        "a review is not withdrawn, since it moved the case's next review and closed its "
        "review_overdue finding; correct a decision it made (adjust, terminate) with a cases "
        "file giving the case as it should be, decided and approved (the next payout run pays "
        "the arrears or raises the recoveries), and record the case's next review with "
        "aidledger import reviews when it takes place"
    ),
}

#: Refusals listed at most (the rest counted).
LISTED = 20


class RevertRefused(AidLedgerError):
    """A revert that would not give the cases back as they were: nothing was recorded."""


@dataclass
class Undo:
    """One case's undo: the case with its compensating decisions pending."""

    case_id: str
    case: Case
    opened: bool  # the file opened the case: it is ended from its first day
    region_code: str
    id_number: str
    bank_account: str
    #: The case's last day before the undo (None: open-ended).
    ended: date | None

    def puts_back_after(self, day: date) -> bool:
        """Whether the undo keeps the case in effect on more days after ``day`` than now."""
        far = date.max
        before, after = self.ended or far, self.case.state.effective_to or far
        return after > max(before, day)


# -- the rules (pure) -----------------------------------------------------------------------


def undo_case(
    events: Sequence[LedgerEvent], tag: str, *, by: str, reason: str
) -> Undo | str | None:
    """Undo what the file ``tag`` decided on one case, given the case's events in order.

    Returns the case (rebuilt from ``events``) with the compensating decisions pending, a
    reason it cannot be undone, or None (the file decided nothing on it, or its revert was
    already recorded: a rerun of an interrupted revert)."""
    mine, undone = f"{tag}:", f"{REVERT_SOURCE}{tag}"
    decisions = [e for e in events if isinstance(e, CaseDecision)]
    first = next((i for i, e in enumerate(decisions) if e.source.startswith(mine)), None)
    if first is None:
        return None
    after = decisions[first:]
    if any(e.source.startswith(undone) for e in after):
        return None
    later = [e for e in after if not e.source.startswith(mine)]
    if later:
        e = later[0]
        return (
            f"decided again after this file ({e.source or 'no source'}, recorded "
            f"{e.timestamp.date().isoformat()} by {e.by}): a revert undoes only the latest "
            "decisions; revert that one first, or import a row that corrects the case"
        )
    before = decisions[:first]
    prior, now = current_state(before), current_state(decisions)
    if now is None:
        return None
    case = _rebuild(decisions)
    source = f"{undone}: {reason}"
    if prior is None:
        _trigger(
            case,
            [(Case.Terminated, {"effective_from": now.start, "effective_to": now.start - _DAY})],
            by,
            source,
        )
    else:
        _give_back(case, before, after, by, source)
    problem = _not_restored(before, [*decisions, *_pending(case)])
    if problem:
        return problem
    return Undo(
        now.case_id,
        case,
        prior is None,
        now.region_code,
        now.id_number,
        now.bank_account,
        now.effective_to,
    )


_DAY = timedelta(days=1)


def _rebuild(events: Sequence[LedgerEvent]) -> Case:
    case: Any = None
    for event in events:
        case = event.mutate(case)
    return case  # type: ignore[no-any-return]


def _trigger(
    case: Case, decisions: Iterable[tuple[Any, dict[str, object]]], by: str, src: str
) -> None:
    for event_class, values in decisions:
        case.trigger_event(event_class, by=by, source=src, decided_by=by, approved_by=by, **values)


def _give_back(
    case: Case,
    before: Sequence[CaseDecision],
    reverted: Sequence[CaseDecision],
    by: str,
    source: str,
) -> None:
    """Compensate a case the file changed: from the earliest date a reverted decision took
    effect, and again at each later date a decision (earlier or reverted) changed its terms,
    the terms in force then before the file (a later-recorded decision wins from its own date on,
    so this gives back the earlier timeline); then its validity as it was."""
    dated = [e.effective_from for e in reverted if e.dated]
    prior = current_state(before)
    if prior is None:  # pragma: no cover - the caller handles a case the file opened
        return
    start = min(dated) if dated else prior.effective_from
    days = sorted(
        {
            start,
            *(
                e.effective_from
                for e in (*before, *reverted)
                if e.dated and e.effective_from > start
            ),
        }
    )
    for day in days:
        was = current_state(before, day)
        is_now = current_state([*before, *reverted, *_pending(case)], day)
        if was is None or is_now is None:
            continue
        target = _with(is_now.as_row(), was, effective_from=day)
        changes = [(cls, v) for cls, v in decision_events(is_now, target) if cls.dated]
        if changes and not all(cls is Case.Reviewed for cls, _ in changes):
            _trigger(case, [(c, v) for c, v in changes if c is not Case.Reviewed], by, source)
    now = case.state
    if now.effective_to != prior.effective_to:
        target = _replace_row(now, effective_to=prior.effective_to)
        _trigger(case, [(c, v) for c, v in decision_events(now, target) if not c.dated], by, source)
    if not case.pending_events:
        # The file only reviewed the case (who decided, from when): the revert is a review.
        _trigger(case, [(Case.Reviewed, {"effective_from": start})], by, source)


def _with(row: CaseRow, terms: CaseState, **values: Any) -> CaseRow:
    """``row`` with the dated terms of ``terms`` (amount, account, details) and ``values``."""
    keep = {n: getattr(terms, n) for n in _TERMS if n != "effective_to"}
    return replace(row, **keep, **values)


def _replace_row(state: CaseState, **values: Any) -> CaseRow:
    return replace(state.as_row(), **values)


def _pending(case: Case) -> list[LedgerEvent]:
    return cast(list[LedgerEvent], case.pending_events)


def _not_restored(before: Sequence[LedgerEvent], after: Sequence[LedgerEvent]) -> str | None:
    """Why the case after the undo does not read as before the file, or None.

    Both are compared on every day where either could change (each decision's dates and the
    day before), and as they stand now: the terms and whether the case is in effect."""
    days: set[date] = set()
    for e in after:
        if isinstance(e, CaseDecision):
            days |= {e.effective_from, e.effective_from - _DAY}
        for name in ("effective_to", "start"):
            value = getattr(e, name, None)
            if isinstance(value, date):
                days |= {value, value + _DAY}
    for day in sorted(days):
        was, is_now = state_as_of(before, day), state_as_of(after, day)
        if _terms(was) != _terms(is_now):
            return _describe(day, was, is_now)
    return None


def _terms(state: CaseState | None) -> tuple[Any, ...] | None:
    return None if state is None else tuple(getattr(state, n) for n in _TERMS)


def _describe(day: date, was: CaseState | None, now: CaseState | None) -> str:
    if was is None and now is not None:
        return (
            f"on {day.isoformat()} it was not in effect before this file and would be after "
            "the revert (the file moved its first day earlier, which no later decision can "
            "move back): import a row that corrects it instead"
        )
    if was is not None and now is None:
        return f"on {day.isoformat()} it was in effect before this file and would not be"
    differ = [
        f.name
        for f in fields(CaseState)
        if f.name in _TERMS and getattr(was, f.name, None) != getattr(now, f.name, None)
    ]
    return f"on {day.isoformat()} its {', '.join(differ)} would differ from before this file"


# -- the service ----------------------------------------------------------------------------


@dataclass
class RevertResult:
    import_id: str
    filename: str
    cases: int
    opened: int  # cases the file opened, now ended from their first day
    events: int
    recorded: bool
    #: Recoveries still open on the reverted cases, raised before the revert: a month the
    #: revert gives back is paid again as arrears while its recovery stands (never netted).
    open_recoveries: list[str]


class Reverter(LedgerService):
    """Reverts a mistaken cases file (approver)."""

    def revert(self, import_ref: str, *, by: str, reason: str) -> RevertResult:
        self.sync()
        actor = self.actor(by)
        actor.require("approver", to="revert an import")
        if not reason.strip():
            raise AidLedgerError("a revert needs a reason (--reason): what was wrong with the file")
        kind, sha, name = self.find(import_ref)
        if kind == "grants":
            raise AidLedgerError(
                f"{import_ref} is a grants file: a grant is paid once and never changes, so it is "
                "not reverted (aidledger has no revoking of a grant yet); its payment is refused "
                "or refunded at the bank like any (payout refund once returned)"
            )
        if kind in REGISTER_CORRECTIONS:
            raise AidLedgerError(f"{import_ref} is a {kind} file: {REGISTER_CORRECTIONS[kind]}")
        if kind != "cases":
            raise AidLedgerError(
                f"{import_ref} is a {kind} file: only a cases file's decisions are reverted; "
                f"correct a {kind} register by importing a corrected {kind} file"
            )
        record: ImportedFile = self.app.repository.get(file_aggregate_id(kind, sha))
        record.check_revert(reason)
        from ledger.imports import file_tag

        tag = file_tag(name, sha)
        case_ids = self._cases_decided(kind, sha, tag)
        directory = self.directory()
        died = self._deaths()
        household = members_of_cases(self.db, case_ids)
        undos: list[Undo] = []
        refused: list[str] = []
        for events in _events_of(self.app, self.db, case_ids):
            undo = undo_case(events, tag, by=actor.staff_id, reason=reason)
            label = _case_id_of(events)
            if isinstance(undo, str):
                refused.append(f"case {label}: {undo}")
                continue
            if undo is None:
                continue
            after = undo.case.state  # the region, people and account the undo gives back
            outside = [r for r in (undo.region_code, after.region_code) if not actor.covers(r)]
            if outside:
                refused.append(
                    f"case {label}: its region {outside[0]} is outside "
                    f"{actor.staff_id}'s region {actor.region}"
                )
            if actor.staff_id in directory.interested(
                [undo.id_number, after.id_number, *household.get(label, ())],
                [undo.bank_account, after.bank_account],
            ):
                refused.append(
                    f"case {label}: {actor.staff_id} has an interest in it (the beneficiary or "
                    "a member of the household is the staff member or a registered relative, "
                    "or the account is their own): another approver must revert this file (回避)"
                )
            death = died.get(undo.id_number)
            if death is not None and undo.puts_back_after(death):
                refused.append(
                    f"case {label}: its holder is reported dead on {death.isoformat()}; a "
                    "revert never puts a case back in effect after a death"
                )
            undos.append(undo)
        if refused:
            shown = refused[:LISTED]
            more = f"\n  … and {len(refused) - LISTED} more" if len(refused) > LISTED else ""
            raise RevertRefused(
                f"{import_ref} ({name}): not reverted, {len(refused)} case(s) cannot be; "
                "nothing was recorded\n  " + "\n  ".join(shown) + more
            )
        recorded = sum(len(u.case.pending_events) for u in undos)
        record.revert(by=actor.staff_id, reason=reason, cases=len(case_ids), events=recorded)
        self._save([u.case for u in undos], record)
        return RevertResult(
            import_id(kind, sha),
            name,
            len(case_ids),
            sum(u.opened for u in undos),
            recorded,
            recorded=True,
            open_recoveries=self._open_recoveries([u.case_id for u in undos]),
        )

    def find(self, import_ref: str) -> tuple[str, str, str]:
        """The kind, content hash and file name of an import named by its id (``KIND-``
        and the first 12 hex digits of its sha256, as `import list` shows), or its sha256."""
        kind, _, prefix = import_ref.partition("-")
        if not prefix:
            kind, prefix = "", import_ref
        prefix = prefix.lower()
        if len(prefix) < 12 or any(c not in "0123456789abcdef" for c in prefix):
            raise NotFound(
                f"{import_ref!r} is not an import id: use an id from aidledger import list "
                "(e.g. cases-1a2b3c4d5e6f)"
            )
        rows = [
            (k, s, f)
            for k, s, f in self.db.query(
                "SELECT kind, sha256, filename FROM imported_files WHERE sha256 LIKE ?",
                (f"{prefix}%",),
            )
            if not kind or k == kind
        ]
        if not rows:
            raise NotFound(f"no import {import_ref}: aidledger import list shows the imports")
        if len(rows) > 1:
            raise NotFound(f"{import_ref} names {len(rows)} imports: give the whole sha256")
        kind, sha, name = rows[0]
        return str(kind), str(sha), str(name)

    def _cases_decided(self, kind: str, sha: str, tag: str) -> list[UUID]:
        """The cases the file's rows decided: its events lie between the import's start and
        the file's record in the log (a killed run and its rerun included)."""
        from ledger.store import events_table, notification_column

        def position(aggregate_id: UUID) -> int | None:
            rows = self.db.query(
                f"SELECT MIN({notification_column(self.db.dialect)}) "
                f"FROM {events_table(self.db.dialect)} WHERE originator_id = ?",
                (aggregate_id.hex if self.db.dialect == "sqlite" else aggregate_id,),
            )
            return int(rows[0][0]) if rows and rows[0][0] is not None else None

        start = position(import_aggregate_id(kind, sha)) or 1
        stop = position(file_aggregate_id(kind, sha))
        prefix = f"{tag}:"
        found: dict[UUID, None] = {}
        while True:
            notes = self.app.recorder.select_notifications(
                start=start, limit=5000, stop=stop, topics=CASE_TOPICS
            )
            if not notes:
                break
            for note in notes:
                event = self.app.mapper.to_domain_event(note)
                if isinstance(event, CaseDecision) and event.source.startswith(prefix):
                    found[event.originator_id] = None
            start = notes[-1].id + 1
        return list(found)

    def _open_recoveries(self, case_ids: Sequence[str]) -> list[str]:
        from ledger.store import param_chunks

        out: list[str] = []
        for chunk in param_chunks(list(case_ids)):
            out += [
                str(r)
                for (r,) in self.db.query(
                    "SELECT recovery_id FROM recoveries WHERE status = 'open' AND case_id IN "
                    f"({', '.join('?' * len(chunk))}) ORDER BY recovery_id",
                    chunk,
                )
            ]
        return out

    def _deaths(self) -> dict[str, date]:
        from ledger.store import as_date

        out: dict[str, date] = {}
        for id_number, died in self.db.query("SELECT id_number, date_of_death FROM deaths"):
            day = as_date(died)
            if day is not None:
                out[self.db.sealer.open(str(id_number))] = day
        return out

    def _save(self, cases: Sequence[Case], record: ImportedFile) -> None:
        """The compensating decisions in batches, then the file's record of the revert (so
        a revert killed half-way is completed by running it again)."""
        from ledger.store import save_batch

        for i in range(0, len(cases), 1000):
            save_batch(self.app, cases[i : i + 1000])
        save_batch(self.app, [record])
        self.sync()


def _events_of(app: Any, db: Any, case_ids: Sequence[UUID]) -> Iterable[list[LedgerEvent]]:
    """Each case's events, a few thousand cases at a time."""
    from ledger.store import select_events_of

    for i in range(0, len(case_ids), 5000):
        yield from select_events_of(app, db, case_ids[i : i + 5000]).values()


def _case_id_of(events: Sequence[LedgerEvent]) -> str:
    first = events[0] if events else None
    return str(getattr(first, "case_id", "?"))
