"""Login rules as pure functions: lockouts, TOTP, who manages a login, passwords (no store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from ledger.duties import Actor, DutyRefused
from ledger.logins import (
    LOCKOUT,
    MAX_FAILURES,
    Lockout,
    Login,
    Verdict,
    WeakPassword,
    check_acting_as,
    check_may_manage_login,
    check_new_password,
    judge_login,
    login_aggregate_id,
    totp_required,
    totp_step,
)

T0 = datetime(2026, 12, 15, 1, 0, tzinfo=UTC)
ADMIN = Actor("AD", frozenset({"admin"}), "610102")
PROVINCE_ADMIN = Actor("PA", frozenset({"admin"}), "61")
FINANCE = Actor("F1", frozenset({"finance"}), "610102")


def failures(n: int, start: Lockout | None = None, at: datetime = T0) -> Lockout:
    state = start or Lockout()
    for i in range(n):
        state = state.after_failure(at + timedelta(seconds=i))
    return state


# -- lockout ------------------------------------------------------------------------------------


def test_five_failures_in_a_row_lock_the_account_for_fifteen_minutes() -> None:
    four = failures(MAX_FAILURES - 1)
    assert (four.failures, four.locked(T0 + timedelta(seconds=4))) == (4, False)
    fifth_at = T0 + timedelta(seconds=4)
    five = four.after_failure(fifth_at)
    assert five.locked_until == fifth_at + LOCKOUT == fifth_at + timedelta(minutes=15)
    assert five.locked(fifth_at + timedelta(minutes=14, seconds=59))
    assert not five.locked(fifth_at + timedelta(minutes=15))


def test_attempts_while_locked_never_extend_the_lock() -> None:
    locked = failures(MAX_FAILURES)
    later = locked.after_failure(T0 + timedelta(minutes=10))
    assert later == locked


def test_a_success_clears_the_failures() -> None:
    assert failures(4).after_success() == Lockout()
    assert failures(4).after_success().after_failure(T0).failures == 1


def test_the_count_starts_again_once_a_lock_has_ended() -> None:
    locked = failures(MAX_FAILURES)
    assert locked.locked_until is not None
    after = locked.locked_until + timedelta(seconds=1)
    again = locked.after_failure(after)
    assert (again.failures, again.locked(after)) == (1, False)
    assert failures(MAX_FAILURES - 1, again, after).locked(after + timedelta(seconds=10))


# -- TOTP ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "required"),
    [
        ({"finance_approver"}, True),
        ({"supervisor"}, True),
        ({"admin"}, True),
        ({"caseworker", "admin"}, True),
        ({"caseworker"}, False),
        ({"approver"}, False),
        ({"finance"}, False),
        ({"auditor"}, False),
    ],
)
def test_totp_is_required_for_finance_approver_supervisor_and_admin(
    roles: set[str], required: bool
) -> None:
    assert totp_required(roles) is required


@pytest.mark.parametrize(
    ("password_ok", "roles", "enrolled", "given", "totp_ok", "verdict"),
    [
        (False, {"finance"}, False, False, False, Verdict.bad_password),
        (False, {"admin"}, True, True, True, Verdict.bad_password),
        (True, {"finance"}, False, False, False, Verdict.ok),
        (True, {"admin"}, False, False, False, Verdict.totp_not_enrolled),
        (True, {"admin"}, True, False, False, Verdict.totp_missing),
        (True, {"admin"}, True, True, False, Verdict.totp_wrong),
        (True, {"admin"}, True, True, True, Verdict.ok),
        # Once enrolled, a code is needed whatever the role.
        (True, {"finance"}, True, False, False, Verdict.totp_missing),
    ],
)
def test_the_verdict_on_a_login(
    password_ok: bool,
    roles: set[str],
    enrolled: bool,
    given: bool,
    totp_ok: bool,
    verdict: Verdict,
) -> None:
    assert (
        judge_login(
            password_ok=password_ok,
            roles=roles,
            totp_enrolled=enrolled,
            totp_given=given,
            totp_ok=totp_ok,
        )
        is verdict
    )


def test_failed_guesses_count_towards_the_lockout_and_a_missing_enrolment_does_not() -> None:
    counted = {v for v in Verdict if v.counts_as_failure}
    assert counted == {Verdict.bad_password, Verdict.totp_missing, Verdict.totp_wrong}


def test_a_totp_code_is_valid_one_step_either_side_and_no_further() -> None:
    secret = pyotp.random_base32()
    totp = pyotp.TOTP(secret)
    step = totp.timecode(T0)
    assert totp_step(secret, totp.at(T0), T0) == step
    assert totp_step(secret, totp.at(T0 - timedelta(seconds=30)), T0) == step - 1
    assert totp_step(secret, totp.at(T0 + timedelta(seconds=30)), T0) == step + 1
    assert totp_step(secret, totp.at(T0 - timedelta(seconds=90)), T0) is None
    assert totp_step(secret, "12345", T0) is None
    assert totp_step(secret, "abcdef", T0) is None


# -- who manages a login --------------------------------------------------------------------------


def test_only_an_admin_covering_the_staff_members_region_manages_their_login() -> None:
    check_may_manage_login(
        ADMIN, "F1", "610102", to="set the password of", admins_who_can_log_in=()
    )
    check_may_manage_login(
        PROVINCE_ADMIN, "F1", "610102", to="set the password of", admins_who_can_log_in=()
    )
    with pytest.raises(DutyRefused, match="needs the role admin"):
        check_may_manage_login(
            FINANCE, "C1", "610102", to="set the password of", admins_who_can_log_in=()
        )
    with pytest.raises(DutyRefused, match="outside"):
        check_may_manage_login(
            ADMIN, "X1", "610103", to="set the password of", admins_who_can_log_in=()
        )


def test_an_admin_manages_their_own_login_only_while_no_other_admin_can_log_in() -> None:
    # The store's first admin: nobody else could do it.
    check_may_manage_login(
        ADMIN, "AD", "610102", to="set the password of", admins_who_can_log_in=()
    )
    check_may_manage_login(
        ADMIN, "AD", "610102", to="set the password of", admins_who_can_log_in={"AD"}
    )
    with pytest.raises(DutyRefused, match="nobody manages their own login"):
        check_may_manage_login(
            ADMIN, "AD", "610102", to="set the password of", admins_who_can_log_in={"AD", "PA"}
        )
    with pytest.raises(DutyRefused, match="another admin must: PA"):
        check_may_manage_login(
            ADMIN, "AD", "610102", to="enrol the TOTP of", admins_who_can_log_in={"PA"}
        )


def test_the_login_aggregate_checks_before_it_records() -> None:
    login = Login.open("F1", by="AD")
    assert login.id == login_aggregate_id("F1")
    with pytest.raises(DutyRefused):
        login.set_password(
            FINANCE, "$argon2id$x", temporary=False, staff_region="610102", admins_who_can_log_in=()
        )
    assert len(login.collect_events()) == 1  # only its opening: nothing of the refused act
    login.set_password(
        ADMIN, "$argon2id$x", temporary=True, staff_region="610102", admins_who_can_log_in=()
    )
    assert (login.password_hash, login.temporary, login.can_log_in({"finance"})) == (
        "$argon2id$x",
        True,
        True,
    )
    assert not login.can_log_in({"admin"}), "an admin's login needs a TOTP too"
    with pytest.raises(DutyRefused, match="only its owner"):
        login.change_password("AD", "$argon2id$y")
    login.change_password("F1", "$argon2id$y")
    assert (login.password_hash, login.temporary) == ("$argon2id$y", False)
    events = login.collect_events()
    assert [type(e).__name__ for e in events] == ["PasswordSet", "PasswordChanged"]
    assert [e.by for e in events] == ["AD", "F1"]


# -- passwords and actors ---------------------------------------------------------------------


def test_a_new_password_is_long_enough_without_the_staff_id_and_not_the_old_one() -> None:
    check_new_password("horse-battery-staple", staff_id="S003", old="something-else-1")
    for bad, why in [
        ("short-1", "at least 10"),
        ("x" * 257, "at most 256"),
        ("my-s003-password", "staff id"),
        ("horse-battery-staple", "different from the old one"),
    ]:
        with pytest.raises(WeakPassword, match=why):
            check_new_password(bad, staff_id="S003", old="horse-battery-staple")


def test_acting_as_anyone_but_the_logged_in_staff_member_is_refused() -> None:
    check_acting_as("S003", None)
    check_acting_as("S003", "S003")
    with pytest.raises(DutyRefused, match="S003 may not act as S005"):
        check_acting_as("S003", "S005")
