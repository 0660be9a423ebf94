"""A deterministic synthetic county: staff, cases, deaths, and planted anomalies.

Used by ``aidledger demo``, the tests and the benchmarks. Everything comes from
``random.Random`` seeded with text built from ``seed`` and ``county`` (text seeds are hashed
with SHA-512, so the output is the same on every machine and every run). No I/O happens except
in :func:`write_csv`.

One-off relief (临时救助, ``temporary``) is granted, not a case: a county of ``cases`` cases has
those cases and, beside them, the grants its people were given (``County.grants``, the rows of
a grants file), some 6 % as many.

The generated population is clean by construction: every person has their own id number and
their own bank account, nobody is in two cases, no staff member appears among beneficiaries, and
a beneficiary who died before ``start`` has had the case closed at the end of the month of
death. Deaths after ``start`` are left open on purpose: finding them is the ledger's job. The
anomalies of :data:`ANOMALIES` exist only where :func:`generate_county` planted them, and
``County.seeded`` says where.
"""

from __future__ import annotations

import csv
import math
import random
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import accumulate, count
from pathlib import Path

from ledger.ids import id_check_char
from ledger.money import format_fen
from ledger.programs import load_programs

STAFF_COLUMNS: tuple[str, ...] = (
    "staff_id",
    "name",
    "id_number",
    "bank_account",
    "role",
    "region_code",
)
CASE_COLUMNS: tuple[str, ...] = (
    "case_id",
    "program",
    "region_code",
    "name",
    "id_number",
    "household_size",
    "monthly_amount",
    "effective_from",
    "effective_to",
    "bank_account",
    "account_name",
    "decided_by",
    "approved_by",
)
DEATH_COLUMNS: tuple[str, ...] = ("id_number", "date_of_death", "source")
GRANT_COLUMNS: tuple[str, ...] = (
    "grant_id",
    "program",
    "region_code",
    "name",
    "id_number",
    "household_size",
    "amount",
    "decided_on",
    "reason",
    "bank_account",
    "account_name",
    "decided_by",
    "approved_by",
)
#: Why one-off relief is granted (the grants file's ``reason``).
GRANT_REASONS: tuple[str, ...] = (
    "因病住院医疗费用负担过重",
    "房屋失火",
    "遭遇交通事故",
    "突发重大疾病",
    "自然灾害受损",
    "子女就学费用负担过重",
)

#: The anomalies :func:`generate_county` plants, the keys of ``County.seeded``.
ANOMALIES: tuple[str, ...] = (
    "dead_before_start",
    "dibao_and_tekun",
    "two_cases_one_program",
    "shared_account",
    "staff_account",
    "staff_relative",
)

#: The roles of the first staff members, one each, in staff id order (S0001 the admin who
#: imports the staff file, S0002 a county caseworker who imports the cases, ...); the
#: others are drawn from `_LATER_ROLES`.
ROLES: tuple[str, ...] = (
    "admin",
    "caseworker",
    "approver",
    "finance",
    "finance_approver",
    "supervisor",
    "auditor",
    "caseworker",  # a township's
    "finance_approver",
    "supervisor",
    "approver",
    "caseworker",
)
ADMIN, CASEWORKER, APPROVER, FINANCE, FINANCE_APPROVER, SUPERVISOR, AUDITOR = (
    f"S{i:04d}" for i in range(1, 8)
)
#: The second finance approver, supervisor, approver and county caseworker (four eyes and
#: 回避 need two of each).
FINANCE_APPROVER_2, SUPERVISOR_2, APPROVER_2, CASEWORKER_2 = "S0009", "S0010", "S0011", "S0012"
_LATER_ROLES: tuple[str, ...] = ("caseworker", "approver", "finance", "finance_approver", "auditor")

# Program mix of a typical county (share of cases).
_PROGRAM_MIX: tuple[tuple[str, float], ...] = (
    ("dibao", 0.55),
    ("tekun", 0.08),
    ("elderly", 0.15),
    ("disability_living", 0.08),
    ("disability_care", 0.06),
    ("orphan", 0.02),
    ("temporary", 0.06),
)

# Amounts in fen. The dibao standard is a city's urban standard (780 yuan a month per person).
_DIBAO_STANDARD = 78_000
_TEKUN_BASIC = _DIBAO_STANDARD * 13 // 10  # basic living at 1.3x the dibao standard
_TEKUN_CARE = (7_800, 23_400, 46_800)  # care tiers: self-reliant, partly, fully dependent
_ELDERLY = (10_000, 20_000, 50_000)  # aged 80-89, 90-99, 100 and over
_DISABILITY_LIVING = (9_000, 10_000, 11_000)
_DISABILITY_CARE = (8_000, 10_000)  # disability grade 2, grade 1
_ORPHAN = (140_000, 180_000)  # scattered, in an institution

