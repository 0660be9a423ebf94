"""The staff registry and staff members' relatives, deaths from the data-comparison feed, and
the record of imported files (and of imports under way)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import TYPE_CHECKING, ClassVar, Self
from uuid import UUID

from ledger.events import LedgerAggregate, register_event_topics
from ledger.ids import derived_id


@dataclass(frozen=True)
class StaffRow:
    """One validated row of a staff file (``role``: one or more roles, ``;``-separated, in
    the order of `ledger.duties.ROLES`; ``region_code``: the prefix the member acts on)."""

    staff_id: str
    name: str
    id_number: str
    bank_account: str
    role: str
    region_code: str


STAFF_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(StaffRow))


@dataclass(frozen=True)
class RelativeRow:
    """One validated row of a relatives file: a staff member's relative (for 回避)."""

    staff_id: str
    id_number: str
    relation: str


RELATIVE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(RelativeRow))


@dataclass(frozen=True)
class DeathRow:
    """One validated row of a deaths file (public security data comparison)."""

    id_number: str
    date_of_death: date
    source: str


DEATH_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(DeathRow))


def staff_aggregate_id(staff_id: str) -> UUID:
    return derived_id("staff", staff_id)


def relative_aggregate_id(staff_id: str, id_number: str) -> UUID:
    return derived_id("relative", staff_id, id_number)


def death_aggregate_id(id_number: str) -> UUID:
    return derived_id("death", id_number)


def file_aggregate_id(kind: str, sha256: str) -> UUID:
    return derived_id("file", kind, sha256)


def import_aggregate_id(kind: str, sha256: str) -> UUID:
    return derived_id("import", kind, sha256)


class StaffMember(LedgerAggregate):
    """A person who handles cases or money: their accounts are watched for benefit money."""

    class Registered(LedgerAggregate.Created):
        TOPIC: ClassVar[str] = "aidledger.StaffRegistered"
        staff_id: str
        name: str
        id_number: str
        bank_account: str
        role: str
        region_code: str
        source: str = ""

        def apply(self, aggregate: StaffMember) -> None:
            aggregate.row = StaffRow(**{n: getattr(self, n) for n in STAFF_COLUMNS})

    class DetailsChanged(LedgerAggregate.Event):
        """Changed details, roles or region, in force from ``effective_from`` (the day of the
        import; None in events recorded before it was kept: the day recorded)."""

        TOPIC: ClassVar[str] = "aidledger.StaffDetailsChanged"
        staff_id: str
        name: str
        id_number: str
        bank_account: str
        role: str
        region_code: str
        source: str = ""
        effective_from: date | None = None

        @property
        def in_force_from(self) -> date:
            return self.effective_from or self.timestamp.date()

        def apply(self, aggregate: StaffMember) -> None:
            aggregate.row = StaffRow(**{n: getattr(self, n) for n in STAFF_COLUMNS})

    if TYPE_CHECKING:
        row: StaffRow

    @classmethod
    def register(cls, row: StaffRow, *, by: str, source: str) -> Self:
        values = {n: getattr(row, n) for n in STAFF_COLUMNS}
        return cls._create(
            cls.Registered, id=staff_aggregate_id(row.staff_id), by=by, source=source, **values
        )

    def update(self, row: StaffRow, *, by: str, source: str, on: date) -> bool:
        """Record changed details in force from ``on``; returns False when the row is identical."""
        if row == self.row:
            return False
        values = {n: getattr(row, n) for n in STAFF_COLUMNS}
        self.trigger_event(self.DetailsChanged, by=by, source=source, effective_from=on, **values)
        return True


class Relative(LedgerAggregate):
    """A registered relative of a staff member: their cases are the staff member's interest."""

    class Registered(LedgerAggregate.Created):
        TOPIC: ClassVar[str] = "aidledger.RelativeRegistered"
        staff_id: str
        id_number: str
        relation: str
        source: str = ""

        def apply(self, aggregate: Relative) -> None:
            aggregate.row = RelativeRow(self.staff_id, self.id_number, self.relation)

    class RelationChanged(LedgerAggregate.Event):
        TOPIC: ClassVar[str] = "aidledger.RelativeRelationChanged"
        staff_id: str
        id_number: str
        relation: str
        source: str = ""

        def apply(self, aggregate: Relative) -> None:
            aggregate.row = RelativeRow(self.staff_id, self.id_number, self.relation)

    if TYPE_CHECKING:
        row: RelativeRow

    @classmethod
    def register(cls, row: RelativeRow, *, by: str, source: str) -> Self:
        return cls._create(
            cls.Registered,
            id=relative_aggregate_id(row.staff_id, row.id_number),
            by=by,
            source=source,
            staff_id=row.staff_id,
            id_number=row.id_number,
            relation=row.relation,
        )

    def change(self, row: RelativeRow, *, by: str, source: str) -> bool:
        if row == self.row:
            return False
        self.trigger_event(
            self.RelationChanged,
            by=by,
            source=source,
            staff_id=row.staff_id,
            id_number=row.id_number,
            relation=row.relation,
        )
        return True


