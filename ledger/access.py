"""The access log: every view of a case's personal data, who, when, what and why.

A view is recorded before what it shows is answered (no record, no view), as one small
aggregate of one event, `AccessRecord.Recorded` (``aidledger.AccessRecorded``): who (``by``),
when (its ``timestamp``), through what (``channel``: cli, api, console), what (``kind``:
``case_history``, ``application_history``, ``findings``, ``bank_file``; ``subject``: the
case, the application, the listing or the file), the cases it showed (``case_ids``) and why
(``reason``). As events they are chained with every other (`ledger.chain`: ``aidledger
verify`` proves none was edited or removed) and encrypted with the store's cipher (a reason
may name a person); the read model `projections.access` lists them. A record is never looked
up by its id, so each has a fresh one: two views at once never contend for one aggregate, and
recording one reads nothing.

The rules, pure:

- `check_view_reason`: auditors and supervisors give a reason for every view (refused without
  one: `ReasonRequired`, 422 in the API and console, exit 2 on the command line).
- `check_may_read_access_log`: auditors, supervisors and admins read the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal, Self
from uuid import uuid4

from ledger.duties import Actor
from ledger.errors import InvalidValue
from ledger.events import LedgerAggregate, register_event_topics

#: Roles that must say why they look at a case's personal data.
REASON_ROLES = ("auditor", "supervisor")
#: Roles that read the access log.
LOG_READERS = ("auditor", "supervisor", "admin")
#: The longest reason kept (a sentence, not a document).
MAX_REASON = 500

Channel = Literal["cli", "api", "console"]
Kind = Literal["case_history", "application_history", "findings", "bank_file"]


class ReasonRequired(InvalidValue):
    """A view that needs a reason was asked for without one (nothing shown, nothing logged)."""


@dataclass(frozen=True)
class Viewer:
    """Who looks, why, and through what. ``actor`` None: the store's operator on the command
    line without ``--by`` (nothing masked, nothing logged)."""

    actor: Actor | None
    reason: str = ""
    channel: Channel = "cli"

    @property
    def staff_id(self) -> str | None:
        return None if self.actor is None else self.actor.staff_id


def check_view_reason(actor: Actor, reason: str) -> str:
    """The reason for a view, cleaned; `ReasonRequired` when ``actor`` must give one and gave
    none. Too long a reason is refused, not cut."""
    text = " ".join(reason.split())
    if len(text) > MAX_REASON:
        raise InvalidValue(f"the reason is too long ({len(text)} characters, at most {MAX_REASON})")
    if not text and actor.holds(*REASON_ROLES) and not actor.system:
        roles = ", ".join(r for r in REASON_ROLES if r in actor.roles)
        raise ReasonRequired(
            f"{actor.staff_id} holds {roles}: say why you look at this personal data "
            "(--reason on the command line, the reason field in the console or API); "
            "the view is recorded in the access log"
        )
    return text


def check_may_read_access_log(actor: Actor) -> None:
    """Auditors, supervisors and admins read the access log."""
    actor.require(*LOG_READERS, to="read the access log")


class AccessRecord(LedgerAggregate):
    """One view of personal data (see the module)."""

    class Recorded(LedgerAggregate.Created):
        TOPIC: ClassVar[str] = "aidledger.AccessRecorded"
        channel: str
        kind: str
        subject: str
        case_ids: tuple[str, ...] = ()
        reason: str = ""

        def apply(self, aggregate: AccessRecord) -> None:
            aggregate.recorded = self

    if TYPE_CHECKING:
        recorded: AccessRecord.Recorded

    @classmethod
    def view(
        cls,
        actor: Actor,
        *,
        channel: Channel,
        kind: Kind,
        subject: str,
        case_ids: tuple[str, ...] = (),
        reason: str = "",
    ) -> Self:
        """A view by ``actor`` (its reason checked by `check_view_reason`)."""
        return cls._create(
            cls.Recorded,
            id=uuid4(),
            by=actor.staff_id,
            channel=channel,
            kind=kind,
            subject=subject,
            case_ids=case_ids,
            reason=check_view_reason(actor, reason),
        )


register_event_topics(AccessRecord, "aidledger.AccessRecord")
