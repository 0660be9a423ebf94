"""Logins of staff members: passwords, TOTP, lockouts, as events and pure rules.

A staff member's login is a small aggregate, `Login` (its id derived from the staff id). What
an admin or the staff member did to it is an event: `Login.PasswordSet` (by an admin, an
argon2id hash, perhaps temporary), `Login.PasswordChanged` (by the staff member), and
`Login.TotpEnrolled` (by an admin; the TOTP secret is in the event, so with
``AIDLEDGER_CIPHER_KEY`` it is stored encrypted like every event payload). A password is
never stored in clear, neither in an event nor in a table.

What happens at each login — attempts, failures, lockouts, sessions, personal tokens — is
operational state, not ledger history: it lives in tables of its own (`ledger.sessions`).

The rules, as pure functions and checks on the aggregate:

- Who manages a login (`check_may_manage_login`): an admin covering the staff member's
  region, for someone else. An admin may set their own password or enrol their own TOTP only
  while no other admin can log in (the first login of a store, as the first staff import may
  name its own admin); after that another admin must.
- TOTP (`totp_required`): required for ``finance_approver``, ``supervisor`` and ``admin``; a
  login of such a role with no TOTP enrolled is refused with a message saying so, never let
  in on the password alone. Anyone with TOTP enrolled needs a valid code, used once.
- Lockout (`Lockout`): five failed logins in a row lock the account for fifteen minutes;
  attempts while locked are refused without being judged and never extend the lock.
- A temporary password (`--temporary`) must be changed at the first login: until then the
  session may do nothing else (`PasswordChangeRequired`).
- The actor of an act through the console or API is the logged-in staff member
  (`check_acting_as`).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, Self
from uuid import UUID

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from ledger.duties import Actor, DutyRefused
from ledger.errors import AidLedgerError, InvalidValue, NotAuthorised
from ledger.events import LedgerAggregate, register_event_topics
from ledger.ids import derived_id

#: Failed logins in a row that lock an account, and for how long.
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)

#: Roles whose login needs a TOTP code: they move money or manage who may.
TOTP_ROLES = frozenset({"finance_approver", "supervisor", "admin"})

#: The issuer shown in authenticator apps, and the TOTP time step.
TOTP_ISSUER = "aidledger"
TOTP_STEP_SECONDS = 30

#: Length limits of a password (the upper one bounds the work of hashing one).
MIN_PASSWORD = 10
MAX_PASSWORD = 256


# -- refusals ----------------------------------------------------------------------------------


class LoginFailed(AidLedgerError):
    """Wrong staff id, password or TOTP code (the message never says which of id or password)."""


class AccountLocked(AidLedgerError):
    """Too many failed logins: the account is locked until ``until``."""

    def __init__(self, staff_id: str, until: datetime) -> None:
        self.until = until
        super().__init__(
            f"{staff_id} is locked after {MAX_FAILURES} failed logins until "
            f"{until.astimezone(UTC).isoformat(timespec='seconds')}: try again then, "
            "or ask an admin to set a new password"
        )


class TotpNotEnrolled(NotAuthorised):
    """The staff member's role needs TOTP and none is enrolled: refused, not let in."""


class PasswordChangeRequired(NotAuthorised):
    """The session was opened with a temporary password: it may only change the password."""


class NotLoggedIn(AidLedgerError):
    """No valid session or personal token (missing, unknown, expired or ended)."""


class WeakPassword(InvalidValue):
    """A new password breaks a rule of `check_new_password`."""


# -- pure rules --------------------------------------------------------------------------------


def totp_required(roles: Collection[str]) -> bool:
    """Whether a staff member holding ``roles`` needs a TOTP code to log in."""
    return bool(TOTP_ROLES.intersection(roles))


def check_may_manage_login(
    actor: Actor,
    staff_id: str,
    staff_region: str,
    *,
    to: str,
    admins_who_can_log_in: Collection[str],
) -> None:
    """Refuse unless ``actor`` may ``to`` (e.g. "set the password of") ``staff_id``'s login.

    An admin covering the staff member's region, for someone else. Their own login only while
    no other admin can log in (``admins_who_can_log_in``: admins with a password and, as their
    role needs, a TOTP enrolled): a store's first admin has no one else to do it.
    """
    actor.require("admin", to=f"{to} {staff_id}")
    actor.require_scope(staff_region, to=f"{to} {staff_id}")
    others = set(admins_who_can_log_in) - {actor.staff_id}
    if actor.staff_id == staff_id and others:
        raise DutyRefused(
            f"{actor.staff_id} may not {to} {staff_id}: nobody manages their own login "
            f"(another admin must: {', '.join(sorted(others))}); to change your own "
            "password, log in and change it (the console, or POST /api/v1/password)"
        )


