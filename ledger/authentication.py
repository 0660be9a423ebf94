"""Logging in: the service `aidledger staff`, the console and the JSON API call.

Get-act-save over the `Login` aggregate (an admin sets a password or enrols TOTP; a staff
member changes their own password), and the operational tables of `ledger.sessions` for
what happens at each login (attempts, lockouts, sessions). The rules are in `ledger.logins`.

Two attempts on one account are judged one after the other (the lockout row is held while
the password is checked), so a burst of guesses is locked out after exactly five failures
and the rest are refused without hashing anything. Events are saved outside the tables'
transactions: on SQLite both would want the one write lock.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from argon2 import PasswordHasher
from eventsourcing.application import AggregateNotFoundError

from ledger import sessions
from ledger.duties import Actor, DutyRefused, StaffDirectory
from ledger.errors import NotAuthorised
from ledger.logins import (
    AccountLocked,
    Login,
    LoginFailed,
    NotLoggedIn,
    PasswordChangeRequired,
    TotpNotEnrolled,
    Verdict,
    check_may_list_logins,
    check_new_password,
    judge_login,
    login_aggregate_id,
    new_temporary_password,
    new_totp_secret,
    password_hasher,
    provisioning_uri,
    totp_required,
    totp_step,
    verify_password,
)
from ledger.period import Clock, utc_now
from ledger.programs import ProgramsConfig
from ledger.service import LedgerService
from ledger.sessions import LockoutRow, SessionRow
from ledger.store import Database, LedgerApp

#: The answer to a wrong staff id or password: it never says which.
WRONG_LOGIN = "wrong staff id or password"

#: Sessions that expired longer ago than this are forgotten at the next login.
KEEP_EXPIRED = timedelta(days=30)


class WrongPassword(NotAuthorised):
    """The old password given to change it is wrong (counted as a failed login)."""


@dataclass(frozen=True)
class Opened:
    """A session opened by a login: the token (shown once, never stored) and its terms."""

    token: str
    staff_id: str
    expires_at: datetime
    must_change_password: bool


@dataclass(frozen=True)
class StaffLogin:
    """A staff member as an admin sees their login: roles today, and what is set."""

    staff_id: str
    name: str
    roles: frozenset[str]
    region: str
    has_password: bool
    temporary: bool
    totp_enrolled: bool
    totp_required: bool


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to, decided in the lockout row's transaction."""

    verdict: Verdict | None  # None: refused while locked
    lockout: LockoutRow
    opened: Opened | None = None


