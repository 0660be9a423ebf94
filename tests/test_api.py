"""The JSON API's acts and reads (SQLite and PostgreSQL): each route acts as the logged-in
staff member through the CLI's service call, answers as its --format json, and is refused
with the right status — and nothing recorded — without a login, with another's CSRF token,
for another's ``by``, or by the aggregates' duties."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ledger.period import Period
from tests.builders import (
    ADMIN,
    AUDITOR,
    CASEWORKER,
    FINANCE,
    FINANCE_APPROVER,
    FINANCE_APPROVER_2,
    SUPERVISOR,
    Site,
    TestClient,
    csrf_of,
    head,
    load,
    totp_secret,
)
from tests.conftest import FIXTURES

#: C003's beneficiary died on 2026-04-12: June's payment to it is held (critical).
PERIOD = "2026-06"


@pytest.fixture
def june(site: Site) -> dict[str, str]:
    """The fixture's cases and deaths, and June's run prepared: its id and its held payment."""
    with site.services() as svc:
        load(svc, "cases", FIXTURES / "cases.csv")
        load(svc, "deaths", FIXTURES / "deaths.csv")
        uri = svc.logins.enrol_totp(FINANCE_APPROVER_2, by=ADMIN)
        site.secrets[FINANCE_APPROVER_2] = totp_secret(uri)
        run = svc.payouts.prepare(Period.parse(PERIOD), program=None, by=FINANCE)
        ((held, finding),) = svc.db.query(
            "SELECT p.payment_id, f.finding_id FROM payments p "
            "JOIN findings f ON f.payment_id = p.payment_id WHERE p.held <> ''"
        )
    return {"run": run.run_id or "", "held": held, "finding": finding}


def events(site: Site) -> int:
    with site.services() as svc:
        return head(svc)


class As:
    """A staff member's logged-in client (session cookie), posting with its CSRF token."""

    def __init__(self, site: Site, staff_id: str) -> None:
        site.clock.advance(seconds=31)  # each TOTP code is accepted once
        self.client: TestClient = site.logged_in(staff_id)
        self.staff_id = staff_id

    def get(self, url: str, **params: str) -> Any:
        return self.client.get(url, params=params)

    def post(self, url: str, body: dict[str, Any] | None = None, **kw: Any) -> Any:
        headers = {"X-CSRF-Token": csrf_of(self.client), **kw.pop("headers", {})}
        return self.client.post(url, json=body, headers=headers, **kw)


ACTS = [
    ("/api/v1/runs/R202606-all-1/approve", {}),
    ("/api/v1/runs/R202606-all-1/cancel", {"reason": "wrong"}),
    ("/api/v1/payments/202606R1/release", {"reason": "alive"}),
    ("/api/v1/findings/F-1/assign", {"to": FINANCE_APPROVER}),
    ("/api/v1/findings/F-1/comment", {"text": "seen"}),
    ("/api/v1/findings/F-1/resolve", {"reason": "corrected"}),
]
READS = [
    "/api/v1/runs",
    "/api/v1/runs/R202606-all-1",
    "/api/v1/findings?period=2026-06",
    "/api/v1/cases/C001/history?reason=audit",
    "/api/v1/recoveries",
    "/api/v1/access-log",
]


# -- refused before anything -----------------------------------------------------------------


def test_every_route_without_a_valid_login_is_401_and_records_nothing(
    site: Site, june: dict[str, str]
) -> None:
    before = events(site)
    anonymous, forged = site.client(), site.client()
    forged.cookies.set("aidledger_session", "forged")
    bearer = {"Authorization": "Bearer not-a-token"}
    for client in (anonymous, forged):
        for url, body in ACTS:
            assert client.post(url, json=body).status_code == 401, url
            assert client.post(url, json=body, headers=bearer).status_code == 401, url
        for url in READS:
            assert client.get(url).status_code == 401, url
            assert client.get(url, headers=bearer).status_code == 401, url
    assert events(site) == before


