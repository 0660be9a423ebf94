"""An aggregate's first event built without the aggregate (`LedgerAggregate.first_event`, the
bulk paths: reconcile's and the review scan's findings, the prepare's holds) is exactly the
event the library's creation records: same class, same fields, the aggregate's first
version and topic."""

from __future__ import annotations

from typing import Any

from ledger.payment import Finding, finding_aggregate_id


def test_a_finding_raised_in_bulk_is_the_event_its_creation_records() -> None:
    fields: dict[str, Any] = {
        "by": "S001",
        "finding_id": "F-review-C001",
        "type": "review_overdue",
        "severity": "critical",  # a draft's own severity, not always its type's
        "period": "2026-12",
        "program": "dibao",
        "department": "civil_affairs",
        "region_code": "610102001001",
        "case_id": "C001",
        "payment_id": None,
        "amount": None,
        "detail": "review due 2026-11-01",
        "instructed_amount": 156000,
    }
    aggregate_id = finding_aggregate_id("F-review-C001")
    direct = Finding.first_event(Finding.Raised, aggregate_id, **fields)
    (made,) = Finding._create(Finding.Raised, id=aggregate_id, **fields).collect_events()
    assert type(direct) is type(made)
    assert direct.model_dump(exclude={"timestamp"}) == made.model_dump(exclude={"timestamp"})
    assert direct.originator_version == made.originator_version == 1
    # Applied, it makes the aggregate the creation makes.
    built = direct.mutate(None)
    assert (built.id, built.status, built.raised) == (aggregate_id, "open", direct)
