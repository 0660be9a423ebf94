"""What a recording service call answered, as JSON and back: the API sends it, and the command
line through the API (`aidledger.cli.remote`) reads it back into the very result its own
printing takes, so a command says the same whether it ran on the store or through the server.

Money travels as yuan text ("1234.50"), as everywhere at the edges; it is integer fen again
once read back.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from ledger.money import format_fen, parse_fen

if TYPE_CHECKING:
    from collections.abc import Iterable

    from disbursement.runs import Approval, PrepareResult
    from eligibility.deceased import EndDeceasedResult
    from eligibility.reviews import DueReview
    from ledger.imports import ImportSummary

#: The fields of `PrepareResult` in fen.
_PREPARE_MONEY = ("amount", "added_amount", "recovery_amount")


def prepared_doc(r: PrepareResult) -> dict[str, Any]:
    """A prepare's result, every field (``by_kind``: yuan by payment kind)."""
    doc = {f.name: getattr(r, f.name) for f in fields(r)}
    for name in _PREPARE_MONEY:
        doc[name] = format_fen(doc[name])
    doc["by_kind"] = {k: format_fen(v) for k, v in sorted(r.by_kind.items())}
    return doc


def prepared_from(doc: dict[str, Any]) -> PrepareResult:
    """`prepared_doc` read back."""
    from disbursement.runs import PrepareResult

    given = dict(doc)
    for name in _PREPARE_MONEY:
        given[name] = parse_fen(str(given[name]))
    given["by_kind"] = {k: parse_fen(str(v)) for k, v in given["by_kind"].items()}
    return PrepareResult(**given)


def prepared_json(r: PrepareResult) -> dict[str, Any]:
    """``payout prepare --format json``."""
    return {
        "run_id": r.run_id,
        "payments": r.payments,
        "amount": format_fen(r.amount),
        "added": r.added,
        "amended": r.amended,
        "cancelled": r.cancelled,
        "held": r.held,
        "recoveries": r.recoveries,
        "recovery_amount": format_fen(r.recovery_amount),
        "recoveries_withdrawn": r.recoveries_withdrawn,
        "findings": r.findings,
    }


def approval_doc(a: Approval, run_id: str, by: str, chain_head: str | None) -> dict[str, Any]:
    """An approval: the run's payable and held payments, or (``releases``) the payments
    released since it was approved."""
    return {
        "run_id": run_id,
        "approved_by": by,
        "releases": a.releases,
        "payable": {"payments": a.payable.payments, "amount": format_fen(a.payable.amount)},
        "held": {"payments": a.held.payments, "amount": format_fen(a.held.amount)},
        "chain_head": chain_head,
    }


def summary_doc(s: ImportSummary) -> dict[str, Any]:
    """An import's summary (``import … --format json``)."""
    return dict(s.__dict__)


def summary_from(doc: dict[str, Any]) -> ImportSummary:
    from ledger.imports import ImportSummary

    return ImportSummary(**doc)


def end_deceased_doc(r: EndDeceasedResult) -> dict[str, Any]:
    """``cases end-deceased --format json``: the cases ended (or that would be), and those
    left for another caseworker."""
    return {
        "as_of": r.as_of.isoformat(),
        "dry_run": r.dry_run,
        "ended": [
            {
                "case_id": e.case_id,
                "program": e.program,
                "region_code": e.region_code,
                "date_of_death": e.date_of_death.isoformat(),
                "reported_by": e.reported_by,
                "effective_to": e.date_of_death.isoformat(),
                "household_to_reassess": e.household_to_reassess,
            }
            for e in r.ended
        ],
        "left": [{"case_id": c, "why": why} for c, why in r.left],
    }


def due_rows(due: Iterable[DueReview]) -> list[dict[str, Any]]:
    """``reviews due --format json``."""
    return [
        {
            "case_id": d.case_id,
            "program": d.program,
            "region_code": d.region_code,
            "last_review": d.last_review.isoformat() if d.last_review else None,
            "due": d.due.isoformat(),
            "days_overdue": d.days_overdue,
        }
        for d in due
    ]
