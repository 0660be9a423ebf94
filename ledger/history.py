"""A case's full history for auditors, and its state as of a date, as plain JSON-ready data."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from ledger.case import CASE_COLUMNS, CaseState, state_as_of
from ledger.events import LedgerEvent, event_type_name
from ledger.ids import mask_account, mask_id_number, mask_name
from ledger.masking import mask_reference
from ledger.money import format_fen

#: Event and state fields holding integer fen, shown as "1234.50".
MONEY_FIELDS = frozenset(
    {
        "monthly_amount",
        "amount",
        "instructed_amount",
        "bank_amount",
        "collected",
        "paid",
        "owed",
        "held_amount",
        "recovery_amount",
    }
)
_HIDDEN = frozenset({"originator_id", "originator_version", "originator_topic", "timestamp"})


def edge(name: str, value: Any) -> Any:
    """A value as shown at the edge: fen as \"1234.50\", dates as ISO text."""
    if name in MONEY_FIELDS and isinstance(value, int):
        return format_fen(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


#: How each personal field of a case is shown where it must not be read in full.
_MASKS = {
    "name": mask_name,
    "account_name": mask_name,
    "id_number": mask_id_number,
    "bank_account": mask_account,
    "member_name": mask_name,
    "member_id_number": mask_id_number,
    "source_ref": mask_reference,
}
#: An id number (18 characters, the last a digit or X).
_ID_NUMBER = re.compile(r"^[0-9]{17}[0-9Xx]$")


def masked_key(key: str) -> str:
    """A dry run's row key with each id number in it masked: deaths, relatives, household
    members and comparison records are keyed by a person (``C001/610102********0015``)."""
    return "/".join(mask_id_number(p) if _ID_NUMBER.match(p) else p for p in key.split("/"))


def masked_changes(changes: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` with names, id numbers and accounts masked."""
    out: dict[str, list[Any]] = {}
    for name, values in changes.items():
        mask = _MASKS.get(name)
        out[name] = [mask(v) if v else v for v in values] if mask is not None else list(values)
    return out


def event_record(event: LedgerEvent) -> dict[str, Any]:
    """What, who, recorded when, effective from when, and the event's own fields."""
    payload = {k: edge(k, v) for k, v in event.model_dump().items() if k not in _HIDDEN}
    if "type" in payload:  # a finding's own type must not hide the event's
        payload["finding_type"] = payload.pop("type")
    return {
        "type": event_type_name(event),
        "version": event.originator_version,
        "by": payload.pop("by"),
        "recorded_at": event.timestamp.isoformat(),
        "effective_from": payload.pop("effective_from", None),
        **payload,
    }


def state_record(state: CaseState | None) -> dict[str, Any] | None:
    """A case state with the fields of the cases file (amounts as yuan strings)."""
    if state is None:
        return None
    return {name: edge(name, getattr(state, name)) for name in CASE_COLUMNS} | {
        "start": state.start.isoformat()
    }


def case_history(case_id: str, events: Sequence[LedgerEvent], as_of: date) -> dict[str, Any]:
    """The JSON document of `aidledger case history` (see README for the fields)."""
    return {
        "case_id": case_id,
        "as_of": as_of.isoformat(),
        "state": state_record(state_as_of(events, as_of)),
        "events": [event_record(e) for e in events],
    }
