"""The metrics `aidledger serve` exposes: names, kinds, labels. The alert rules and the Grafana
dashboard in `deploy/` are tested against this table, and the exporter against what it serves.

No label carries personal data: labels are finding types, severities, program codes,
department names, periods, job names, payment states and complaint categories.
"""

from __future__ import annotations

from typing import NamedTuple


class MetricSpec(NamedTuple):
    kind: str  # "gauge" | "counter"
    help: str
    labels: tuple[str, ...]


FINDING_LABELS = ("type", "severity", "program", "department", "period")
PAYMENT_LABELS = ("period", "program", "state")
# Payment states in aidledger_payments / aidledger_payments_amount_fen:
#   scheduled  in an approved (or released/exported) payout run, whatever the bank said since
#   executed   the bank reports it credited
#   returned   the bank credited it and the money came back, or reported it returned
#   rejected   the bank refused it (pain.002 RJCT, CSV failure)
#   pending    scheduled and no bank result yet
#   held       kept out of the bank file by a pre-payment check
PAYMENT_STATES = ("scheduled", "executed", "returned", "rejected", "pending", "held")
# Scheduled jobs, the `task` label of aidledger_last_success_timestamp_seconds and
# aidledger_job_runs_total (not `job`: Prometheus gives every series the scrape job's `job`):
JOBS = ("payout_run", "bank_import", "reconciliation", "projection_catch_up", "run_reminder")

METRICS: dict[str, MetricSpec] = {
    "aidledger_findings_open": MetricSpec(
        "gauge",
        "Findings not yet resolved, by type, severity, program and department.",
        FINDING_LABELS,
    ),
    "aidledger_findings_open_amount_fen": MetricSpec(
        "gauge", "Amount (fen) of the payments behind open findings.", FINDING_LABELS
    ),
    "aidledger_payments": MetricSpec(
        "gauge", "Payments of approved runs per period, program and state.", PAYMENT_LABELS
    ),
    "aidledger_payments_amount_fen": MetricSpec(
        "gauge",
        "Amount (fen) of payments of approved runs per period, program and state.",
        PAYMENT_LABELS,
    ),
    "aidledger_projection_lag_events": MetricSpec(
        "gauge", "Events in the log that a read model has not applied yet.", ("projection",)
    ),
    "aidledger_event_log_head": MetricSpec(
        "gauge", "Notification id of the newest stored event.", ()
    ),
    "aidledger_last_success_timestamp_seconds": MetricSpec(
        "gauge",
        "Unix time of the last successful payout run approval, bank import, reconciliation, "
        "projection catch-up or run reminder check.",
        ("task",),
    ),
    "aidledger_job_runs_total": MetricSpec(
        "counter", "Scheduled job runs in this process by outcome (ok, error).", ("task", "outcome")
    ),
    "aidledger_scheduler_leader": MetricSpec(
        "gauge", "1 when this process holds the scheduler lock and runs the jobs, else 0.", ()
    ),
    "aidledger_complaints_open": MetricSpec(
        "gauge", "Complaints (举报投诉) not yet resolved, by category.", ("category",)
    ),
    "aidledger_complaints_overdue": MetricSpec(
        "gauge",
        "Complaints not resolved and without a reply past their due day, by category.",
        ("category",),
    ),
    "aidledger_store_up": MetricSpec(
        "gauge",
        "1 when this process's last metrics refresh read the store, else 0 (unreachable, or "
        "no store yet); the store's metrics then keep the last values read.",
        (),
    ),
}

# Finding types beyond the twelve of reconciliation: raised by the scheduled reminder when a
# program's run for a period is not approved `approval_reminder_days` before its payment day.
REMINDER_FINDING_TYPE = "payout_run_late"
# Raised by reconcile and the daily job when a verification request to another department is
# unanswered after its due day (counted in aidledger_findings_open like any finding).
VERIFICATION_FINDING_TYPE = "verification_overdue"
# Raised when a fraud or favouritism complaint is resolved as (partly) substantiated.
COMPLAINT_FINDING_TYPE = "complaint_substantiated"
