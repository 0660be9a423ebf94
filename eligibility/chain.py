"""The 阳光 decision chain as pure rules: an application's steps, in order, by the right people.

An application for assistance goes through: ``apply`` (申请), ``verify`` (核对: income and
assets), ``visit`` (入户调查), ``review`` (民主评议), ``township`` (乡镇审核), ``notice`` (公示),
then ``approve`` or ``reject`` (县级审批). An ``objection`` (异议) may come during the notice;
upheld, it sends the application back: a new ``review``, ``township`` and ``notice`` are needed
before it can be approved. ``reject`` may end an application at any step.

The rules (each refusal names its line and rule; nothing of the file is recorded):
- steps in this order, dated in order, none after the application ended;
- ``township`` by a caseworker, ``approve`` by an approver, two different people, both covering
  the case's region on the step's date;
- ``approve`` no earlier than ``notice_days`` days after the (last) ``notice``;
- nobody with an interest in the application takes any of its steps (回避).

Pure: the caller gives the application's steps so far, the staff register and the people and
accounts of the case; `check_step` gives the problems, `eligibility.applications` checks every
line of a steps file with them and `ledger.applications.Application` records the steps that pass.
Two rules beside `check_step`: a failed step ends the line (`only_reject_after_a_failure`), and
the steps with no role of their own are taken by someone who works cases (`taken_by_case_staff`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from ledger.duties import DutyRefused, StaffDirectory

#: The steps in order (``objection`` and ``reject`` are not in the line: see the module).
ORDER = ("apply", "verify", "visit", "review", "township", "notice", "approve")
STEPS = (*ORDER, "reject", "objection")
#: After an upheld objection, what must be done again before approval, in this order.
AGAIN = ("review", "township", "notice")
OUTCOMES = {
    "objection": ("upheld", "dismissed"),
    "verify": ("pass", "fail"),
    "visit": ("pass", "fail"),
    "review": ("pass", "fail"),
    "township": ("pass", "fail"),
}


@dataclass(frozen=True)
class Step:
    """One step of an application as a steps file gives it."""

    application_id: str
    case_id: str
    program: str
    step: str
    date: date
    staff_id: str
    outcome: str
    detail: str


@dataclass(frozen=True)
class Progress:
    """Where an application stands after its steps so far (what the next step may be)."""

    done: tuple[str, ...] = ()  # steps of the current round, in order
    last_date: date | None = None
    ended: str | None = None  # "approved" / "rejected"
    notice_on: date | None = None
    township_by: str | None = None
    objection_open: bool = False

    def after(self, step: Step) -> Progress:
        """The application once ``step`` is taken (assumed to pass `check_step`)."""
        done = (*self.done, step.step)
        notice_on, township_by, objection = self.notice_on, self.township_by, False
        if step.step == "objection" and step.outcome == "upheld":
            done = tuple(s for s in done if s not in (*AGAIN, "objection"))
            notice_on = None
        elif step.step == "notice":
            notice_on = step.date
        elif step.step == "township":
            township_by = step.staff_id
        ended = {"approve": "approved", "reject": "rejected"}.get(step.step)
        return Progress(done, step.date, ended, notice_on, township_by, objection)


def replay(steps: Sequence[Step]) -> Progress:
    progress = Progress()
    for s in steps:
        progress = progress.after(s)
    return progress


def next_expected(progress: Progress) -> str | None:
    """The step the line expects next (None once the line is done)."""
    for step in ORDER:
        if step not in progress.done:
            return step
    return None


def check_step(
    progress: Progress,
    step: Step,
    *,
    staff: StaffDirectory,
    region: str | None,
    interested: set[str],
    notice_days: int,
) -> list[str]:
    """Every rule ``step`` breaks, given the application's progress so far (empty: it may be
    taken). ``region``: the case's region if the case is known; ``interested``: the staff ids
    with an interest in the case (its people, its account)."""
    problems: list[str] = []
    if step.step not in STEPS:
        return [f"unknown step {step.step!r} (steps: {', '.join(STEPS)})"]
    allowed = OUTCOMES.get(step.step)
    if allowed and step.outcome not in allowed:
        problems.append(f"{step.step}'s outcome must be {' or '.join(allowed)}")
    if progress.ended:
        return [*problems, f"the application was already {progress.ended}"]
    if progress.last_date is not None and step.date < progress.last_date:
        problems.append(f"dated before the step before it ({progress.last_date.isoformat()})")
    if step.step == "apply" and progress.done:
        problems.append("the application was already made (apply comes once, first)")
    elif step.step == "objection":
        if progress.notice_on is None:
            problems.append("an objection comes during the notice (公示): there is no notice yet")
    elif step.step != "reject":
        expected = next_expected(progress)
        if step.step != expected:
            wanted = expected or "nothing more"
            problems.append(f"out of order: {step.step} where {wanted} comes next")
    if step.step == "approve" and progress.notice_on is not None:
        earliest = progress.notice_on + timedelta(days=notice_days)
        if step.date < earliest:
            problems.append(
                f"approved {(step.date - progress.notice_on).days} days after the notice of "
                f"{progress.notice_on.isoformat()}: the notice runs {notice_days} days "
                f"(approve from {earliest.isoformat()})"
            )
    problems += _actor_problems(progress, step, staff, region)
    if step.staff_id in interested:
        problems.append(
            f"{step.staff_id} has an interest in this application (the applicant or a "
            "household member is the staff member or a registered relative, or the account is "
            "their own): another staff member must take its steps (回避)"
        )
    return problems


def _actor_problems(
    progress: Progress, step: Step, staff: StaffDirectory, region: str | None
) -> list[str]:
    try:
        actor = staff.actor(step.staff_id, step.date)
    except DutyRefused as e:
        return [str(e)]
    roles = {
        "township": ("caseworker",),
        "approve": ("approver",),
        "reject": ("caseworker", "approver"),
    }.get(step.step)
    problems = []
    if roles is not None and not actor.holds(*roles):
        problems.append(
            f"{step.step} is by a {' or '.join(roles)}; {step.staff_id} was not one on {step.date}"
        )
    if step.step == "approve" and step.staff_id == progress.township_by:
        problems.append(
            f"{step.staff_id} took the township review: another person must approve (two people)"
        )
    if region is not None and not actor.covers(region):
        problems.append(
            f"the case's region {region} is outside {step.staff_id}'s region {actor.region}"
        )
    return problems


#: Who takes the steps that have no role of their own (apply, verify, visit, review, notice,
#: objection): someone who works cases.
CASE_STAFF = ("caseworker", "approver")


def only_reject_after_a_failure(done: Sequence[Step], step: Step) -> list[str]:
    """A failed step (``verify``, ``visit``, ``review`` or ``township`` with outcome ``fail``)
    ends the line: only ``reject`` may follow (the household applies again when its
    circumstances change), never a notice or an approval."""
    failed = next((s for s in done if s.outcome == "fail" and s.step in OUTCOMES), None)
    if failed is None or step.step == "reject":
        return []
    return [
        f"{failed.step} failed on {failed.date.isoformat()}: only reject may follow "
        "(a new application when the household's circumstances change)"
    ]


def taken_by_case_staff(staff: StaffDirectory, step: Step) -> list[str]:
    """A step with no role of its own is taken by a caseworker or an approver (not finance,
    an auditor or an admin), as they stood on its date."""
    if step.step not in STEPS or step.step in ("township", "approve", "reject"):
        return []
    try:
        actor = staff.actor(step.staff_id, step.date)
    except DutyRefused:
        return []  # check_step names it
    if actor.holds(*CASE_STAFF):
        return []
    return [
        f"{step.step} is by a caseworker or approver; {step.staff_id} was neither on "
        f"{step.date.isoformat()}"
    ]