class DeathReport(LedgerAggregate):
    """A death reported for one id number; a later different date is a correction."""

    class Reported(LedgerAggregate.Created):
        TOPIC: ClassVar[str] = "aidledger.DeathReported"
        id_number: str
        date_of_death: date
        feed: str  # the feed's own `source` column, e.g. the public-security bureau
        source: str = ""

        def apply(self, aggregate: DeathReport) -> None:
            aggregate.row = DeathRow(self.id_number, self.date_of_death, self.feed)

    class Corrected(LedgerAggregate.Event):
        TOPIC: ClassVar[str] = "aidledger.DeathReportCorrected"
        id_number: str
        date_of_death: date
        feed: str
        source: str = ""

        def apply(self, aggregate: DeathReport) -> None:
            aggregate.row = DeathRow(self.id_number, self.date_of_death, self.feed)

    if TYPE_CHECKING:
        row: DeathRow

    @classmethod
    def report(cls, row: DeathRow, *, by: str, source: str) -> Self:
        return cls._create(
            cls.Reported,
            id=death_aggregate_id(row.id_number),
            by=by,
            source=source,
            id_number=row.id_number,
            date_of_death=row.date_of_death,
            feed=row.source,
        )

    def correct(self, row: DeathRow, *, by: str, source: str) -> bool:
        if row == self.row:
            return False
        self.trigger_event(
            self.Corrected,
            by=by,
            source=source,
            id_number=row.id_number,
            date_of_death=row.date_of_death,
            feed=row.source,
        )
        return True


class ImportedFile(LedgerAggregate):
    """The record that a file was imported: its content hash makes re-imports no-ops."""

    class Imported(LedgerAggregate.Created):
        TOPIC: ClassVar[str] = "aidledger.FileImported"
        kind: str
        filename: str
        sha256: str
        rows: int
        new: int
        changed: int
        unchanged: int

        def apply(self, aggregate: ImportedFile) -> None:
            aggregate.summary = self

    if TYPE_CHECKING:
        summary: ImportedFile.Imported

    @classmethod
    def record(
        cls,
        *,
        kind: str,
        filename: str,
        sha256: str,
        by: str,
        rows: int,
        new: int,
        changed: int,
        unchanged: int,
    ) -> Self:
        return cls._create(
            cls.Imported,
            id=file_aggregate_id(kind, sha256),
            by=by,
            kind=kind,
            filename=filename,
            sha256=sha256,
            rows=rows,
            new=new,
            changed=changed,
            unchanged=unchanged,
        )


class FileImport(LedgerAggregate):
    """An import that writes in several transactions, started: recorded in the first of them,
    before its first row's events, so that until the file's record (`ImportedFile`) ends it
    every reader knows the file's rows are not all there (`projections.registers`). A rerun
    of the same import (same kind and content) continues it and records no second start.
    """

    class Started(LedgerAggregate.Created):
        TOPIC: ClassVar[str] = "aidledger.ImportStarted"
        kind: str
        filename: str
        sha256: str

    @classmethod
    def start(cls, *, kind: str, filename: str, sha256: str, by: str) -> Self:
        return cls._create(
            cls.Started,
            id=import_aggregate_id(kind, sha256),
            by=by,
            kind=kind,
            filename=filename,
            sha256=sha256,
        )


register_event_topics(StaffMember, "aidledger.StaffMember")
register_event_topics(Relative, "aidledger.Relative")
register_event_topics(DeathReport, "aidledger.DeathReport")
register_event_topics(ImportedFile, "aidledger.ImportedFile")
register_event_topics(FileImport, "aidledger.FileImport")