class Verdict(StrEnum):
    """What a login attempt came to, once the account was found not locked."""

    ok = "ok"
    bad_password = "bad_password"
    totp_missing = "totp_missing"
    totp_wrong = "totp_wrong"
    totp_not_enrolled = "totp_not_enrolled"

    @property
    def counts_as_failure(self) -> bool:
        """A guess that failed counts towards the lockout; a login refused for want of a TOTP
        enrolment is a missing set-up, not a guess."""
        return self in (Verdict.bad_password, Verdict.totp_missing, Verdict.totp_wrong)


def judge_login(
    *,
    password_ok: bool,
    roles: Collection[str],
    totp_enrolled: bool,
    totp_given: bool,
    totp_ok: bool,
) -> Verdict:
    """The verdict on one attempt: the password first, then TOTP (required by the role, or
    because one is enrolled)."""
    if not password_ok:
        return Verdict.bad_password
    if not totp_enrolled:
        return Verdict.totp_not_enrolled if totp_required(roles) else Verdict.ok
    if not totp_given:
        return Verdict.totp_missing
    return Verdict.ok if totp_ok else Verdict.totp_wrong


@dataclass(frozen=True)
class Lockout:
    """An account's failed logins in a row, and the end of its lock (if it was ever locked)."""

    failures: int = 0
    locked_until: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def after_failure(self, now: datetime) -> Lockout:
        """The state after a failed attempt at ``now``: the fifth in a row locks."""
        if self.locked(now):  # judged before the lock? never extend it
            return self
        # A lock that has ended starts the count again.
        failures = (0 if self.locked_until is not None else self.failures) + 1
        if failures >= MAX_FAILURES:
            return Lockout(0, now + LOCKOUT)
        return Lockout(failures, None)

    def after_success(self) -> Lockout:
        return Lockout()


def check_new_password(new: str, *, staff_id: str, old: str | None = None) -> None:
    """Refuse a new password that is too short or long, holds the staff id, or is the old one."""
    problems = []
    if len(new) < MIN_PASSWORD:
        problems.append(f"at least {MIN_PASSWORD} characters")
    if len(new) > MAX_PASSWORD:
        problems.append(f"at most {MAX_PASSWORD} characters")
    if staff_id and staff_id.lower() in new.lower():
        problems.append("not containing the staff id")
    if old is not None and hmac.compare_digest(new.encode(), old.encode()):
        problems.append("different from the old one")
    if problems:
        raise WeakPassword("the new password must be " + ", ".join(problems))


def new_temporary_password(staff_id: str) -> str:
    """A temporary password an admin hands over (the console shows it once): 16 random
    characters, never holding the staff id."""
    while True:
        candidate = secrets.token_urlsafe(12)
        if staff_id.lower() not in candidate.lower():
            check_new_password(candidate, staff_id=staff_id)
            return candidate


def check_may_list_logins(actor: Actor) -> None:
    """Admins see who has a login (a password, a temporary one, a TOTP)."""
    actor.require("admin", to="list the staff's logins")


def check_acting_as(staff_id: str, by: object) -> None:
    """The actor of an act through the console or API is the logged-in staff member: a body
    naming anyone else (``by``) is refused."""
    if by is not None and by != staff_id:
        raise DutyRefused(
            f"{staff_id} may not act as {by}: an act through the console or API is recorded "
            "as the logged-in staff member (leave out 'by', or give your own staff id)"
        )


# -- passwords and TOTP ------------------------------------------------------------------------


def password_hasher(
    *, time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4
) -> PasswordHasher:
    """An argon2id hasher (the defaults: RFC 9106's second recommended option). Each hash
    carries its own parameters, so changing them later still verifies older hashes."""
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
    )