def test_a_post_with_a_missing_wrong_or_anothers_csrf_token_is_403_and_records_nothing(
    site: Site, june: dict[str, str]
) -> None:
    approver, auditor = As(site, FINANCE_APPROVER), As(site, AUDITOR)
    before = events(site)
    url = f"/api/v1/runs/{june['run']}/approve"
    for token in (None, "", "wrong", csrf_of(auditor.client)):
        headers = {} if token is None else {"X-CSRF-Token": token}
        refused = approver.client.post(url, json={}, headers=headers)
        assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
    assert events(site) == before
    with site.services() as svc:
        assert svc.payouts.review.list_runs(PERIOD)[0]["status"] == "prepared"


def test_another_users_session_token_acts_as_that_user_only(
    site: Site, june: dict[str, str]
) -> None:
    """A caseworker's own token cannot approve; taking the approver's token is acting as the
    approver (what a stolen token means: hence HttpOnly, SameSite=Strict and expiry)."""
    caseworker = As(site, CASEWORKER)
    site.clock.advance(seconds=31)
    token = site.login(site.client(), FINANCE_APPROVER).json()["token"]
    url = f"/api/v1/runs/{june['run']}/approve"
    own = caseworker.client.post(url, headers={"X-CSRF-Token": csrf_of(caseworker.client)})
    assert own.status_code == 403
    assert own.json()["error"].startswith(f"{CASEWORKER} may not approve a payout run")
    with_cookie_and_bearer = caseworker.client.post(
        url, headers={"Authorization": f"Bearer {token}"}
    )
    assert with_cookie_and_bearer.json()["approved_by"] == FINANCE_APPROVER


def test_a_body_naming_another_staff_id_is_403_and_records_nothing(
    site: Site, june: dict[str, str]
) -> None:
    approver = As(site, FINANCE_APPROVER)
    before = events(site)
    url = f"/api/v1/runs/{june['run']}/approve"
    refused = approver.post(url, {"by": FINANCE_APPROVER_2})
    assert refused.status_code == 403
    assert refused.json()["error"].startswith(f"{FINANCE_APPROVER} may not act as S008")
    assert events(site) == before
    assert approver.post(url, {"by": FINANCE_APPROVER}).status_code == 200


def test_bad_bodies_and_queries_are_422(site: Site, june: dict[str, str]) -> None:
    finance = As(site, FINANCE)
    run = june["run"]
    for answer in (
        finance.post(f"/api/v1/runs/{run}/cancel", {}),
        finance.post(f"/api/v1/runs/{run}/cancel", {"reason": ""}),
        finance.post(f"/api/v1/runs/{run}/cancel", {"reason": "x", "extra": 1}),
        finance.client.post(
            f"/api/v1/runs/{run}/cancel",
            content=b"reason=x",
            headers={"X-CSRF-Token": csrf_of(finance.client), "Content-Type": "text/plain"},
        ),
        finance.get("/api/v1/findings"),
        finance.get("/api/v1/findings", period="2026-13"),
        finance.get("/api/v1/findings", period=PERIOD, status="closed"),
        finance.get("/api/v1/findings", period=PERIOD, region="61%"),
        finance.get("/api/v1/cases/C001/history", as_of="2026-02-30"),
        finance.get("/api/v1/recoveries", status="lost"),
    ):
        assert answer.status_code == 422, answer.text


# -- runs ----------------------------------------------------------------------------------------


