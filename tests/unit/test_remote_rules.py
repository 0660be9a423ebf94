"""The rules of the command line through the API, without a store: the programs config's
``[security] actors``, an uploaded file's name, and results that travel as JSON and back."""

from __future__ import annotations

import pytest

from console.answers import prepared_doc, prepared_from, prepared_json
from console.api import check_upload_name
from disbursement.runs import PrepareResult
from ledger.errors import ConfigError, InvalidValue
from ledger.programs import parse_programs, shipped_config_path

SHIPPED = shipped_config_path().read_text(encoding="utf-8")


def test_a_config_says_who_may_act_any_by_default_or_only_the_authenticated() -> None:
    assert parse_programs(SHIPPED, "shipped").security.actors == "any"
    strict = parse_programs(SHIPPED + '\n[security]\nactors = "authenticated"\n', "strict")
    assert strict.security.actors == "authenticated"


@pytest.mark.parametrize("text", ['actors = "everyone"', 'actors = "any"\nlogins = true'])
def test_any_other_security_setting_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ConfigError, match="security"):
        parse_programs(SHIPPED + f"\n[security]\n{text}\n", "bad.toml")


@pytest.mark.parametrize("name", ["cases.csv", "十二月 低保.csv", "a..b.csv"])
def test_an_uploaded_files_plain_name_is_kept(name: str) -> None:
    assert check_upload_name(name) == name


@pytest.mark.parametrize(
    "name", [None, "", "../cases.csv", "/etc/passwd", "a/b.csv", "a\\b.csv", "..", ".", "x\n"]
)
def test_an_uploaded_files_name_with_a_folder_or_none_is_refused(name: str | None) -> None:
    with pytest.raises(InvalidValue, match="filename"):
        check_upload_name(name)


def test_a_prepares_result_travels_as_json_and_back_unchanged() -> None:
    r = PrepareResult(
        period="2026-12",
        scope="all",
        run_id="R202612-all-1",
        new_run=True,
        payments=3,
        amount=123456,
        added=3,
        added_amount=123456,
        held=1,
        recoveries=1,
        recovery_amount=5050,
        findings=2,
        by_kind={"regular": 120000, "arrears": 3456},
    )
    doc = prepared_doc(r)
    assert doc["amount"] == "1234.56" and doc["by_kind"]["arrears"] == "34.56"
    back = prepared_from(doc)
    assert back == r and back.changed
    assert prepared_json(back) == prepared_json(r)
