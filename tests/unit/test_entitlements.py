"""What a case is owed (`disbursement.entitlements`), as pure rules: the mid-month rules,
arrears and recoveries month by month, however many times a month's decision changes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from disbursement.entitlements import NOTHING_PAID, PaidSoFar, dues, entitled
from ledger.case import CaseState
from ledger.period import Period

P = Period.parse
FIRST = P("2026-01")
NOW = P("2026-08")


@dataclass
class Terms:
    """A case's terms month by month (amount 0: not in effect that month)."""

    amounts: dict[Period, int]

    @property
    def start(self) -> date:
        months = [m for m, a in self.amounts.items() if a > 0]
        return min(months).first_day if months else NOW.last_day

    @property
    def end(self) -> date | None:
        months = [m for m, a in self.amounts.items() if a > 0]
        return max(months).last_day if months else NOW.first_day

    def terms_on(self, day: date) -> CaseState:
        amount = self.amounts.get(Period.of(day), 0)
        return CaseState(
            "C1", "dibao", "610102001001", "王秀兰", "610102195001010011", 1, amount,
            day, None, "6228480000000000011", "王秀兰", "S001", "S002", self.start,
        )  # fmt: skip


@dataclass
class Ledger:
    """What has been instructed, sent and asked back, as the runs would record it."""

    instructed: dict[tuple[Period, str], int] = field(default_factory=lambda: defaultdict(int))
    arrears: dict[Period, int] = field(default_factory=lambda: defaultdict(int))
    recovered: dict[Period, tuple[int, int]] = field(default_factory=dict)

    def paid(self) -> PaidSoFar:
        sent: dict[Period, int] = defaultdict(int)
        for (month, _), amount in self.instructed.items():
            sent[month] += amount
        return PaidSoFar(
            dict(self.instructed), dict(sent), dict(self.recovered), dict(self.arrears)
        )

    def run(self, terms: Terms, period: Period) -> tuple[list[object], list[object]]:
        """Prepare ``period`` for these terms, approve and send it all."""
        pays, recs = dues(
            terms, period=period, rule="first_day", first_period=FIRST, paid=self.paid()
        )
        for due in pays:
            self.instructed[(due.period, due.kind)] += due.amount
            if due.kind == "arrears":
                self.arrears[due.period] += 1
        for rec in recs:
            asked, n = self.recovered.get(rec.period, (0, 0))
            self.recovered[rec.period] = (asked + rec.amount, n + 1)
        return list(pays), list(recs)


def net(ledger: Ledger, month: Period) -> int:
    sent = sum(a for (m, _), a in ledger.instructed.items() if m == month)
    return sent - ledger.recovered.get(month, (0, 0))[0]


def test_the_mid_month_rules() -> None:
    t = Terms({P("2026-03"): 100000})
    march = P("2026-03")
    assert entitled(t, march, "first_day") == 100000
    assert entitled(t, P("2026-04"), "first_day") == 0


def test_a_second_back_dated_increase_is_paid_as_a_second_arrears() -> None:
    """November 1560.00 paid; raised to 1700.00, then 1800.00: 140.00, then 100.00 more."""
    ledger = Ledger()
    month = P("2026-02")
    ledger.run(Terms({month: 156000}), P("2026-02"))
    pays, _ = ledger.run(Terms({month: 170000}), P("2026-03"))
    assert [(d.kind, d.amount, d.n) for d in pays] == [("arrears", 14000, 1)]  # type: ignore[attr-defined]
    pays, _ = ledger.run(Terms({month: 180000}), P("2026-04"))
    assert [(d.kind, d.amount, d.n) for d in pays] == [("arrears", 10000, 2)]  # type: ignore[attr-defined]
    assert net(ledger, month) == 180000


def test_a_termination_after_a_decrease_asks_back_the_rest() -> None:
    """1560.00 paid; decreased to 1000.00 (560.00 asked back); then ended: 1000.00 more."""
    ledger = Ledger()
    month = P("2026-02")
    ledger.run(Terms({month: 156000}), P("2026-02"))
    _, recs = ledger.run(Terms({month: 100000}), P("2026-03"))
    assert [(r.amount, r.n, r.reason) for r in recs] == [(56000, 1, "decreased")]  # type: ignore[attr-defined]
    _, recs = ledger.run(Terms({month: 0}), P("2026-04"))
    assert [(r.amount, r.n, r.reason) for r in recs] == [(100000, 2, "terminated")]  # type: ignore[attr-defined]
    assert net(ledger, month) == 0
    assert ledger.run(Terms({month: 0}), P("2026-05")) == ([], [])


def test_a_month_owed_again_after_its_recovery_is_paid_again() -> None:
    ledger = Ledger()
    month = P("2026-02")
    ledger.run(Terms({month: 208000}), P("2026-02"))
    ledger.run(Terms({month: 0}), P("2026-03"))
    pays, recs = ledger.run(Terms({month: 208000}), P("2026-04"))
    assert ([(d.kind, d.amount) for d in pays], recs) == ([("arrears", 208000)], [])  # type: ignore[attr-defined]
    assert net(ledger, month) == 208000


def test_nothing_before_the_first_run_and_never_twice() -> None:
    t = Terms({P("2025-11"): 50000, P("2025-12"): 50000, P("2026-01"): 50000})
    pays, _ = dues(t, period=P("2026-02"), rule="first_day", first_period=FIRST, paid=NOTHING_PAID)
    assert [(str(d.period), d.kind) for d in pays] == [("2026-01", "arrears")]


amounts = st.sampled_from([0, 0, 50000, 100000, 156000, 180000])
months = [P("2026-01"), P("2026-02"), P("2026-03"), P("2026-04")]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(*[amounts] * len(months)), min_size=1, max_size=6))
def test_after_every_run_each_month_has_exactly_what_it_is_owed(
    decisions: list[tuple[int, ...]],
) -> None:
    """However a case's past months change between runs, each run pays the difference or asks
    it back, so that after it every month's net (sent less asked back) is what it is owed, and
    a run prepared again with nothing changed has nothing to do."""
    ledger = Ledger()
    period = P("2026-05")
    for decided in decisions:
        terms = Terms(dict(zip(months, decided, strict=True)))
        ledger.run(terms, period)
        for month in months:
            assert net(ledger, month) == entitled(terms, month, "first_day"), month
        assert ledger.run(terms, period) == ([], [])
        period = period.next()