def test_approval_and_the_four_eyes_release_of_a_critical_hold(
    site: Site, june: dict[str, str]
) -> None:
    approver, approver_2 = As(site, FINANCE_APPROVER), As(site, FINANCE_APPROVER_2)
    supervisor, caseworker = As(site, SUPERVISOR), As(site, CASEWORKER)
    run, held = june["run"], june["held"]
    refused = caseworker.post(f"/api/v1/runs/{run}/approve")
    assert refused.status_code == 403, "a caseworker posting an approval"
    approved = approver.post(f"/api/v1/runs/{run}/approve")
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["run_id"], body["approved_by"], body["releases"]) == (
        run,
        FINANCE_APPROVER,
        False,
    )
    assert body["held"] == {"payments": 1, "amount": "200.00"}
    assert body["chain_head"].startswith("sha256:")
    release = f"/api/v1/payments/{held}/release"
    assert caseworker.post(release, {"reason": "alive"}).status_code == 403
    first = approver.post(release, {"reason": "a namesake in the death feed"})
    assert first.json() == {
        "payment_id": held,
        "released_by": FINANCE_APPROVER,
        "released": False,
        "held": ["paid_after_death"],
    }
    again = approver_2.post(release, {"reason": "me too"})
    assert again.status_code == 403, "the second release of a critical hold: a supervisor"
    second = supervisor.post(release, {"reason": "visited: alive"})
    assert second.json()["released"] is True
    assert approver.post(f"/api/v1/runs/{run}/approve").status_code == 403, "a releaser"
    releases = approver_2.post(f"/api/v1/runs/{run}/approve")
    assert releases.json()["releases"] is True
    assert releases.json()["payable"] == {"payments": 1, "amount": "200.00"}
    with site.services() as svc:
        (listed,) = svc.payouts.review.list_runs(PERIOD)
    assert (listed["status"], listed["approved_by"]) == ("approved", FINANCE_APPROVER)
    shown = approver.get(f"/api/v1/runs/{run}").json()
    with site.services() as svc:
        assert shown == svc.payouts.review.show(run)


def test_a_run_is_cancelled_by_finance_with_a_reason(site: Site, june: dict[str, str]) -> None:
    finance, auditor = As(site, FINANCE), As(site, AUDITOR)
    url = f"/api/v1/runs/{june['run']}/cancel"
    before = events(site)
    assert auditor.post(url, {"reason": "wrong month"}).status_code == 403
    assert events(site) == before
    done = finance.post(url, {"reason": "prepared before the standard was raised"})
    assert done.json() == {"run_id": june["run"], "status": "cancelled", "cancelled_by": FINANCE}
    assert finance.get("/api/v1/runs").json()[0]["status"] == "cancelled"
    assert finance.post(url, {"reason": "twice"}).status_code == 422, "already cancelled"
    assert finance.post("/api/v1/runs/R209912-all-1/cancel", {"reason": "x"}).status_code == 404


# -- findings ------------------------------------------------------------------------------------


def test_findings_are_listed_as_the_cli_lists_them_and_the_listing_logged(
    site: Site, june: dict[str, str]
) -> None:
    from reconciliation.service import list_findings

    auditor = As(site, AUDITOR)
    refused = auditor.get("/api/v1/findings", period=PERIOD)
    assert refused.status_code == 422 and "say why" in refused.json()["error"]
    assert auditor.get("/api/v1/access-log").json() == []
    listed = auditor.get("/api/v1/findings", period=PERIOD, reason="quarterly audit")
    with site.services() as svc:
        assert listed.json() == list_findings(svc.db, period=PERIOD) != []
    for filters, count in (
        ({"type": "paid_after_death"}, 1),
        ({"type": "missing_result"}, 0),
        ({"severity": "critical"}, 1),
        ({"region": "610102"}, 1),
        ({"region": "610103"}, 0),
        ({"status": "resolved"}, 0),
        ({"status": "all"}, 1),
    ):
        answer = auditor.get("/api/v1/findings", period=PERIOD, reason="audit", **filters)
        assert len(answer.json()) == count, filters
    (latest, *_) = auditor.get("/api/v1/access-log").json()
    assert (latest["staff_id"], latest["channel"], latest["kind"], latest["reason"]) == (
        AUDITOR,
        "api",
        "findings",
        "audit",
    )


def test_the_finding_workflow_and_an_auditor_may_only_comment(
    site: Site, june: dict[str, str]
) -> None:
    supervisor, auditor = As(site, SUPERVISOR), As(site, AUDITOR)
    base = f"/api/v1/findings/{june['finding']}"
    before = events(site)
    for url, body in (
        (f"{base}/assign", {"to": FINANCE_APPROVER}),
        (f"{base}/resolve", {"reason": "false_positive"}),
        (f"/api/v1/runs/{june['run']}/approve", {}),
        (f"/api/v1/runs/{june['run']}/cancel", {"reason": "x"}),
        (f"/api/v1/payments/{june['held']}/release", {"reason": "x"}),
    ):
        assert auditor.post(url, body).status_code == 403, url
    assert events(site) == before
    assigned = supervisor.post(f"{base}/assign", {"to": FINANCE_APPROVER})
    assert assigned.json()["assigned_to"] == FINANCE_APPROVER
    assert auditor.post(f"{base}/comment", {"text": "looked at the death record"}).is_success
    assert auditor.post(f"{base}/comment", {"text": ""}).status_code == 422
    resolved = supervisor.post(f"{base}/resolve", {"reason": "false_positive", "comment": "alive"})
    assert resolved.json()["resolution"] == "false_positive"
    assert supervisor.post(f"{base}/resolve", {"reason": "corrected"}).status_code == 422
    assert supervisor.post("/api/v1/findings/F-NONE/comment", {"text": "x"}).status_code == 404
    with site.services() as svc:
        kinds = [e["type"] for e in svc.reconciliation.history(june["finding"])]
    assert kinds[-3:] == ["FindingAssigned", "FindingCommented", "FindingResolved"]


