"""Files sent to the API to import or apply (SQLite and PostgreSQL): refused before a byte is
read without a login, without the session's CSRF token, or for another's ``by``; above the
largest input allowed, 413; refusals name the file as sent; nothing recorded."""

from __future__ import annotations

import pytest

from tests.builders import (
    ADMIN,
    CASEWORKER,
    FINANCE,
    Site,
    csrf_of,
    head,
)
from tests.conftest import FIXTURES

CASES = (FIXTURES / "cases.csv").read_bytes()


def events(site: Site) -> int:
    with site.services() as svc:
        return head(svc)


def test_an_upload_without_a_login_or_its_csrf_token_or_for_another_is_refused(
    site: Site,
) -> None:
    before = events(site)
    url = "/api/v1/imports/cases?filename=cases.csv"
    assert site.client().post(url, content=CASES).status_code == 401
    caseworker = site.logged_in(CASEWORKER)
    refused = caseworker.post(url, content=CASES)
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
    csrf = {"X-CSRF-Token": csrf_of(caseworker)}
    other = caseworker.post(f"{url}&by={FINANCE}", content=CASES, headers=csrf)
    assert other.status_code == 403 and f"may not act as {FINANCE}" in other.json()["error"]
    unnamed = caseworker.post("/api/v1/imports/cases", content=CASES, headers=csrf)
    assert unnamed.status_code == 422 and "filename" in unnamed.json()["error"]
    unknown = caseworker.post("/api/v1/imports/pets?filename=a.csv", content=CASES, headers=csrf)
    assert unknown.status_code == 422 and "unknown import kind" in unknown.json()["error"]
    assert events(site) == before

    done = caseworker.post(f"{url}&by={CASEWORKER}", content=CASES, headers=csrf)
    assert done.status_code == 200, done.text
    assert (done.json()["filename"], done.json()["new"]) == ("cases.csv", 5)
    again = caseworker.post(url, content=CASES, headers=csrf)
    assert again.json()["already_imported"] is True


def test_a_refused_file_is_named_as_sent_with_its_lines(site: Site) -> None:
    caseworker = site.logged_in(CASEWORKER)
    bad = CASES.replace(b"610102195001010011", b"not-an-id-number")
    before = events(site)
    refused = caseworker.post(
        "/api/v1/imports/cases?filename=december.csv",
        content=bad,
        headers={"X-CSRF-Token": csrf_of(caseworker)},
    )
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error.startswith("december.csv: refused") and "december.csv: line 2" in error
    assert "aidledger-upload" not in error
    assert events(site) == before


def test_a_file_above_the_largest_input_is_413_and_records_nothing(site: Site) -> None:
    from dataclasses import replace

    from aidledger.web import in_process_app

    app, pool = in_process_app(
        site.settings.model_copy(update={"max_input_bytes": 200}), clock=site.clock
    )
    small = replace(site, app=app, pool=pool)
    try:
        caseworker = small.logged_in(CASEWORKER)
        before = events(small)
        answer = caseworker.post(
            "/api/v1/imports/cases?filename=cases.csv",
            content=CASES,
            headers={"X-CSRF-Token": csrf_of(caseworker)},
        )
        assert answer.status_code == 413
        assert events(small) == before
        fits = caseworker.post(
            "/api/v1/imports/cases?filename=one.csv",
            content=CASES[:199],
            headers={"X-CSRF-Token": csrf_of(caseworker)},
        )
        assert fits.status_code != 413, "a body within the limit is read"
    finally:
        pool.close()


@pytest.mark.parametrize("name", ["../cases.csv", "a/b.csv"])
def test_a_name_with_a_folder_is_refused(site: Site, name: str) -> None:
    admin = site.logged_in(ADMIN)
    answer = admin.post(
        "/api/v1/config",
        params={"filename": name},
        content=b"x",
        headers={"X-CSRF-Token": csrf_of(admin)},
    )
    assert answer.status_code == 422 and "filename" in answer.json()["error"]
