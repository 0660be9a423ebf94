"""The words of data comparison (核对): its sources, columns, finding types and limits.

Kept apart from `ledger.comparison` (its events) so the command line and the programs config
read them without building the event classes.
"""

from __future__ import annotations

#: Every source a comparison file may come from.
SOURCES = (
    "vehicle",
    "business",
    "real_estate",
    "deposit",
    "income",
    "social_insurance",
    "household_registration",
    "other_benefit",
)
#: Sources of which any record may disqualify (``forbidden_sources``).
FORBIDDABLE_SOURCES = ("vehicle", "business", "real_estate", "deposit")
#: Sources whose ``value`` is money (yuan): an asset's worth, or a monthly income.
MONEY_SOURCES = frozenset({"vehicle", "real_estate", "deposit", "income", "social_insurance"})
#: The columns of a comparison file, and of an ``other_benefit`` one.
COMPARISON_COLUMNS: tuple[str, ...] = ("id_number", "source_ref", "as_of", "value", "detail")
OTHER_BENEFIT_COLUMNS: tuple[str, ...] = (
    "id_number",
    "department",
    "benefit",
    "monthly_amount",
    "from",
    "to",
)
#: The finding types comparison raises (`eligibility.comparison`), in the order judged.
COMPARISON_FINDINGS = (
    "assets_over_limit",
    "income_over_limit",
    "business_registered",
    "cross_department_duplicate",
    "moved_out",
)
#: Finding types a program's ``hold_on`` may name: found without a payment, before one.
HOLDABLE_FINDINGS = (*COMPARISON_FINDINGS, "household_size_mismatch")
#: Limits a program may set in ``[programs.X.limits]`` (yuan strings).
LIMIT_KEYS = ("vehicle", "real_estate", "deposit", "income_monthly")
#: Records per event of a comparison file.
CHUNK = 5000
