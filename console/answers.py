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
    from disbursement.runs import Approval, PrepareResult
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
