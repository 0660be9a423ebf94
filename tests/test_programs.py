"""The shipped programs config, and how a broken copy of it is refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ledger.errors import ConfigError, InvalidValue
from ledger.programs import ProgramsConfig, load_programs, shipped_config_path

PROGRAMS = {
    "dibao",
    "tekun",
    "temporary",
    "orphan",
    "disability_living",
    "disability_care",
    "elderly",
}
DEPARTMENTS = {
    "civil_affairs",
    "disabled_federation",
    "hrss",
    "education",
    "medical_security",
    "housing",
}
# The shipped ceilings are realistic: at least 5000.00 for dibao, 3000.00 for tekun, 500.00 for
# the disability programs, 1000.00 for elderly — written here in fen.
MINIMUM_CEILINGS_FEN = {
    "dibao": 5000_00,
    "tekun": 3000_00,
    "disability_living": 500_00,
    "disability_care": 500_00,
    "elderly": 1000_00,
}


@pytest.fixture(scope="module")
def shipped() -> ProgramsConfig:
    return load_programs()


def _shipped_text() -> str:
    return shipped_config_path().read_text(encoding="utf-8")


def _set_key(text: str, table: str, key: str, value: str) -> tuple[str, int]:
    """Set ``key = value`` inside ``[table]``; return the new text and the 1-based line edited."""
    lines = text.splitlines()
    start = lines.index(f"[{table}]")
    for i in range(start + 1, len(lines)):
        if lines[i].startswith("["):
            break
        if re.match(rf"{re.escape(key)}\s*=", lines[i]):
            lines[i] = f"{key} = {value}"
            return "\n".join(lines) + "\n", i + 1
    raise AssertionError(f"the shipped config has no {key} in [{table}]")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "programs.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_has_the_seven_programs_of_the_spec(shipped: ProgramsConfig) -> None:
    assert set(shipped.programs) == PROGRAMS
    assert all(code == p.code for code, p in shipped.programs.items())


def test_shipped_config_has_the_six_departments_of_the_spec(shipped: ProgramsConfig) -> None:
    assert set(shipped.departments) == DEPARTMENTS
    assert all(code == d.code for code, d in shipped.departments.items())


def test_every_shipped_program_is_paid_by_a_known_department(shipped: ProgramsConfig) -> None:
    for code, program in shipped.programs.items():
        assert program.department in DEPARTMENTS, code
        assert shipped.department_of(code).code == program.department


def test_dibao_and_tekun_exclude_each_other(shipped: ProgramsConfig) -> None:
    assert "tekun" in shipped.program("dibao").excludes
    assert "dibao" in shipped.program("tekun").excludes


def test_every_shipped_exclusion_is_mutual(shipped: ProgramsConfig) -> None:
    for code, program in shipped.programs.items():
        for other in program.excludes:
            assert code in shipped.program(other).excludes, (code, other)


@pytest.mark.parametrize(("program", "minimum_fen"), sorted(MINIMUM_CEILINGS_FEN.items()))
def test_shipped_max_monthly_amounts_are_realistic_ceilings(
    shipped: ProgramsConfig, program: str, minimum_fen: int
) -> None:
    max_fen = shipped.program(program).max_monthly_fen
    assert type(max_fen) is int
    assert max_fen >= minimum_fen


def test_shipped_payment_days_are_days_of_a_month(shipped: ProgramsConfig) -> None:
    for code, program in shipped.programs.items():
        assert 1 <= program.payment_day <= 31, code


def test_unknown_program_is_refused_naming_the_known_ones(shipped: ProgramsConfig) -> None:
    with pytest.raises(InvalidValue, match="dibao"):
        shipped.program("weibao")


def test_an_unchanged_copy_loads_the_same_as_the_shipped_config(
    tmp_path: Path, shipped: ProgramsConfig
) -> None:
    assert load_programs(_write(tmp_path, _shipped_text())) == shipped


def test_an_edited_amount_in_a_copy_is_used(tmp_path: Path) -> None:
    text, _ = _set_key(_shipped_text(), "programs.elderly", "max_monthly", '"1200.50"')
    assert load_programs(_write(tmp_path, text)).program("elderly").max_monthly_fen == 1200_50


def test_unknown_department_is_a_config_error_naming_file_and_key(tmp_path: Path) -> None:
    text, _ = _set_key(_shipped_text(), "programs.orphan", "department", '"welfare_office"')
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_programs(path)
    message = str(caught.value)
    assert str(path) in message
    assert "orphan" in message
    assert "department" in message
    assert "welfare_office" in message


def test_one_sided_exclusion_is_a_config_error_naming_file_and_both_programs(
    tmp_path: Path,
) -> None:
    text, _ = _set_key(_shipped_text(), "programs.tekun", "excludes", "[]")
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_programs(path)
    message = str(caught.value)
    assert str(path) in message
    assert "excludes" in message
    assert "dibao" in message and "tekun" in message


def test_exclusion_of_an_unknown_program_is_a_config_error(tmp_path: Path) -> None:
    text, _ = _set_key(_shipped_text(), "programs.elderly", "excludes", '["pension"]')
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_programs(path)
    assert str(path) in str(caught.value)
    assert "pension" in str(caught.value)


@pytest.mark.parametrize("value", ["5000.5", "5000", "0.5e4"])
def test_max_monthly_as_a_toml_number_is_a_config_error_naming_file_and_key(
    tmp_path: Path, value: str
) -> None:
    text, _ = _set_key(_shipped_text(), "programs.dibao", "max_monthly", value)
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_programs(path)
    message = str(caught.value)
    assert str(path) in message
    assert "programs.dibao.max_monthly" in message


@pytest.mark.parametrize("value", ['"5,000.00"', '"5000.001"', '"0.00"', '"-10.00"'])
def test_malformed_or_non_positive_max_monthly_is_a_config_error(
    tmp_path: Path, value: str
) -> None:
    text, _ = _set_key(_shipped_text(), "programs.dibao", "max_monthly", value)
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_programs(path)
    assert "programs.dibao.max_monthly" in str(caught.value)


def test_misspelt_key_is_a_config_error_naming_it(tmp_path: Path) -> None:
    text = _shipped_text().replace("[programs.orphan]\n", "[programs.orphan]\npayment_dya = 3\n")
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_programs(path)
    assert str(path) in str(caught.value)
    assert "programs.orphan.payment_dya" in str(caught.value)


def test_invalid_toml_is_a_config_error_naming_file_and_line(tmp_path: Path) -> None:
    # A TOML syntax error has no parsed key to name; the line is what tells a person where to look.
    text, line = _set_key(_shipped_text(), "programs.temporary", "payment_day", "= 15")
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_programs(path)
    message = str(caught.value)
    assert str(path) in message
    assert "TOML" in message
    assert f"line {line}" in message


def test_missing_config_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as caught:
        load_programs(path)
    assert str(path) in str(caught.value)


def test_config_not_in_utf8_is_a_config_error_naming_it(tmp_path: Path) -> None:
    # An editor on a Chinese Windows desktop saves "ANSI", i.e. GBK: the Chinese names then
    # are not UTF-8. That must be reported as a config problem, not crash with a codec error.
    path = tmp_path / "programs.toml"
    path.write_bytes(_shipped_text().encode("gbk"))
    with pytest.raises(ConfigError) as caught:
        load_programs(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        '[[programs]]\nname = "最低生活保障"\n',
        'programs = "dibao"\n',
        "departments = [1, 2]\n",
    ],
    ids=["array_of_tables", "string", "array"],
)
def test_sections_that_are_not_tables_are_a_config_error(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_programs(path)
    assert str(path) in str(caught.value)