def verify_password(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    """Whether ``password`` is the one ``password_hash`` was made from."""
    try:
        return bool(hasher.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def new_totp_secret() -> str:
    """A fresh TOTP secret (160 bits, base32, as authenticator apps take it)."""
    import pyotp

    return pyotp.random_base32()


def provisioning_uri(secret: str, staff_id: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (usually as a QR code)."""
    import pyotp

    return pyotp.TOTP(secret).provisioning_uri(name=staff_id, issuer_name=TOTP_ISSUER)


def totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step a code belongs to, if it is valid at ``now`` give or take one step (a
    phone's clock drifts); None if it is not. A login accepts each step once."""
    import pyotp

    code = code.strip()
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    step = totp.timecode(now)
    for candidate in (step, step - 1, step + 1):
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


# -- the aggregate -----------------------------------------------------------------------------


def login_aggregate_id(staff_id: str) -> UUID:
    return derived_id("login", staff_id)


class Login(LedgerAggregate):
    """A staff member's login: their password's hash and their TOTP secret."""

    class Opened(LedgerAggregate.Created):
        """An admin gave the staff member a login (with its first password or TOTP)."""

        TOPIC: ClassVar[str] = "aidledger.LoginOpened"
        staff_id: str

        def apply(self, aggregate: Login) -> None:
            aggregate.staff_id = self.staff_id
            aggregate.password_hash = None
            aggregate.temporary = False
            aggregate.totp_secret = None

    class PasswordSet(LedgerAggregate.Event):
        """An admin set the password (``temporary``: to be changed at the first login)."""

        TOPIC: ClassVar[str] = "aidledger.LoginPasswordSet"
        staff_id: str
        password_hash: str
        temporary: bool

        def apply(self, aggregate: Login) -> None:
            aggregate.password_hash = self.password_hash
            aggregate.temporary = self.temporary

    class PasswordChanged(LedgerAggregate.Event):
        """The staff member changed their own password, logged in."""

        TOPIC: ClassVar[str] = "aidledger.LoginPasswordChanged"
        staff_id: str
        password_hash: str

        def apply(self, aggregate: Login) -> None:
            aggregate.password_hash = self.password_hash
            aggregate.temporary = False

    class TotpEnrolled(LedgerAggregate.Event):
        """An admin enrolled a TOTP secret (replacing any earlier one)."""

        TOPIC: ClassVar[str] = "aidledger.LoginTotpEnrolled"
        staff_id: str
        secret: str

        def apply(self, aggregate: Login) -> None:
            aggregate.totp_secret = self.secret

    if TYPE_CHECKING:
        staff_id: str
        password_hash: str | None
        temporary: bool
        totp_secret: str | None

    @classmethod
    def open(cls, staff_id: str, *, by: str) -> Self:
        """A new login, before its first password or TOTP (recorded with them)."""
        return cls._create(cls.Opened, id=login_aggregate_id(staff_id), by=by, staff_id=staff_id)

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None

    @property
    def totp_enrolled(self) -> bool:
        return self.totp_secret is not None

    def set_password(
        self,
        actor: Actor,
        password_hash: str,
        *,
        temporary: bool,
        staff_region: str,
        admins_who_can_log_in: Collection[str],
    ) -> None:
        """An admin sets the password (see `check_may_manage_login`)."""
        check_may_manage_login(
            actor,
            self.staff_id,
            staff_region,
            to="set the password of",
            admins_who_can_log_in=admins_who_can_log_in,
        )
        self.trigger_event(
            self.PasswordSet,
            by=actor.staff_id,
            staff_id=self.staff_id,
            password_hash=password_hash,
            temporary=temporary,
        )

    def enrol_totp(
        self,
        actor: Actor,
        secret: str,
        *,
        staff_region: str,
        admins_who_can_log_in: Collection[str],
    ) -> None:
        """An admin enrols a TOTP secret (see `check_may_manage_login`)."""
        check_may_manage_login(
            actor,
            self.staff_id,
            staff_region,
            to="enrol the TOTP of",
            admins_who_can_log_in=admins_who_can_log_in,
        )
        self.trigger_event(
            self.TotpEnrolled, by=actor.staff_id, staff_id=self.staff_id, secret=secret
        )

    def change_password(self, staff_id: str, password_hash: str) -> None:
        """The staff member, logged in, changes their own password (the old one checked by
        the caller, against this login's hash)."""
        self._check_own(staff_id)
        self.trigger_event(
            self.PasswordChanged, by=staff_id, staff_id=self.staff_id, password_hash=password_hash
        )

    def _check_own(self, staff_id: str) -> None:
        if staff_id != self.staff_id:
            raise DutyRefused(
                f"{staff_id} may not change the password of {self.staff_id}: only its owner, "
                "logged in (an admin sets a new one: aidledger staff password)"
            )

    def can_log_in(self, roles: Collection[str]) -> bool:
        """Whether a staff member holding ``roles`` could log in with this login (a password,
        and a TOTP if the role needs one)."""
        return self.has_password and (self.totp_enrolled or not totp_required(roles))


register_event_topics(Login, "aidledger.Login")
