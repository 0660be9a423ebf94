"""Data comparison (核对): a case's household against its program's limits. Pure rules.

`compare` takes the cases of a month, the records other departments hold about their people
(holder and household members, `projections.households.persons_of_cases`) and each program's
rules from the programs config, and says, at most once per case and type, what a person must
look at:

- ``assets_over_limit``: the household's vehicles, real estate or deposits, each source summed
  over its people (a source's latest record per person and reference), above the program's
  limit for that source (``[programs.X.limits]``); a source in ``forbidden_sources`` has a limit
  of nothing at all.
- ``income_over_limit``: the household's monthly income (``income`` and ``social_insurance``
  records, the latest per person and reference) per person above ``limits.income_monthly``.
- ``business_registered``: a person of the household has a registered business and the
  program forbids it (``forbidden_sources`` holds ``business``).
- ``cross_department_duplicate``: a person of the household receives another department's
  benefit the program names in ``duplicates_with`` (``department:benefit``) in the month.
- ``moved_out``: a person's latest household registration (户籍) is outside the case's county.

Only records with ``as_of`` on or before the day compared as of count: a record learnt later
changes nothing about what was known then. Each hit carries the record that explains it
(``source``, ``source_ref``, ``value``, ``limit``) and an ``evidence`` key: the same evidence
found again is the same finding, never a second one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from ledger.comparison_terms import COMPARISON_FINDINGS, LIMIT_KEYS
from ledger.ids import mask_id_number
from ledger.masking import mask_reference
from ledger.money import format_fen

__all__ = ["COMPARISON_FINDINGS", "LIMIT_KEYS", "CaseFacts", "Hit", "Record", "Rules", "compare"]

#: Asset sources, each judged against the limit of its name (``[programs.X.limits]``).
ASSET_SOURCES = ("vehicle", "real_estate", "deposit")
#: Sources whose values are monthly income.
INCOME_SOURCES = ("income", "social_insurance")


class Record(NamedTuple):
    """One record of a source about one person (see `ledger.comparison.ComparisonRecord`);
    a named tuple: a province's compare reads ten million."""

    source: str
    id_number: str
    source_ref: str
    as_of: date
    value: str
    amount: int | None = None
    detail: str = ""
    until: date | None = None


@dataclass(frozen=True)
class CaseFacts:
    """A case compared: its program and region, and its people in effect (holder first)."""

    case_id: str
    program: str
    region_code: str
    persons: frozenset[str]


@dataclass(frozen=True)
class Rules:
    """What a program's config says comparison judges (limits in fen)."""

    limits: Mapping[str, int] = field(default_factory=dict)
    forbidden_sources: frozenset[str] = frozenset()
    duplicates_with: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Hit:
    """What one case's household shows, with the record that explains it."""

    type: str
    case_id: str
    source: str
    source_ref: str
    value: str
    limit: str | None
    detail: str
    evidence: str


def latest(records: Iterable[Record]) -> list[Record]:
    """Each person's latest record per source and reference (a source's newer record about the
    same thing supersedes the older one)."""
    best: dict[tuple[str, str, str], Record] = {}
    for r in records:
        key = (r.source, r.id_number, r.source_ref)
        if key not in best or r.as_of > best[key].as_of:
            best[key] = r
    return sorted(best.values(), key=lambda r: (r.source, r.id_number, r.source_ref, r.as_of))


def _evidence(found: Sequence[Record]) -> str:
    return ";".join(f"{r.source}:{r.source_ref}:{r.as_of.isoformat()}" for r in found)


def _over(
    case: CaseFacts, type_: str, source: str, found: list[Record], total: int, limit: int, what: str
) -> Hit:
    top = max(found, key=lambda r: r.amount or 0)
    return Hit(
        type_,
        case.case_id,
        source,
        top.source_ref,
        format_fen(total),
        format_fen(limit),
        f"{what} {format_fen(total)} above the limit {format_fen(limit)} of {case.program} "
        f"({len(found)} record(s), the largest {mask_reference(top.source_ref)} of "
        f"{mask_id_number(top.id_number)} as of {top.as_of.isoformat()})",
        _evidence(found),
    )


def check_assets(case: CaseFacts, records: Sequence[Record], rules: Rules) -> Hit | None:
    """``assets_over_limit``: the first asset source whose household total is above its limit
    (a forbidden source: above nothing)."""
    for source in ASSET_SOURCES:
        limit = 0 if source in rules.forbidden_sources else rules.limits.get(source)
        if limit is None:
            continue
        found = [r for r in records if r.source == source]
        total = sum(r.amount or 0 for r in found)
        if found and (total > limit or (limit == 0 and source in rules.forbidden_sources)):
            return _over(
                case, "assets_over_limit", source, found, total, limit, f"household {source}"
            )
    return None