# Common surnames, weighted by their approximate share of the population (per mille).
_SURNAMES: tuple[tuple[str, int], ...] = (
    ("王", 71),
    ("李", 70),
    ("张", 67),
    ("刘", 54),
    ("陈", 45),
    ("杨", 31),
    ("赵", 23),
    ("黄", 22),
    ("周", 21),
    ("吴", 20),
    ("徐", 17),
    ("孙", 15),
    ("胡", 13),
    ("朱", 13),
    ("高", 12),
    ("林", 12),
    ("何", 12),
    ("郭", 12),
    ("马", 11),
    ("罗", 9),
    ("梁", 8),
    ("宋", 7),
    ("郑", 7),
    ("谢", 6),
    ("韩", 6),
    ("唐", 6),
    ("冯", 6),
    ("于", 5),
    ("董", 5),
    ("肖", 5),
    ("程", 5),
    ("曹", 5),
    ("袁", 5),
    ("邓", 5),
    ("许", 5),
    ("傅", 4),
    ("沈", 4),
    ("曾", 4),
    ("彭", 4),
    ("吕", 4),
    ("苏", 4),
    ("卢", 4),
    ("蒋", 4),
    ("蔡", 4),
    ("贾", 4),
    ("丁", 3),
    ("魏", 3),
    ("薛", 3),
    ("叶", 3),
    ("闫", 3),
    ("余", 3),
    ("潘", 3),
    ("杜", 3),
    ("戴", 3),
    ("夏", 3),
    ("钟", 3),
    ("汪", 3),
    ("田", 3),
    ("任", 3),
    ("姜", 3),
    ("范", 3),
    ("方", 3),
    ("石", 3),
    ("姚", 3),
    ("谭", 3),
    ("廖", 3),
    ("邹", 2),
    ("熊", 2),
    ("金", 2),
    ("陆", 2),
    ("郝", 2),
    ("孔", 2),
    ("白", 2),
    ("崔", 2),
    ("康", 2),
    ("毛", 2),
    ("邱", 2),
    ("秦", 2),
    ("江", 2),
    ("史", 2),
    ("顾", 2),
    ("侯", 2),
    ("邵", 2),
    ("孟", 2),
    ("龙", 2),
    ("万", 2),
    ("段", 2),
    ("雷", 2),
    ("钱", 2),
    ("汤", 2),
    ("尹", 2),
    ("常", 2),
    ("武", 2),
    ("乔", 2),
    ("贺", 2),
    ("龚", 2),
    ("文", 2),
    ("党", 1),
    ("屈", 1),
    ("寇", 1),
    ("同", 1),
)
_MALE_CHARS = (
    "伟强军建国明平刚勇峰华涛斌磊辉林文杰海波志亮宏兵鹏飞俊超成德福生忠兴学全永春山富贵荣安"
    "新利东祥保宝喜锋健龙虎庆根发有金顺才民红卫江武义振"
)
_FEMALE_CHARS = (
    "秀英兰芳娟霞敏静丽艳娜玲燕梅红桂华凤琴萍云珍莲玉婷雪慧洁琳月花翠菊香琼淑爱彩荣巧丹妮倩晶梦佳"
)
_BANK_PREFIXES = ("6228", "6228", "6228", "6217", "6217", "6222", "6222", "6212", "6214", "6221")
_DEATH_SOURCES = (
    ("公安人口库比对", 0.8),
    ("殡葬火化数据比对", 0.15),
    ("卫健死亡医学证明比对", 0.05),
)

# Disjoint index spaces for bank accounts, so that accounts can never collide by accident.
_ACCOUNTS_BENEFICIARY = 0
_ACCOUNTS_HEAD = 10**12
_ACCOUNTS_STAFF = 2 * 10**12
_ACCOUNTS_EXTRA = 3 * 10**12
_HALF = 10**7  # the 14 unique digits are two halves of 7, shuffled by a Feistel network

# Id-number sequence digits: beneficiaries use 000-899 and staff 900-999, so a staff member's
# id number can only match a beneficiary's where one is planted.
_SEQ_BENEFICIARY = 0
_SEQ_STAFF = 450
_SEQ_LIMIT_BENEFICIARY = 450
_SEQ_LIMIT_STAFF = 500

# Staff birth dates are relative to a fixed day, so staff rows do not depend on ``start``.
_STAFF_REFERENCE = date(2026, 1, 1)
_COUNTY = re.compile(r"^\d{6}$")

# Luhn: each digit pair's contribution when the second digit of the pair is doubled.
_LUHN_PAIRS = {f"{a}{b}": a + (2 * b if b < 5 else 2 * b - 9) for a in range(10) for b in range(10)}


@dataclass(frozen=True)
class County:
    """A generated county: the rows of its input files and the anomalies planted."""

    staff: list[dict[str, str]]
    cases: list[dict[str, str]]
    deaths: list[dict[str, str]]
    seeded: dict[str, list[str]]
    #: One-off relief granted to its people (rows of a grants file, `GRANT_COLUMNS`).
    grants: list[dict[str, str]] = field(default_factory=list)


