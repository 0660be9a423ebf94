"""The programs config in the store: applied as events, read as of a date.

``aidledger config apply FILE --from DATE`` records the file's text and SHA-256 as a
`ConfigVersion`; every command then uses the version in force on its date (the latest
``effective_from`` on or before it; of two from the same day, the later recorded). Nothing reads
a config file behind the store's back: the text comes from the event log, the read model
``config_versions`` only says which version is in force.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Self
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from ledger.duties import Actor
from ledger.errors import ConfigError
from ledger.events import LedgerAggregate, register_event_topics
from ledger.ids import derived_id
from ledger.programs import ProgramsConfig, parse_programs, read_config_text, shipped_config_path
from ledger.service import LedgerService
from ledger.store import Database, LedgerApp


def config_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def config_version_id(sha256: str, effective_from: date) -> UUID:
    """The same text applied from the same day is one version (a re-apply records nothing)."""
    return derived_id("config", sha256, effective_from.isoformat())


class ConfigVersion(LedgerAggregate):
    """One programs config text, in force from a date."""

    class Applied(LedgerAggregate.Created):
        TOPIC: ClassVar[str] = "aidledger.ConfigApplied"
        effective_from: date
        sha256: str
        content: str
        filename: str

        def apply(self, aggregate: ConfigVersion) -> None:
            aggregate.content = self.content
            aggregate.effective_from = self.effective_from

    if TYPE_CHECKING:
        content: str
        effective_from: date

    @classmethod
    def apply_text(cls, actor: Actor, text: str, *, effective_from: date, filename: str) -> Self:
        """A new version from a config file's text, by an admin (validated first: a bad file
        records nothing)."""
        actor.require("admin", to="apply a programs config")
        parse_programs(text, filename)
        sha = config_sha256(text)
        return cls._create(
            cls.Applied,
            id=config_version_id(sha, effective_from),
            by=actor.staff_id,
            effective_from=effective_from,
            sha256=sha,
            content=text,
            filename=filename,
        )

    @property
    def config(self) -> ProgramsConfig:
        return parse_programs(self.content, f"programs config in force from {self.effective_from}")


register_event_topics(ConfigVersion, "aidledger.ConfigVersion")

#: The actor of `aidledger init` applying the shipped config to a store that has none.
INIT = Actor("init", frozenset(), "", system=True)


def version_in_force(app: LedgerApp, db: Database, on: date) -> ConfigVersion | None:
    """The config version in force on ``on``, its text read from the event log."""
    from projections.registers import config_version_in_force

    aggregate_id = config_version_in_force(db, on)
    if aggregate_id is None:
        return None
    version: ConfigVersion = app.repository.get(UUID(aggregate_id))
    return version


def load_config(app: LedgerApp, db: Database, on: date) -> ProgramsConfig:
    """The programs config in force on ``on``; refused when the store has none yet."""
    version = version_in_force(app, db, on)
    if version is None:
        raise ConfigError(
            f"the store has no programs config in force on {on.isoformat()}: run aidledger init "
            "(it applies the shipped one), or aidledger config apply FILE --from DATE"
        )
    return version.config


@dataclass(frozen=True)
class Applied:
    """What ``config apply`` did."""

    sha256: str
    effective_from: date
    recorded: bool  # False: the same text was already in force from that day


class Configs(LedgerService):
    """Applying and showing the programs config in the store."""

    def apply(self, path: Path, *, effective_from: date | None, by: str | Actor) -> Applied:
        """Record a config file's text in force from ``effective_from`` (default today)."""
        self.sync()
        actor = self.actor(by)
        return self._apply(actor, read_config_text(path), effective_from or self.today, path.name)

    def apply_shipped(self) -> Applied | None:
        """`init`: the shipped config, in force from ever, for a store that has none."""
        from projections.registers import config_version_in_force

        self.sync()
        if config_version_in_force(self.db, date.max) is not None:
            return None
        path = shipped_config_path()
        return self._apply(INIT, read_config_text(path), date(1900, 1, 1), path.name)

    def _apply(self, actor: Actor, text: str, effective_from: date, filename: str) -> Applied:
        version = ConfigVersion.apply_text(
            actor, text, effective_from=effective_from, filename=filename
        )
        try:
            self.app.repository.get(version.id)
        except AggregateNotFoundError:
            self.app.save(version)
            self.sync()
            return Applied(config_sha256(text), effective_from, True)
        return Applied(config_sha256(text), effective_from, False)