def check_income(case: CaseFacts, records: Sequence[Record], rules: Rules) -> Hit | None:
    """``income_over_limit``: monthly income per person of the household above the limit."""
    limit = rules.limits.get("income_monthly")
    if limit is None:
        return None
    found = [r for r in records if r.source in INCOME_SOURCES]
    if not found:
        return None
    per_person = sum(r.amount or 0 for r in found) // max(1, len(case.persons))
    if per_person <= limit:
        return None
    top = max(found, key=lambda r: r.amount or 0)
    return _over(
        case,
        "income_over_limit",
        top.source,
        found,
        per_person,
        limit,
        f"monthly income per person ({len(case.persons)} person(s))",
    )


def check_business(case: CaseFacts, records: Sequence[Record], rules: Rules) -> Hit | None:
    """``business_registered``: a registered business where the program forbids one."""
    if "business" not in rules.forbidden_sources:
        return None
    found = [r for r in records if r.source == "business"]
    if not found:
        return None
    r = found[0]
    return Hit(
        "business_registered",
        case.case_id,
        "business",
        r.source_ref,
        r.value,
        None,
        f"{mask_id_number(r.id_number)} has a registered business "
        f"{mask_reference(r.source_ref)} (as of {r.as_of.isoformat()}); {case.program} does not "
        "allow one" + (f"; {len(found)} in the household" if len(found) > 1 else ""),
        _evidence(found),
    )


def check_other_benefits(
    case: CaseFacts, records: Sequence[Record], rules: Rules, first: date, last: date
) -> Hit | None:
    """``cross_department_duplicate``: another department's benefit that duplicates the
    program, paid to a person of the household some day from ``first`` to ``last``."""
    found = [
        r
        for r in records
        if r.source == "other_benefit"
        and r.source_ref in rules.duplicates_with
        and r.as_of <= last
        and (r.until is None or r.until >= first)
    ]
    if not found:
        return None
    r = found[0]
    return Hit(
        "cross_department_duplicate",
        case.case_id,
        "other_benefit",
        r.source_ref,
        r.value,
        None,
        f"{mask_id_number(r.id_number)} also receives {r.source_ref} ({r.value} a month from "
        f"{r.as_of.isoformat()}), which duplicates {case.program}",
        _evidence(found),
    )


def check_moved_out(case: CaseFacts, records: Sequence[Record]) -> Hit | None:
    """``moved_out``: a person's latest household registration is outside the case's county."""
    newest: dict[str, Record] = {}
    for r in records:
        if r.source == "household_registration" and (
            r.id_number not in newest or r.as_of > newest[r.id_number].as_of
        ):
            newest[r.id_number] = r
    county = case.region_code[:6]
    away = [r for _, r in sorted(newest.items()) if not r.value.startswith(county)]
    if not away:
        return None
    r = away[0]
    return Hit(
        "moved_out",
        case.case_id,
        "household_registration",
        r.source_ref,
        r.value,
        None,
        f"{mask_id_number(r.id_number)} is registered in {r.value} since {r.as_of.isoformat()}, "
        f"outside the case's county {county}",
        _evidence(away),
    )


def compare_case(
    case: CaseFacts,
    records: Iterable[Record],
    rules: Rules,
    *,
    first: date,
    last: date,
    as_of: date,
) -> list[Hit]:
    """What one case's household shows in the month ``first``..``last``, from the records
    known on ``as_of``: at most one hit of each type."""
    mine = latest(r for r in records if r.id_number in case.persons and r.as_of <= as_of)
    if not mine:
        return []
    found = [
        check_assets(case, mine, rules),
        check_income(case, mine, rules),
        check_business(case, mine, rules),
        check_other_benefits(case, mine, rules, first, last),
        check_moved_out(case, mine),
    ]
    return [h for h in found if h is not None]


def compare(
    cases: Iterable[CaseFacts],
    records: Iterable[Record],
    rules: Mapping[str, Rules],
    *,
    first: date,
    last: date,
    as_of: date,
) -> list[Hit]:
    """`compare_case` for every case (records matched to cases by person)."""
    by_person: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_person[r.id_number].append(r)
    out: list[Hit] = []
    for case in cases:
        mine = [r for p in sorted(case.persons) for r in by_person.get(p, ())]
        out += compare_case(
            case, mine, rules.get(case.program, Rules()), first=first, last=last, as_of=as_of
        )
    return out


def worth_raising(
    hits: Iterable[Hit],
    open_types: dict[str, set[str]],
    known: set[str],
    key: Callable[[Hit], str],
) -> list[Hit]:
    """The hits to raise: not when the case already has an open finding of the type (once per
    case), nor when the same evidence was raised before (``known``: ``key(hit)`` of every
    finding raised, whatever became of it: one resolved as a false positive stays so)."""
    out = []
    for h in hits:
        if h.type in open_types.get(h.case_id, set()):
            continue
        k = key(h)
        if k in known:
            continue
        known.add(k)
        open_types.setdefault(h.case_id, set()).add(h.type)
        out.append(h)
    return out