def test_injected_text_is_kept_as_text_and_breaks_nothing(site: Site, june: dict[str, str]) -> None:
    auditor = As(site, AUDITOR)
    base = f"/api/v1/findings/{june['finding']}"
    texts = ["<script>alert(1)</script>", "'); DROP TABLE payments;--", '" OR 1=1 --']
    for text in texts:
        assert auditor.post(f"{base}/comment", {"text": text}).is_success
    with site.services() as svc:
        history = svc.reconciliation.history(june["finding"])
        comments = [e["comment"] for e in history if e["type"] == "FindingCommented"]
        assert comments == texts
        assert svc.db.query("SELECT COUNT(*) FROM payments")[0][0] > 0
    assert auditor.get("/api/v1/runs").status_code == 200


# -- cases, recoveries and the access log --------------------------------------------------------


def test_a_case_history_is_the_clis_masked_by_role_and_logged(
    site: Site, june: dict[str, str]
) -> None:
    from ledger.access import Viewer

    auditor, admin = As(site, AUDITOR), As(site, ADMIN)
    url = "/api/v1/cases/C001/history"
    refused = auditor.get(url)
    assert refused.status_code == 422 and "say why" in refused.json()["error"]
    assert auditor.get("/api/v1/access-log").json() == [], "a refused view is not recorded"
    doc = auditor.get(url, reason="complaint 12", as_of="2026-06-30").json()
    with site.services() as svc:
        expected = svc.history.history(
            "C001", as_of=Period.parse(PERIOD).last_day, known_at=None, viewer=Viewer(None)
        )
    assert doc == json.loads(json.dumps(expected)) and doc["state"]["name"] == "王秀兰"
    masked = admin.get(url, as_of="2026-06-30").json()
    assert masked["state"]["name"] == "王*兰"
    assert masked["state"]["id_number"] == "610102********0011"
    assert "王秀兰" not in str(masked) and "6228480000000000011" not in str(masked)
    log = auditor.get("/api/v1/access-log", case="C001").json()
    assert [(r["staff_id"], r["kind"], r["reason"]) for r in log] == [
        (ADMIN, "case_history", ""),
        (AUDITOR, "case_history", "complaint 12"),
    ]
    assert auditor.get("/api/v1/access-log", staff=ADMIN).json() == log[:1]
    assert auditor.get("/api/v1/access-log", since="2099-01-01").json() == []
    assert auditor.get("/api/v1/cases/C999/history", reason="x").status_code == 404
    known = auditor.get(url, reason="x", known_at="2000-01-01")
    assert known.json()["events"] == []


def test_the_access_log_is_read_by_auditors_supervisors_and_admins_only(
    site: Site, june: dict[str, str]
) -> None:
    for reader in (AUDITOR, SUPERVISOR, ADMIN):
        assert As(site, reader).get("/api/v1/access-log").status_code == 200
    refused = As(site, FINANCE).get("/api/v1/access-log")
    assert refused.status_code == 403 and "read the access log" in refused.json()["error"]


def test_recoveries_are_listed_as_the_cli_lists_them(site: Site, june: dict[str, str]) -> None:
    finance = As(site, FINANCE)
    with site.services() as svc:
        expected = svc.recoveries.list(status="all")
    assert finance.get("/api/v1/recoveries", status="all").json() == expected
    assert finance.get("/api/v1/recoveries", case="C003").json() == []