class Logins(LedgerService):
    """Passwords, TOTP, sessions and personal tokens of staff members."""

    def __init__(
        self,
        app: LedgerApp,
        db: Database,
        config: ProgramsConfig,
        sync: Callable[[], object],
        *,
        today: date | None = None,
        batch_events: int = 2000,
        follow: Callable[[], AbstractContextManager[None]] | None = None,
        clock: Clock = utc_now,
        hasher: PasswordHasher | None = None,
        session_lifetime: timedelta = timedelta(hours=8),
    ) -> None:
        super().__init__(
            app, db, config, sync, today=today, batch_events=batch_events, follow=follow
        )
        self.clock = clock
        self.hasher = hasher or password_hasher()
        self.session_lifetime = session_lifetime
        self._dummy_hash: str | None = None

    # -- an admin's acts ---------------------------------------------------------------------

    def set_password(self, staff_id: str, password: str, *, temporary: bool, by: str) -> None:
        """An admin sets a staff member's password (``temporary``: to be changed at the first
        login). Every session of theirs ends."""
        check_new_password(password, staff_id=staff_id)
        directory = self.directory()
        actor, target = self._actors(directory, by, staff_id)
        login = self.login_of(staff_id) or Login.open(staff_id, by=actor.staff_id)
        login.set_password(
            actor,
            self.hasher.hash(password),
            temporary=temporary,
            staff_region=target.region,
            admins_who_can_log_in=self.admins_who_can_log_in(directory),
        )
        self._end_sessions(staff_id)
        self.app.save(login)

    def enrol_totp(self, staff_id: str, *, by: str) -> str:
        """An admin enrols a new TOTP secret for a staff member (replacing any other); returns
        the ``otpauth://`` URI to give them. Every session of theirs ends."""
        directory = self.directory()
        actor, target = self._actors(directory, by, staff_id)
        login = self.login_of(staff_id) or Login.open(staff_id, by=actor.staff_id)
        secret = new_totp_secret()
        login.enrol_totp(
            actor,
            secret,
            staff_region=target.region,
            admins_who_can_log_in=self.admins_who_can_log_in(directory),
        )
        self._end_sessions(staff_id)
        self.app.save(login)
        return provisioning_uri(secret, staff_id)

    def set_temporary_password(self, staff_id: str, *, by: str) -> str:
        """An admin gives a staff member a new temporary password, made here and returned
        once (to be shown once and handed over); it must be changed at the first login."""
        password = new_temporary_password(staff_id)
        self.set_password(staff_id, password, temporary=True, by=by)
        return password

    def staff_logins(self, *, by: str) -> list[StaffLogin]:
        """The staff registered today within the admin's region, with their logins."""
        directory = self.directory()
        admin = directory.actor(by, self.today)
        check_may_list_logins(admin)
        out = []
        for staff_id in sorted(directory.terms):
            try:
                member = directory.actor(staff_id, self.today)
            except DutyRefused:  # registered from a later date
                continue
            if not member.region.startswith(admin.region):
                continue
            login = self.login_of(staff_id)
            out.append(
                StaffLogin(
                    staff_id=staff_id,
                    name=directory.name_of(staff_id) or "",
                    roles=member.roles,
                    region=member.region,
                    has_password=login is not None and login.has_password,
                    temporary=login is not None and login.temporary,
                    totp_enrolled=login is not None and login.totp_enrolled,
                    totp_required=totp_required(member.roles),
                )
            )
        return out

    def _actors(self, directory: StaffDirectory, by: str, staff_id: str) -> tuple[Actor, Actor]:
        """The admin acting, and the staff member whose login it is (registered today)."""
        return directory.actor(by, self.today), directory.actor(staff_id, self.today)

    def admins_who_can_log_in(self, directory: StaffDirectory) -> set[str]:
        """The admins (today) whose login would let them in (see `Login.can_log_in`)."""
        out = set()
        for staff_id in directory.terms:
            try:
                member = directory.actor(staff_id, self.today)
            except DutyRefused:  # registered from a later date
                continue
            if "admin" in member.roles:
                login = self.login_of(staff_id)
                if login is not None and login.can_log_in(member.roles):
                    out.add(staff_id)
        return out

    def login_of(self, staff_id: str) -> Login | None:
        """The staff member's login, or None if they have none yet."""
        try:
            login: Login = self.app.repository.get(login_aggregate_id(staff_id))
        except AggregateNotFoundError:
            return None
        return login

    # -- a staff member's acts ---------------------------------------------------------------

    def log_in(self, staff_id: str, password: str, totp: str | None = None) -> Opened:
        """Check a login and open a session. Refused with `LoginFailed` (401), `AccountLocked`
        (423) or `TotpNotEnrolled` (403); each attempt on a registered account is noted."""
        now = self.clock()
        try:
            member = self.actor(staff_id)
        except DutyRefused:
            # The same work as checking a real password: the answer's delay does not tell
            # registered staff ids from others. Nothing is noted: an unknown id has no account.
            verify_password(self.hasher, self._dummy(), password)
            raise LoginFailed(WRONG_LOGIN) from None
        login = self.login_of(staff_id)
        with self.db.transaction() as tx:
            row = sessions.lockout_for_update(tx, staff_id)
            outcome = self._judge(member, login, row, password, totp, now)
            sessions.save_lockout(tx, staff_id, outcome.lockout)
            verdict = outcome.verdict
            sessions.record_attempt(tx, staff_id, now, verdict.value if verdict else "locked")
            if outcome.opened is not None:
                sessions.insert_session(
                    tx,
                    sessions.token_hash(outcome.opened.token),
                    staff_id,
                    created_at=now,
                    expires_at=outcome.opened.expires_at,
                    must_change_password=outcome.opened.must_change_password,
                )
                sessions.purge_sessions(tx, now - KEEP_EXPIRED)
        return self._answer(staff_id, member, outcome, now)

    def _judge(
        self,
        member: Actor,
        login: Login | None,
        row: LockoutRow,
        password: str,
        totp: str | None,
        now: datetime,
    ) -> Outcome:
        if row.lockout.locked(now):
            return Outcome(None, row)  # refused without checking: guesses learn nothing
        stored = login.password_hash if login is not None else None
        # A login without a password is checked against a dummy hash: the same work, so the
        # answer's delay does not tell it apart.
        checked = verify_password(self.hasher, stored or self._dummy(), password)
        password_ok = stored is not None and checked
        step = None
        if password_ok and login is not None and login.totp_secret is not None and totp:
            step = totp_step(login.totp_secret, totp, now)
            if step is not None and row.last_totp_step is not None and step <= row.last_totp_step:
                step = None  # a code already used
        verdict = judge_login(
            password_ok=password_ok,
            roles=member.roles,
            totp_enrolled=login is not None and login.totp_enrolled,
            totp_given=bool(totp),
            totp_ok=step is not None,
        )
        if verdict.counts_as_failure:
            return Outcome(verdict, LockoutRow(row.lockout.after_failure(now), row.last_totp_step))
        if verdict is not Verdict.ok or login is None:
            return Outcome(verdict, row)
        opened = Opened(
            token=sessions.new_token(),
            staff_id=member.staff_id,
            expires_at=now + self.session_lifetime,
            must_change_password=login.temporary,
        )
        last_step = step if step is not None else row.last_totp_step
        return Outcome(verdict, LockoutRow(row.lockout.after_success(), last_step), opened)

    def _answer(self, staff_id: str, member: Actor, outcome: Outcome, now: datetime) -> Opened:
        verdict, lockout = outcome.verdict, outcome.lockout.lockout
        if outcome.opened is not None:
            return outcome.opened
        if lockout.locked(now) and lockout.locked_until is not None:
            raise AccountLocked(staff_id, lockout.locked_until)
        if verdict is Verdict.totp_not_enrolled:
            held = ", ".join(sorted(member.roles))
            raise TotpNotEnrolled(
                f"{staff_id} holds {held}: logging in needs a TOTP code, and none is enrolled: "
                f"ask an admin to enrol one (aidledger staff totp {staff_id} --by ADMIN)"
            )
        if verdict is Verdict.totp_missing:
            raise LoginFailed(f"{staff_id} needs a TOTP code to log in (the authenticator app)")
        if verdict is Verdict.totp_wrong:
            raise LoginFailed("wrong TOTP code, or one already used: wait for the next one")
        raise LoginFailed(WRONG_LOGIN)

    def authenticate(self, token: str) -> SessionRow:
        """The session or personal token's row, if it is valid now; `NotLoggedIn` if not."""
        row = sessions.session_row(self.db, sessions.token_hash(token)) if token else None
        if row is None or not row.valid(self.clock()):
            raise NotLoggedIn("not logged in, or the session has ended: log in again")
        return row

    def require_full_session(self, row: SessionRow) -> None:
        """Refuse everything but a password change to a session opened with a temporary
        password."""
        if row.must_change_password:
            raise PasswordChangeRequired(
                f"{row.staff_id} logged in with a temporary password: change it first "
                "(POST /api/v1/password, or the console's password page)"
            )

    def change_password(self, token: str, old: str, new: str) -> None:
        """The logged-in staff member changes their own password. A wrong ``old`` counts as a
        failed login; their other sessions end, this one may do everything again."""
        session = self.authenticate(token)
        staff_id = session.staff_id
        check_new_password(new, staff_id=staff_id, old=old)
        login = self.login_of(staff_id)
        now = self.clock()
        with self.db.transaction() as tx:
            row = sessions.lockout_for_update(tx, staff_id)
            locked = row.lockout.locked(now)
            ok = (
                not locked
                and login is not None
                and login.password_hash is not None
                and verify_password(self.hasher, login.password_hash, old)
            )
            if not locked and not ok:
                row = LockoutRow(row.lockout.after_failure(now), row.last_totp_step)
                sessions.save_lockout(tx, staff_id, row)
            outcome = "locked" if locked else "password_changed" if ok else "bad_old_password"
            sessions.record_attempt(tx, staff_id, now, outcome)
        if row.lockout.locked(now) and row.lockout.locked_until is not None:
            raise AccountLocked(staff_id, row.lockout.locked_until)
        if not ok or login is None:
            raise WrongPassword(f"{staff_id}: the old password is wrong; nothing was changed")
        login.change_password(staff_id, self.hasher.hash(new))
        self.app.save(login)
        hashed = sessions.token_hash(token)
        with self.db.transaction() as tx:
            sessions.end_sessions_of(tx, staff_id, now, keep=hashed)
            sessions.password_changed(tx, hashed)

    def log_out(self, token: str) -> None:
        """End the session or personal token (nothing if it had ended already)."""
        with self.db.transaction() as tx:
            sessions.end_session(tx, sessions.token_hash(token), self.clock())

    def _end_sessions(self, staff_id: str) -> None:
        with self.db.transaction() as tx:
            sessions.end_sessions_of(tx, staff_id, self.clock())

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(sessions.new_token())
        return self._dummy_hash