def generate_county(
    *,
    cases: int,
    seed: int = 7,
    county: str = "610102",
    start: date = date(2026, 1, 1),
    frauds: bool = True,
) -> County:
    """A county of ``cases`` cases, its staff and its deaths feed, the same for the same arguments.

    With ``frauds`` a handful of each anomaly in :data:`ANOMALIES` is planted by changing
    existing cases (the number of cases stays ``cases``); ``County.seeded`` lists the case ids
    involved in each, every case of a pair or group included (``dibao_and_tekun`` as tekun,
    dibao pairs; ``two_cases_one_program`` as pairs). Only cases open and in effect at ``start``
    are used, and apart from the planted ones the county has none of these anomalies. Raises
    ``ValueError`` when there are too few cases to plant them (a few dozen suffice). Without
    ``frauds`` the cases are exactly those of :func:`iter_case_rows` for the same arguments.
    """
    _check_arguments(cases, county)
    staff = staff_rows_for(cases, seed, county)
    factory = _CaseFactory(cases=cases, seed=seed, county=county, start=start, staff=staff)
    rows: list[dict[str, str]] = []
    deaths: list[dict[str, str]] = []
    for row, death in factory.rows():
        rows.append(row)
        if death is not None:
            deaths.append(death)
    seeded: dict[str, list[str]] = {name: [] for name in ANOMALIES}
    if frauds:
        _Planter(factory, rows, deaths, staff, seeded).plant()
    deaths.extend(factory.unrelated_deaths(max(2, cases // 200)))
    deaths.sort(key=lambda d: (d["date_of_death"], d["id_number"]))
    return County(
        staff=staff,
        cases=[r for r in rows if r["program"] != "temporary"],
        deaths=deaths,
        seeded=seeded,
        grants=[grant_row(r) for r in rows if r["program"] == "temporary"],
    )


def grant_row(row: dict[str, str]) -> dict[str, str]:
    """The grant of one-off relief a generated ``temporary`` row stands for: its amount, once,
    decided on its first day (``G`` and the row's number for its id)."""
    number = row["case_id"][1:]
    return {
        "grant_id": f"G{number}",
        "program": row["program"],
        "region_code": row["region_code"],
        "name": row["name"],
        "id_number": row["id_number"],
        "household_size": row["household_size"],
        "amount": row["monthly_amount"],
        "decided_on": row["effective_from"],
        "reason": GRANT_REASONS[int(number[-6:]) % len(GRANT_REASONS)],
        "bank_account": row["bank_account"],
        "account_name": row["account_name"],
        "decided_by": row["decided_by"],
        "approved_by": row["approved_by"],
    }


def iter_case_rows(
    *, cases: int, seed: int = 7, county: str = "610102", start: date = date(2026, 1, 1)
) -> Iterator[dict[str, str]]:
    """Stream the case rows of a county without anomalies, one dict at a time.

    The rows equal ``generate_county(..., frauds=False).cases`` for the same arguments, and their
    staff ids are those of :func:`staff_rows_for`; memory stays flat however many are asked for.
    """
    _check_arguments(cases, county)
    staff = staff_rows_for(cases, seed, county)
    factory = _CaseFactory(cases=cases, seed=seed, county=county, start=start, staff=staff)
    for row, _death in factory.rows():
        if row["program"] != "temporary":
            yield row


def staff_rows_for(cases: int, seed: int = 7, county: str = "610102") -> list[dict[str, str]]:
    """The staff rows of a county of ``cases`` cases: ``max(len(ROLES), cases // 400)`` people.

    The first seven hold one role each, in the order of :data:`ROLES` (``S0001`` the admin,
    ``S0002`` a county caseworker, ... :data:`CASEWORKER` and the others name them); later
    caseworkers sit in a township office (a 9-digit region), the others at the county.
    """
    _check_arguments(cases, county)
    rng = random.Random(f"aidaidledger.synthetic/{seed}/{county}/staff")
    townships = _regions(seed, county)
    namer = _Namer(rng)
    ids = _IdAllocator(county, _SEQ_STAFF, _SEQ_LIMIT_STAFF)
    ref = _STAFF_REFERENCE.toordinal()
    oldest, youngest = ref - 60 * 366, ref - 22 * 366  # working age, 22 to 60
    weights = (0.6, 0.15, 0.1, 0.08, 0.07)
    rows = []
    for i in range(max(len(ROLES), cases // 400)):
        role = ROLES[i] if i < len(ROLES) else rng.choices(_LATER_ROLES, weights)[0]
        male = rng.random() < 0.5
        born = rng.randint(oldest, youngest)
        # Later caseworkers sit in a township office (its 9-digit code: their region).
        township_office = role == "caseworker" and (i == 7 or i >= len(ROLES))
        region = rng.choice(townships)[0] if township_office else county
        rows.append(
            {
                "staff_id": f"S{i + 1:04d}",
                "name": namer.name(male),
                "id_number": ids.allocate(born, male, oldest, youngest),
                "bank_account": _bank_account(
                    _ACCOUNTS_STAFF + i, rng.choice(_BANK_PREFIXES), seed
                ),
                "role": role,
                "region_code": region,
            }
        )
    return rows


def write_csv(
    path: Path,
    rows: Iterable[dict[str, str]],
    columns: Sequence[str],
    *,
    encoding: str = "utf-8",
) -> int:
    """Write ``rows`` as CSV with a header of ``columns``; return the number of data rows.

    ``encoding`` may be anything Python knows, e.g. ``"gb18030"`` or ``"utf-8-sig"`` (with BOM),
    as bureaus' older systems produce. A row missing a column raises ``KeyError``.
    """
    count = 0
    with Path(path).open("w", encoding=encoding, newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row[c] for c in columns])
            count += 1
    return count


def _check_arguments(cases: int, county: str) -> None:
    if isinstance(cases, bool) or not isinstance(cases, int) or cases < 0:
        raise ValueError("cases must be a whole number, 0 or more")
    if not isinstance(county, str) or not _COUNTY.match(county):
        raise ValueError("county must be a 6-digit region code")


def _regions(seed: int, county: str) -> list[tuple[str, list[str]]]:
    """Townships (9-digit codes) with their villages (12-digit codes), about 15 x 10."""
    rng = random.Random(f"aidaidledger.synthetic/{seed}/{county}/regions")
    townships = []
    for t in range(1, rng.randint(12, 18) + 1):
        code = f"{county}{t:03d}"
        townships.append((code, [f"{code}{v:03d}" for v in range(1, rng.randint(6, 14) + 1)]))
    return townships


def _bank_account(index: int, prefix: str, seed: int) -> str:
    """A 19-digit card number: bank prefix, 14 digits unique per index, Luhn check digit."""
    # A Feistel network is a bijection whatever its round function: distinct indexes (below
    # 10**14) give distinct digits, which still look random from one index to the next.
    left, right = divmod(index, _HALF)
    for key in (seed * 7_919 + 104_729, 1_299_709, 15_485_863):
        left, right = right, (left + ((right + key) ** 2 * 2_654_435_761 >> 13)) % _HALF
    payload = f"{prefix}{left:07d}{right:07d}"
    p = _LUHN_PAIRS
    total = (  # unrolled: this runs once per generated person
        p[payload[0:2]]
        + p[payload[2:4]]
        + p[payload[4:6]]
        + p[payload[6:8]]
        + p[payload[8:10]]
        + p[payload[10:12]]
        + p[payload[12:14]]
        + p[payload[14:16]]
        + p[payload[16:18]]
    )
    return f"{payload}{-total % 10}"


def _years_before(day: date, years: int) -> int:
    """The ordinal of the same calendar day ``years`` earlier (29 February becomes the 28th)."""
    try:
        return day.replace(year=day.year - years).toordinal()
    except ValueError:
        return day.replace(year=day.year - years, day=28).toordinal()


def _month_start(year: int, month: int) -> date:
    year += (month - 1) // 12
    return date(year, (month - 1) % 12 + 1, 1)


class _Namer:
    """Chinese names: a weighted surname and one or two given-name characters."""

    def __init__(self, rng: random.Random) -> None:
        self._random = rng.random
        self._surnames = [s for s, weight in _SURNAMES for _ in range(weight)]

    def name(self, male: bool, surname: str | None = None) -> str:
        rnd = self._random
        chars = _MALE_CHARS if male else _FEMALE_CHARS
        n = len(chars)
        if surname is None:
            surname = self._surnames[int(rnd() * len(self._surnames))]
        given = chars[int(rnd() * n)]
        if rnd() < 0.75:  # most names have three characters
            given += chars[int(rnd() * n)]
        return surname + given


class _IdAllocator:
    """Resident id numbers unique per person: a sequence counter per birth date and sex.

    GB 11643's sequence digits are odd for men and even for women; the counter per (birth
    date, sex) gives each person their own number without remembering the numbers issued.
    """

    def __init__(self, county: str, first: int, limit: int) -> None:
        self._county = county
        self._first = first
        self._limit = limit
        self._next: dict[int, int] = {}
        self._ymd: dict[int, str] = {}

    def allocate(self, born: int, male: bool, lo: int, hi: int) -> str:
        """An id number for someone born on ordinal ``born``, kept within ``lo..hi``."""
        while True:
            key = 2 * born + male
            n = self._next.get(key, self._first)
            if n < self._limit:
                break
            # Every number of that day is taken (only in enormous counties): the next day.
            born = born + 1 if born < hi else lo
        self._next[key] = n + 1
        # Spread the sequence numbers over the range (a bijection, since 7 is prime to its
        # span), so that ids do not all end in 000, 001, ...
        span = self._limit - self._first
        n = self._first + ((n - self._first) * 7 + born * 131) % span
        ymd = self._ymd.get(born)
        if ymd is None:
            ymd = self._ymd[born] = date.fromordinal(born).strftime("%Y%m%d")
        first17 = f"{self._county}{ymd}{2 * n + male:03d}"
        return first17 + id_check_char(first17)


class _CaseFactory:
    """The clean population, row by row, with the deaths that belong to it."""

    def __init__(
        self, *, cases: int, seed: int, county: str, start: date, staff: list[dict[str, str]]
    ) -> None:
        self.cases = cases
        self.seed = seed
        self.county = county
        self.start = start
        self.rng = random.Random(f"aidaidledger.synthetic/{seed}/{county}/{start}/cases")
        self.namer = _Namer(self.rng)
        self.ids = _IdAllocator(county, _SEQ_BENEFICIARY, _SEQ_LIMIT_BENEFICIARY)
        self.extra_accounts = 0
        config = load_programs()
        self.max_fen = {code: p.max_monthly_fen for code, p in config.programs.items()}
        unknown = {code for code, _ in _PROGRAM_MIX} - set(self.max_fen)
        if unknown:
            raise ValueError(f"the programs config lacks {sorted(unknown)}")
        self.townships = _regions(seed, county)
        self.deciders = [s["staff_id"] for s in staff if s["role"] == "caseworker"]
        self.approvers = [s["staff_id"] for s in staff if s["role"] == "approver"]
        # A township's cases are decided by its own caseworkers where it has any.
        by_township: dict[str, list[str]] = {}
        for s in staff:
            if s["role"] == "caseworker" and len(s["region_code"]) == 9:
                by_township.setdefault(s["region_code"], []).append(s["staff_id"])
        # Elsewhere the county's caseworkers decide (a township's may not: out of region).
        county_deciders = [
            s["staff_id"] for s in staff if s["role"] == "caseworker" and len(s["region_code"]) == 6
        ]
        self.township_deciders = [by_township.get(t, county_deciders) for t, _ in self.townships]
        self.county_deciders = county_deciders
        # Dates as ordinals, ISO strings cached: there are only a few thousand distinct ones.
        self._iso: dict[int, str] = {}
        self.start_ord = start.toordinal()
        self.bounds = {
            # Elderly allowance from 80; orphans under 18; everyone else 18 to 90.
            "elderly": (_years_before(start, 106) + 1, _years_before(start, 80)),
            "orphan": (_years_before(start, 18) + 1, self.start_ord - 30),
            "adult": (_years_before(start, 91) + 1, _years_before(start, 18)),
        }
        self.age90 = _years_before(start, 90)
        self.age100 = _years_before(start, 100)
        # Month starts from 6 years before start's month to 2 years after it.
        self.month0 = 72
        self.months = [
            _month_start(start.year, start.month - self.month0 + k).toordinal()
            for k in range(self.month0 + 26)
        ]

    def iso(self, ordinal: int) -> str:
        text = self._iso.get(ordinal)
        if text is None:
            text = self._iso[ordinal] = date.fromordinal(ordinal).isoformat()
        return text

    def month_end(self, ordinal: int) -> int:
        """The last day of the month of ``ordinal``."""
        d = date.fromordinal(ordinal)
        return _month_start(d.year, d.month + 1).toordinal() - 1

    def account(self, index: int) -> str:
        return _bank_account(index, _BANK_PREFIXES[int(self.rng.random() * 10)], self.seed)

    def fresh_account(self) -> str:
        """An account no one else has (a second card of someone already generated)."""
        self.extra_accounts += 1
        return self.account(_ACCOUNTS_EXTRA + self.extra_accounts)

    def rows(self) -> Iterator[tuple[dict[str, str], dict[str, str] | None]]:
        """Each case row with the death record of its beneficiary, if they died."""
        rnd = self.rng.random
        namer = self.namer
        max_fen = self.max_fen
        start_ord = self.start_ord
        months, m0 = self.months, self.month0
        iso = self.iso
        townships, township_deciders = self.townships, self.township_deciders
        approvers = self.approvers
        n_townships, n_approvers = len(townships), len(approvers)
        codes = [code for code, _ in _PROGRAM_MIX]
        limits = list(accumulate(share for _, share in _PROGRAM_MIX))
        total_share = limits[-1]
        elderly_lo, elderly_hi = self.bounds["elderly"]
        orphan_lo, orphan_hi = self.bounds["orphan"]
        adult_lo, adult_hi = self.bounds["adult"]
        allocate = self.ids.allocate
        prefix = f"C{self.county}"
        made = 0  # cases made: rows are drawn until there are `cases`, grants among them
        for i in count():
            if made == self.cases:
                return
            program = codes[bisect_right(limits, rnd() * total_share)]
            made += program != "temporary"
            t = int(rnd() * n_townships)
            villages = townships[t][1]
            region = villages[int(rnd() * len(villages))]

            # Who: age by program, then sex, id number and name.
            if program == "elderly":
                lo, hi = elderly_lo, elderly_hi
                born = hi - int((hi - lo) * rnd() ** 2.5)  # few reach 100
                male = rnd() < 0.42  # women live longer
            elif program == "orphan":
                lo, hi = orphan_lo, orphan_hi
                born = lo + int((hi - lo) * rnd())
                male = rnd() < 0.5
            else:
                lo, hi = adult_lo, adult_hi
                born = lo + int((hi - lo) * (rnd() + rnd()) / 2)  # mostly middle-aged
                male = rnd() < 0.5
            id_number = allocate(born, male, lo, hi)
            name = namer.name(male)

            size, amount = self._size_and_amount(program, born)
            amount = min(amount, max_fen[program])

            # When: decisions take effect on a month's first day, a few mid-month. Earliest
            # when the person became eligible (80th birthday for elderly, birth for orphans).
            eligible = born + 29_220 if program == "elderly" else born
            if program == "temporary":
                k = m0 - 12 + int(rnd() * 18)  # one-off aid in the last year or the next months
            elif rnd() < 0.08:
                k = m0 + 1 + int(rnd() * 6)  # decided to start after `start`
            else:
                k = m0 - 1 - int(60 * rnd() ** 1.5)  # recent decisions outnumber old ones
            if months[k] < eligible:
                k = bisect_left(months, eligible)
            begin = months[k]
            if rnd() < 0.1:
                begin += int(rnd() * 27)
            if program == "temporary":
                end: int | None = months[k + 1] - 1  # paid once, for that month
            else:
                r = rnd()
                if r < 0.07 and k < m0:
                    end = months[k + 1 + int(rnd() * (m0 - k))] - 1  # ended before start
                elif r < 0.15:
                    end = months[max(k, m0) + 1 + int(rnd() * 18)] - 1  # review date ahead
                else:
                    end = None

            # Deaths: some before start (case closed at the end of that month) and some after
            # (case still open: the data comparison finds them after payments went out).
            death = None
            if rnd() < (0.08 if program == "elderly" else 0.025) and begin < start_ord:
                if rnd() < 0.5 and (end is None or end >= start_ord):
                    first = max(begin, start_ord - 365)
                    died = first + int(rnd() * (start_ord - first))
                    end = self.month_end(died)
                else:
                    first = max(begin, start_ord)
                    died = first + int(rnd() * 90)
                death = {
                    "id_number": id_number,
                    "date_of_death": iso(died),
                    "source": self.death_source(rnd()),
                }

            account_name = name
            if program == "dibao" and size > 1 and rnd() < 0.12:
                # Paid to the household head's card (一卡通 in the head's name).
                surname = name[0] if rnd() < 0.6 else None
                account_name = namer.name(True, surname)
                account = self.account(_ACCOUNTS_HEAD + i)
            else:
                account = self.account(_ACCOUNTS_BENEFICIARY + i)

            deciders = township_deciders[t]
            row = {
                "case_id": f"{prefix}{i + 1:06d}",
                "program": program,
                "region_code": region,
                "name": name,
                "id_number": id_number,
                "household_size": str(size),
                "monthly_amount": format_fen(amount),
                "effective_from": iso(begin),
                "effective_to": "" if end is None else iso(end),
                "bank_account": account,
                "account_name": account_name,
                "decided_by": deciders[int(rnd() * len(deciders))],
                "approved_by": approvers[int(rnd() * n_approvers)],
            }
            yield row, death

    def _size_and_amount(self, program: str, born: int) -> tuple[int, int]:
        """Household size and monthly amount in fen, by the program's usual method."""
        r = self.rng.random
        if program == "dibao":
            u = r()
            size = (
                1
                if u < 0.25
                else 2
                if u < 0.5
                else 3
                if u < 0.72
                else 4
                if u < 0.87
                else (5 if u < 0.95 else 6)
            )
            # Difference method: (standard - per-capita income) x members, to 0.50 yuan.
            income = int(r() * r() * 7_000) * 10
            amount = (_DIBAO_STANDARD - income) * size
            if r() < 0.2:  # 分类施保: extra for an elderly, disabled or ill member
                amount += _DIBAO_STANDARD * (5 + int(r() * 16)) // 100
            amount = min((amount + 25) // 50 * 50, 6 * _DIBAO_STANDARD)
            return size, amount
        if program == "tekun":
            return 1, _TEKUN_BASIC + _TEKUN_CARE[int(r() * r() * 3)]
        if program == "elderly":
            tier = 0 if born > self.age90 else 1 if born > self.age100 else 2
            return 1, _ELDERLY[tier]
        if program == "orphan":
            return 1, _ORPHAN[r() < 0.3]
        size = 1 + int(r() * r() * 5)
        if program == "disability_living":
            return size, _DISABILITY_LIVING[int(r() * 3)]
        if program == "disability_care":
            return size, _DISABILITY_CARE[r() < 0.4]
        # temporary: a one-off sum after an emergency, to 10 yuan, up to a few months' standard
        return size, (500 + int(r() * r() * 5_500)) // 10 * 1_000

    @staticmethod
    def death_source(u: float) -> str:
        for source, share in _DEATH_SOURCES:
            if u < share:
                return source
            u -= share
        return _DEATH_SOURCES[0][0]

    def unrelated_deaths(self, count: int) -> list[dict[str, str]]:
        """Deaths in the feed of people who receive nothing (the feed covers everyone)."""
        rng = random.Random(f"aidaidledger.synthetic/{self.seed}/{self.county}/{self.start}/deaths")
        lo, hi = self.bounds["adult"]
        rows = []
        for _ in range(count):
            born = lo + int((hi - lo) * rng.random() ** 0.5)
            died = self.start_ord - 365 + int(rng.random() * 455)
            rows.append(
                {
                    "id_number": self.ids.allocate(born, rng.random() < 0.5, lo, hi),
                    "date_of_death": self.iso(died),
                    "source": self.death_source(rng.random()),
                }
            )
        return rows


class _Planter:
    """Plants the anomalies of :data:`ANOMALIES` into clean rows, recording where."""

    def __init__(
        self,
        factory: _CaseFactory,
        rows: list[dict[str, str]],
        deaths: list[dict[str, str]],
        staff: list[dict[str, str]],
        seeded: dict[str, list[str]],
    ) -> None:
        self.factory = factory
        self.rows = rows
        self.deaths = deaths
        self.staff = staff
        self.seeded = seeded
        f = factory
        self.rng = random.Random(f"aidaidledger.synthetic/{f.seed}/{f.county}/{f.start}/frauds")
        # Mildly with size: 1 for tens of cases, 3 for thousands, 5 from a hundred thousand.
        self.count = max(1, min(5, int(math.log10(max(len(rows), 1)))))
        self.start = f.start.isoformat()
        self.used: set[int] = set()
        dead = {d["id_number"] for d in deaths}
        # Only cases that are open and in effect at start, of people alive: an anomaly there
        # is certain to show at the first payout, and touches no other planted or natural fact.
        self.pools: dict[str, list[int]] = {}
        for i, row in enumerate(rows):
            if (
                row["effective_from"] < self.start
                and not row["effective_to"]
                and row["id_number"] not in dead
            ):
                self.pools.setdefault(row["program"], []).append(i)

    def plant(self) -> None:
        rows, seeded = self.rows, self.seeded
        # Distinct staff members each time: one staff card paid for two cases would also be a
        # shared account, and one staff member in two dibao cases a duplicate beneficiary.
        # Among staff who work cases (not the money's finance staff and supervisors, who must
        # stay free to approve and release the county's runs), except the first card: that of
        # the second supervisor, whose own interest then shows when they try to release it.
        pool = [
            s for s in self.staff if s["role"] not in ("finance", "finance_approver", "supervisor")
        ]
        supervisor = next(s for s in self.staff if s["staff_id"] == SUPERVISOR_2)
        cards = [supervisor, *self.rng.sample(pool, self.count - 1)]
        relatives = self.rng.sample(pool, self.count)
        for k in range(self.count):
            # dead_before_start: the death was never acted on.
            i = self.pick("dibao", "tekun", "elderly", "disability_living", "disability_care")
            row = rows[i]
            lo = max(
                date.fromisoformat(row["effective_from"]).toordinal(), self.factory.start_ord - 180
            )
            died = lo + int(self.rng.random() * (self.factory.start_ord - lo))
            self.deaths.append(
                {
                    "id_number": row["id_number"],
                    "date_of_death": self.factory.iso(died),
                    "source": "公安人口库比对",
                }
            )
            seeded["dead_before_start"].append(row["case_id"])

            # dibao_and_tekun: a 特困 person also drawing 低保 (the programs exclude each other).
            t = self.pick("tekun", convert_to="tekun")
            d = self.pick("dibao", convert_to="dibao")
            self.same_person(rows[d], rows[t], same_region=True)
            seeded["dibao_and_tekun"] += [rows[t]["case_id"], rows[d]["case_id"]]

            # two_cases_one_program: one person registered for 低保 in two villages.
            a = self.pick("dibao", convert_to="dibao")
            b = self.pick("dibao", convert_to="dibao")
            self.same_person(rows[b], rows[a], same_region=False)
            seeded["two_cases_one_program"] += [rows[a]["case_id"], rows[b]["case_id"]]

            # shared_account: several unrelated households paid into one card.
            group = [
                self.pick("dibao", "elderly", "disability_living", "disability_care")
                for _ in range(2 + k % 2)
            ]
            for g in group[1:]:
                rows[g]["bank_account"] = rows[group[0]]["bank_account"]
            seeded["shared_account"] += [rows[g]["case_id"] for g in group]

            # staff_account: a beneficiary's money goes to a staff member's card (截留).
            i = self.pick("dibao", "elderly", "disability_living")
            rows[i]["bank_account"] = cards[k]["bank_account"]
            self.decided_by_others(rows[i], cards[k]["staff_id"])
            seeded["staff_account"].append(rows[i]["case_id"])

            # staff_relative (人情保): a staff member is a beneficiary (decided and approved by
            # colleagues: the staff member's own decision would be refused at import, 回避).
            member = relatives[k]
            i = self.pick("dibao", "disability_living", "disability_care")
            row = rows[i]
            row["name"] = row["account_name"] = member["name"]
            row["id_number"] = member["id_number"]
            row["bank_account"] = self.factory.fresh_account()
            self.decided_by_others(row, member["staff_id"])
            seeded["staff_relative"].append(row["case_id"])

    def decided_by_others(self, row: dict[str, str], staff_id: str) -> None:
        """Make sure ``staff_id`` neither decided nor approved ``row`` (the county's first
        caseworker or approver who is someone else takes over)."""
        for column, pool in (
            ("decided_by", self.factory.county_deciders),
            ("approved_by", self.factory.approvers),
        ):
            if row[column] == staff_id:
                row[column] = next(s for s in pool if s != staff_id)

    def pick(self, *programs: str, convert_to: str | None = None) -> int:
        """An unused open case of one of ``programs`` (or, in a small county, one converted)."""
        candidates = [p for p in programs if self.pools.get(p)]
        for _ in range(200):
            if not candidates:
                break
            pool = self.pools[candidates[self.rng.randrange(len(candidates))]]
            i = pool[self.rng.randrange(len(pool))]
            if i not in self.used:
                self.used.add(i)
                return i
        if convert_to is not None:
            # Too few cases of that program: turn an adult's case of another program into one.
            for program in ("disability_living", "disability_care", "dibao", "tekun", "elderly"):
                for i in self.pools.get(program, []):
                    if i not in self.used and self.rows[i]["program"] != convert_to:
                        self.used.add(i)
                        self.convert(self.rows[i], convert_to)
                        return i
        raise ValueError(
            f"too few open cases to plant anomalies in {len(self.rows)} cases; "
            "generate more cases or pass frauds=False"
        )

    def convert(self, row: dict[str, str], program: str) -> None:
        size, amount = (1, _TEKUN_BASIC) if program == "tekun" else (2, 2 * _DIBAO_STANDARD)
        row["program"] = program
        row["household_size"] = str(size)
        row["monthly_amount"] = format_fen(min(amount, self.factory.max_fen[program]))
        row["account_name"] = row["name"]

    def same_person(
        self, row: dict[str, str], person: dict[str, str], *, same_region: bool
    ) -> None:
        """Make ``row`` a case of ``person``, paid to a second card of theirs.

        A second card keeps this anomaly apart from ``shared_account``.
        """
        row["name"] = row["account_name"] = person["name"]
        row["id_number"] = person["id_number"]
        row["bank_account"] = self.factory.fresh_account()
        if same_region:
            row["region_code"] = person["region_code"]
            # Decided where the case now is: a township's caseworker may not decide elsewhere.
            row["decided_by"] = person["decided_by"]


#: The columns of a steps file with its applicant columns (`ledger.applications`).
STEP_FILE_COLUMNS: tuple[str, ...] = (
    "application_id",
    "case_id",
    "program",
    "step",
    "date",
    "staff_id",
    "outcome",
    "detail",
    "region_code",
    "name",
    "id_number",
)


@dataclass(frozen=True)
class Applications:
    """New applicants' applications through the 阳光 chain: the caseworker's steps file, the
    approver's file of approvals, and the cases the approved applications open (with, last,
    the case of one still in its notice: refused until it is approved)."""

    steps: list[dict[str, str]]
    approvals: list[dict[str, str]]
    cases: list[dict[str, str]]
    objected: str  # the application with an upheld objection (noticed twice)
    in_notice: str  # the application whose notice runs on ``today``


def generate_applications(
    *, seed: int = 7, county: str = "610102", today: date, effective: date
) -> Applications:
    """Three applications of people new to the county's registers (id numbers issued in
    another district, cards of their own), by its first caseworker (`CASEWORKER`) and
    approver (`APPROVER`): one straight through, one sent back by an upheld objection and
    approved after a second notice, one whose notice runs on ``today``. The approved ones'
    cases take effect on ``effective`` (on or after the second approval)."""
    _check_arguments(0, county)
    rng = random.Random(f"aidaidledger.synthetic/{seed}/{county}/applications")
    namer, ids = _Namer(rng), _IdAllocator(f"{county[:4]}13", 0, _SEQ_LIMIT_BENEFICIARY)
    villages = [v for _, vs in _regions(seed, county) for v in vs]
    ref = today.toordinal()
    # Per application: its program and, per step, how many days before today it was taken.
    plans: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = (
        ("dibao", (("apply", 40), ("verify", 37), ("visit", 33), ("review", 29),
                   ("township", 25), ("notice", 21), ("approve", 13))),
        ("dibao", (("apply", 38), ("verify", 35), ("visit", 31), ("review", 26),
                   ("township", 22), ("notice", 18), ("objection", 15), ("review", 13),
                   ("township", 12), ("notice", 11), ("approve", 3))),
        ("tekun", (("apply", 20), ("verify", 17), ("visit", 14), ("review", 10),
                   ("township", 6), ("notice", 3))),
    )  # fmt: skip
    no_outcome = {"apply": "", "notice": "", "approve": "", "objection": "upheld"}
    details = {
        "apply": "本人书面申请",
        "verify": "收入财产核对无异常",
        "visit": "入户调查属实",
        "review": "民主评议通过",
        "township": "乡镇审核同意",
        "notice": "村务公开栏公示",
        "objection": "群众反映有经营收入，经核实已停业，重新评议",
        "approve": "县民政局审批同意",
    }
    steps: list[dict[str, str]] = []
    approvals: list[dict[str, str]] = []
    cases: list[dict[str, str]] = []
    for n, (program, plan) in enumerate(plans, start=1):
        app_id, case_id = f"SQ{county}{n:04d}", f"C{county}9{n:05d}"
        male = rng.random() < 0.5
        born = rng.randint(ref - 75 * 366, ref - 30 * 366)
        name = namer.name(male)
        person = {
            "region_code": villages[int(rng.random() * len(villages))],
            "name": name,
            "id_number": ids.allocate(born, male, ref - 75 * 366, ref - 30 * 366),
        }
        for step, before in plan:
            line = {
                "application_id": app_id,
                "case_id": case_id,
                "program": program,
                "step": step,
                "date": date.fromordinal(ref - before).isoformat(),
                "staff_id": APPROVER if step == "approve" else CASEWORKER,
                "outcome": no_outcome.get(step, "pass"),
                "detail": details[step],
                **(person if step == "apply" else dict.fromkeys(person, "")),
            }
            (approvals if step == "approve" else steps).append(line)
        size = 1 if program == "tekun" else 2 + int(rng.random() * 3)
        amount = _TEKUN_BASIC if program == "tekun" else size * (_DIBAO_STANDARD - 30_000)
        cases.append(
            {
                "case_id": case_id,
                "program": program,
                "region_code": person["region_code"],
                "name": name,
                "id_number": person["id_number"],
                "household_size": str(size),
                "monthly_amount": format_fen(amount),
                "effective_from": effective.isoformat(),
                "effective_to": "",
                "bank_account": _bank_account(4 * 10**12 + n, "6217", seed),
                "account_name": name,
                "decided_by": CASEWORKER,
                "approved_by": APPROVER,
            }
        )
    return Applications(
        steps, approvals, cases, objected=f"SQ{county}0002", in_notice=f"SQ{county}0003"
    )
