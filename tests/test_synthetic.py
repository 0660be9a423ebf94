"""The synthetic county generator: valid files, realistic shape, exactly the planted anomalies."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import pytest

from aidledger.synthetic import (
    ANOMALIES,
    CASE_COLUMNS,
    DEATH_COLUMNS,
    GRANT_COLUMNS,
    ROLES,
    STAFF_COLUMNS,
    County,
    generate_county,
    iter_case_rows,
    staff_rows_for,
    write_csv,
)
from ledger import case, registry
from ledger.csvfile import CsvRow, detect_encoding, read_rows
from ledger.ids import birth_date, parse_id_number
from ledger.money import parse_fen
from ledger.programs import load_programs
from ledger.validation import validate_cases, validate_deaths, validate_staff

START = date(2026, 1, 1)
CONFIG = load_programs()


@pytest.fixture(scope="module")
def county() -> County:
    return generate_county(cases=4000, seed=11)


@pytest.fixture(scope="module")
def clean() -> County:
    return generate_county(cases=4000, seed=11, frauds=False)


def age_at(id_number: str, day: date) -> int:
    born = birth_date(id_number)
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def in_effect_at_start(row: dict[str, str]) -> bool:
    return row["effective_from"] < START.isoformat() and (
        not row["effective_to"] or row["effective_to"] >= START.isoformat()
    )


# --- shape of the rows ------------------------------------------------------------------


def test_columns_are_those_the_importer_reads() -> None:
    assert CASE_COLUMNS == case.CASE_COLUMNS
    assert STAFF_COLUMNS == registry.STAFF_COLUMNS
    assert DEATH_COLUMNS == registry.DEATH_COLUMNS


def test_every_row_has_exactly_the_columns_as_strings(county: County) -> None:
    for rows, columns in (
        (county.cases, CASE_COLUMNS),
        (county.staff, STAFF_COLUMNS),
        (county.deaths, DEATH_COLUMNS),
    ):
        assert rows
        for row in rows:
            assert tuple(row) == columns
            assert all(isinstance(v, str) for v in row.values())


def test_id_numbers_are_valid_and_from_the_county(county: County) -> None:
    for row in [*county.cases, *county.staff, *county.deaths]:
        assert parse_id_number(row["id_number"]) == row["id_number"]
        assert row["id_number"].startswith("610102")


def test_ages_fit_the_programs(county: County) -> None:
    for row in county.cases:
        age = age_at(row["id_number"], START)
        if row["program"] == "elderly":
            assert age >= 80, row
        elif row["program"] == "orphan":
            assert age < 18, row
        else:
            assert 18 <= age <= 90, row


def test_amounts_parse_and_respect_the_program_maximum(county: County) -> None:
    for row in county.cases:
        fen = parse_fen(row["monthly_amount"])
        assert re.fullmatch(r"\d+\.\d\d", row["monthly_amount"])
        assert 0 < fen <= CONFIG.programs[row["program"]].max_monthly_fen, row
        if row["program"] == "dibao":
            assert fen % 50 == 0, row  # rounded to 0.50 yuan


def test_dibao_amounts_grow_with_household_size(county: County) -> None:
    by_size: dict[int, list[int]] = defaultdict(list)
    for row in county.cases:
        if row["program"] == "dibao":
            by_size[int(row["household_size"])].append(parse_fen(row["monthly_amount"]))
    means = [sum(v) / len(v) for _, v in sorted(by_size.items())]
    assert sorted(by_size) == [1, 2, 3, 4, 5, 6]
    assert means == sorted(means)
    # One person cannot get more than the 780.00 standard plus an extra of at most 20 %.
    assert max(by_size[1]) <= 78_000 * 120 // 100


def test_household_sizes(county: County) -> None:
    for row in county.cases:
        size = int(row["household_size"])
        assert 1 <= size <= 6
        if row["program"] in ("tekun", "orphan", "elderly"):
            assert size == 1, row


def test_decider_and_approver_are_different_staff(county: County) -> None:
    roles = {s["staff_id"]: s["role"] for s in county.staff}
    for row in county.cases:
        assert row["decided_by"] != row["approved_by"]
        assert row["decided_by"] in roles and row["approved_by"] in roles
        assert roles[row["approved_by"]] == "approver"
        assert roles[row["decided_by"]] == "caseworker"


def test_staff(county: County) -> None:
    assert [s["staff_id"] for s in county.staff] == [f"S{i:04d}" for i in range(1, 13)]
    assert [s["role"] for s in county.staff] == list(ROLES)
    assert len(generate_county(cases=100, frauds=False).staff) == len(ROLES)
    assert len(staff_rows_for(1_500_000)) == 3750
    for s in county.staff:
        # The county, or (caseworkers) a township of it.
        assert re.fullmatch(r"610102(\d{3})?", s["region_code"])
        assert len(s["region_code"]) == 6 or s["role"] == "caseworker"
        assert 18 <= age_at(s["id_number"], START) <= 61


def test_dates(county: County) -> None:
    starts_later = ended = open_ended = 0
    for row in county.cases:
        begin = date.fromisoformat(row["effective_from"])
        starts_later += begin > START
        if row["effective_to"]:
            end = date.fromisoformat(row["effective_to"])
            assert end >= begin, row
            ended += end < START
        else:
            open_ended += 1
    n = len(county.cases)
    assert 0.02 * n < starts_later < 0.2 * n
    assert 0.02 * n < ended < 0.25 * n
    assert open_ended > 0.6 * n


def test_codes_and_names(county: County) -> None:
    villages = {row["region_code"] for row in county.cases}
    assert all(re.fullmatch(r"610102\d{6}", v) for v in villages)
    assert 12 <= len({v[:9] for v in villages}) <= 18
    assert 60 <= len(villages) <= 18 * 14
    ids = [row["case_id"] for row in county.cases]
    assert all(re.fullmatch(r"C610102\d{6}", c) for c in ids)
    assert len(set(ids)) == len(ids)
    surnames = Counter(row["name"][0] for row in county.cases)
    assert surnames.most_common(1)[0][0] in "王李张刘"
    for row in [*county.cases, *county.staff]:
        assert 2 <= len(row["name"]) <= 3
        assert all("\u4e00" <= ch <= "\u9fff" for ch in row["name"])


def test_bank_accounts_look_like_cards(county: County) -> None:
    for row in [*county.cases, *county.staff]:
        account = row["bank_account"]
        assert re.fullmatch(r"62\d{17}", account), account
        assert luhn_ok(account), account
    # Usually the beneficiary's own card, sometimes the household head's for dibao.
    head_paid = [r for r in county.cases if r["account_name"] != r["name"]]
    assert 0 < len(head_paid) < 0.1 * len(county.cases)
    assert {r["program"] for r in head_paid} == {"dibao"}


def test_program_mix() -> None:
    county = generate_county(cases=20_000, seed=3, frauds=False)
    rows = [*county.cases, *county.grants]
    shares = Counter(r["program"] for r in rows)
    expected = {
        "dibao": 0.55,
        "tekun": 0.08,
        "elderly": 0.15,
        "disability_living": 0.08,
        "disability_care": 0.06,
        "orphan": 0.02,
        "temporary": 0.06,
    }
    for program, share in expected.items():
        assert abs(shares[program] / len(rows) - share) < 0.015, program
    # One-off relief is granted, not a case: the county has its cases, and grants beside them.
    assert len(county.cases) == 20_000
    assert {r["program"] for r in county.cases} == set(expected) - {"temporary"}
    assert list(iter_case_rows(cases=20_000, seed=3)) == county.cases


def test_grants_are_a_grants_file_of_the_county(county: County) -> None:
    from ledger.errors import Problem
    from ledger.validation import grant_rows

    assert county.grants and all(tuple(g) == GRANT_COLUMNS for g in county.grants)
    problems: list[Problem] = []
    today = date(2026, 12, 31)  # the grants of the year before start and half a year after
    rows = list(grant_rows(_rows_of(county.grants, GRANT_COLUMNS), CONFIG, today, problems))
    assert problems == [] and len(rows) == len(county.grants)
    assert len({g["grant_id"] for g in county.grants}) == len(county.grants)
    assert not {g["id_number"] for g in county.grants} & {c["id_number"] for c in county.cases}


def _rows_of(rows: list[dict[str, str]], columns: tuple[str, ...]) -> list[CsvRow]:

    return [CsvRow(n, {c: r[c] for c in columns}) for n, r in enumerate(rows, start=2)]


def test_deaths(county: County) -> None:
    ids = {r["id_number"] for r in county.cases}
    dates = [date.fromisoformat(d["date_of_death"]) for d in county.deaths]
    beneficiaries = [d for d in county.deaths if d["id_number"] in ids]
    assert 0.01 * len(county.cases) < len(beneficiaries) < 0.06 * len(county.cases)
    assert any(d < START for d in dates) and any(d >= START for d in dates)
    assert len(beneficiaries) < len(county.deaths)  # the feed has non-beneficiaries too
    assert len({d["id_number"] for d in county.deaths}) == len(county.deaths)
    assert all(d["source"] for d in county.deaths)


# --- determinism and the streaming variant --------------------------------------------


def test_same_seed_same_county_and_other_seeds_differ() -> None:
    a = generate_county(cases=600, seed=5)
    b = generate_county(cases=600, seed=5)
    c = generate_county(cases=600, seed=6)
    assert a == b
    assert a.cases != c.cases and a.staff != c.staff and a.seeded != c.seeded
    assert generate_county(cases=600, seed=5, county="610103").cases != a.cases


def test_stream_is_the_clean_county(clean: County) -> None:
    assert list(iter_case_rows(cases=4000, seed=11)) == clean.cases
    assert staff_rows_for(4000, 11) == clean.staff
    assert clean.seeded == {name: [] for name in ANOMALIES}


def test_stream_yields_the_requested_count_with_unique_case_ids() -> None:
    staff = {s["staff_id"] for s in staff_rows_for(30_000, seed=2)}
    ids = set()
    n = 0
    for row in iter_case_rows(cases=30_000, seed=2):
        n += 1
        ids.add(row["case_id"])
        assert row["decided_by"] in staff and row["approved_by"] in staff
    assert n == 30_000 and len(ids) == n
    assert list(iter_case_rows(cases=0)) == []


def test_a_clean_county_has_no_anomaly(clean: County) -> None:
    ids = Counter(r["id_number"] for r in clean.cases)
    accounts = Counter(r["bank_account"] for r in clean.cases)
    assert ids.most_common(1)[0][1] == 1
    assert accounts.most_common(1)[0][1] == 1
    staff_ids = {s["id_number"] for s in clean.staff}
    staff_accounts = {s["bank_account"] for s in clean.staff}
    assert not staff_ids & set(ids) and not staff_accounts & set(accounts)
    died = {d["id_number"]: d["date_of_death"] for d in clean.deaths}
    for row in clean.cases:
        if died.get(row["id_number"], "9999") < START.isoformat():
            # Closed at the end of the month of death, so never paid from START on.
            assert row["effective_to"] and row["effective_to"] < START.isoformat(), row


# --- the planted anomalies: present, and nothing else ----------------------------------


def test_each_anomaly_is_planted_a_handful_of_times(county: County) -> None:
    assert set(county.seeded) == set(ANOMALIES)
    singles = ("dead_before_start", "staff_account", "staff_relative")
    for name in singles:
        assert 1 <= len(county.seeded[name]) <= 5
    for name in ("dibao_and_tekun", "two_cases_one_program"):
        assert 2 <= len(county.seeded[name]) <= 10 and len(county.seeded[name]) % 2 == 0
    big = generate_county(cases=5000, seed=1)
    small = generate_county(cases=60, seed=1)
    assert len(small.seeded["staff_account"]) <= len(big.seeded["staff_account"])
    assert all(small.seeded[name] for name in ANOMALIES)


def test_dibao_and_tekun_share_an_id_number(county: County) -> None:
    by_id = {r["case_id"]: r for r in county.cases}
    seeded = county.seeded["dibao_and_tekun"]
    for tekun_id, dibao_id in zip(seeded[::2], seeded[1::2], strict=True):
        t, d = by_id[tekun_id], by_id[dibao_id]
        assert (t["program"], d["program"]) == ("tekun", "dibao")
        assert t["id_number"] == d["id_number"] and t["name"] == d["name"]
        assert in_effect_at_start(t) and in_effect_at_start(d)


def test_duplicate_id_numbers_are_exactly_the_planted_ones(county: County) -> None:
    cases_of: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in county.cases:
        cases_of[r["id_number"]].append(r)
    two_programs, one_program = set(), set()
    for rows in cases_of.values():
        if len(rows) > 1:
            programs = {r["program"] for r in rows}
            target = two_programs if programs == {"dibao", "tekun"} else one_program
            assert programs in ({"dibao", "tekun"}, {"dibao"}), programs
            target.update(r["case_id"] for r in rows)
    assert two_programs == set(county.seeded["dibao_and_tekun"])
    assert one_program == set(county.seeded["two_cases_one_program"])


def test_shared_accounts_are_exactly_the_planted_ones(county: County) -> None:
    holders: dict[str, set[str]] = defaultdict(set)
    for r in county.cases:
        holders[r["bank_account"]].add(r["id_number"])
    shared = {r["case_id"] for r in county.cases if len(holders[r["bank_account"]]) > 1}
    assert shared == set(county.seeded["shared_account"])
    assert len(shared) >= 2


def test_staff_accounts_and_staff_id_numbers_are_exactly_the_planted_ones(county: County) -> None:
    accounts = {s["bank_account"] for s in county.staff}
    ids = {s["id_number"] for s in county.staff}
    by_id = {r["case_id"]: r for r in county.cases}
    assert {r["case_id"] for r in county.cases if r["bank_account"] in accounts} == set(
        county.seeded["staff_account"]
    )
    assert {r["case_id"] for r in county.cases if r["id_number"] in ids} == set(
        county.seeded["staff_relative"]
    )
    for case_id in county.seeded["staff_relative"]:
        row = by_id[case_id]
        member = next(s for s in county.staff if s["id_number"] == row["id_number"])
        assert row["name"] == member["name"]


def test_dead_before_start_are_exactly_the_planted_ones(county: County) -> None:
    died = {d["id_number"]: d["date_of_death"] for d in county.deaths}
    found = {
        r["case_id"]
        for r in county.cases
        if in_effect_at_start(r) and died.get(r["id_number"], "9999") < START.isoformat()
    }
    assert found == set(county.seeded["dead_before_start"])
    for case_id in found:
        row = next(r for r in county.cases if r["case_id"] == case_id)
        assert not row["effective_to"]
        assert died[row["id_number"]] >= row["effective_from"]


def test_too_small_for_frauds_and_bad_arguments() -> None:
    with pytest.raises(ValueError, match="too few"):
        generate_county(cases=3)
    assert len(generate_county(cases=3, frauds=False).cases) == 3
    with pytest.raises(ValueError, match="6-digit"):
        generate_county(cases=10, county="61010")
    with pytest.raises(ValueError):
        list(iter_case_rows(cases=-1))


# --- writing files the importer accepts ----------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_written_files_pass_the_importers_validation(
    county: County, tmp_path: Path, encoding: str
) -> None:
    files = {
        "cases": (county.cases, CASE_COLUMNS),
        "staff": (county.staff, STAFF_COLUMNS),
        "deaths": (county.deaths, DEATH_COLUMNS),
    }
    for kind, (rows, columns) in files.items():
        path = tmp_path / f"{kind}.csv"
        assert write_csv(path, rows, columns, encoding=encoding) == len(rows)
        data = path.read_bytes()
        assert data.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
        assert detect_encoding(data) == encoding
        parsed, problems = read_rows(data, columns)
        assert problems == []
        assert [r.values for r in parsed] == rows
        if kind == "cases":
            good, problems = validate_cases(parsed, CONFIG)
        elif kind == "staff":
            good, problems = validate_staff(parsed)
        else:
            good, problems = validate_deaths(parsed, date(2026, 11, 23))
        assert problems == [] and len(good) == len(rows)


def test_write_csv_streams_a_generator(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    assert write_csv(path, iter_case_rows(cases=2500), CASE_COLUMNS) == 2500
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(CASE_COLUMNS) and len(lines) == 2501
