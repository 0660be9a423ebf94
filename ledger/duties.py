"""Staff duties: roles, scope by region, and interest (回避). Pure: no store, no I/O.

Who may do what is decided here and on the aggregates (`PayoutRun.approve`, `Payment.release`,
`Finding.resolve`, `Recovery.collect`), never in a service's branch. A service builds the
:class:`Actor` from the registers (`StaffDirectory`), then asks the aggregate to act.

- A role is one of :data:`ROLES`; a staff member holds one or more (``caseworker;approver``).
- A staff member's region is a prefix (2, 4, 6, 9 or 12 digits): they act only on cases whose
  ``region_code`` starts with it.
- Interest: a case's id number (or a household member's) is the staff member's own or a
  registered relative's, or the case's bank account is the staff member's own.
- A staff member's roles and region change over time: what counts is what they held on the
  date of the act (today), or for a case decision on its effective date.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from operator import attrgetter

from ledger.errors import InvalidValue, NotAuthorised

#: Every role, with its Chinese name (as shown to staff).
ROLES: dict[str, str] = {
    "caseworker": "经办",
    "approver": "审批",
    "finance": "财务",
    "finance_approver": "财务审核",
    "supervisor": "监督",
    "auditor": "审计",
    "admin": "系统管理",
}

#: Lengths of a staff member's region prefix: province, city, county, township, village.
SCOPE_LENGTHS = (2, 4, 6, 9, 12)

#: The first day of every staff member's first registration: a staff file has no dates, and a
#: migration imports years of decisions made by the people it registers the same day.
SINCE_EVER = date(1900, 1, 1)


class DutyRefused(NotAuthorised):
    """An act refused by a duty rule (role, scope, interest, four eyes). Nothing recorded."""


def parse_roles(text: str) -> frozenset[str]:
    """``caseworker;approver`` -> the set of roles; an unknown or empty role is refused."""
    roles = [r.strip() for r in text.split(";")]
    if not text.strip() or any(not r for r in roles):
        raise InvalidValue(f"role must be one or more of {', '.join(ROLES)} separated by ';'")
    unknown = sorted({r for r in roles if r not in ROLES})
    if unknown:
        raise InvalidValue(f"unknown role {', '.join(unknown)} (known: {', '.join(ROLES)})")
    return frozenset(roles)


def format_roles(roles: Iterable[str]) -> str:
    """Roles in the order of :data:`ROLES`, ``;``-separated (the staff file's spelling)."""
    held = set(roles)
    return ";".join(r for r in ROLES if r in held)


def parse_scope(text: str) -> str:
    """A staff member's region: a 2, 4, 6, 9 or 12-digit prefix of region codes."""
    value = text.strip()
    if not value.isdigit() or not value.isascii() or len(value) not in SCOPE_LENGTHS:
        raise InvalidValue("region_code of staff must be 2, 4, 6, 9 or 12 digits")
    return value


@dataclass(frozen=True)
class Actor:
    """A staff member as they stand on the date of an act: roles, region, and interests."""

    staff_id: str
    roles: frozenset[str]
    region: str
    id_number: str = ""
    bank_account: str = ""
    relatives: frozenset[str] = frozenset()  # id numbers of registered relatives
    #: An in-process job (the scheduler), not a person: it holds no role and no interest.
    system: bool = False

    def holds(self, *roles: str) -> bool:
        return self.system or bool(self.roles.intersection(roles))

    def require(self, *roles: str, to: str) -> None:
        """Refuse unless the actor holds one of ``roles`` (to do what ``to`` says)."""
        if not self.holds(*roles):
            needed = " or ".join(f"{r} ({ROLES[r]})" for r in roles)
            held = format_roles(self.roles) or "none"
            raise DutyRefused(
                f"{self.staff_id} may not {to}: that needs the role {needed}; "
                f"{self.staff_id} holds {held}"
            )

    def covers(self, region_code: str | None) -> bool:
        """Whether a case of ``region_code`` is within the actor's region."""
        return self.system or region_code is None or region_code.startswith(self.region)

    def require_scope(self, region_code: str | None, *, to: str) -> None:
        if not self.covers(region_code):
            raise DutyRefused(
                f"{self.staff_id} may not {to}: region {region_code} is outside "
                f"{self.staff_id}'s region {self.region}"
            )

    def interested_in(self, id_numbers: Iterable[str] = (), accounts: Iterable[str] = ()) -> bool:
        """Whether any of the people (``id_numbers``) is the actor or a registered relative,
        or any of ``accounts`` is the actor's own bank account (回避)."""
        if self.system:
            return False
        people = {self.id_number, *self.relatives} - {""}
        return bool(people.intersection(id_numbers)) or (
            bool(self.bank_account) and self.bank_account in set(accounts)
        )

    def require_no_interest(
        self, id_numbers: Iterable[str] = (), accounts: Iterable[str] = (), *, to: str
    ) -> None:
        """Refuse if the actor has an interest; the message never names the person."""
        if self.interested_in(id_numbers, accounts):
            raise DutyRefused(
                f"{self.staff_id} may not {to}: {self.staff_id} has an interest in it "
                "(the beneficiary or a household member is the staff member or a registered "
                "relative, or the money goes to the staff member's own account): "
                "another staff member must do it (回避)"
            )


#: The actor of in-process scheduled jobs (reconciliation of open periods, reminders).
SCHEDULER = Actor("scheduler", frozenset(), "", system=True)


@dataclass(frozen=True)
class Terms:
    """What a staff member held from ``since`` on (until a later record)."""

    since: date
    roles: frozenset[str]
    region: str


_SINCE = attrgetter("since")


@dataclass(frozen=True)
class Person:
    """The personal facts of a staff member that interest is judged on."""

    name: str
    id_number: str
    bank_account: str


@dataclass
class StaffDirectory:
    """The staff registry through time, with relatives: builds the :class:`Actor` of an act.

    ``terms``: per staff id, their roles and region from a date on, in date order.
    """

    terms: Mapping[str, Sequence[Terms]]
    people: Mapping[str, Person]
    relatives: Mapping[str, frozenset[str]] = field(default_factory=dict)
    _actors: dict[tuple[str, int], Actor] = field(default_factory=dict, repr=False)
    _interests: dict[str, set[str]] | None = field(default=None, repr=False)

    def __contains__(self, staff_id: object) -> bool:
        return staff_id in self.terms

    def is_empty(self) -> bool:
        return not self.terms

    def actor(self, staff_id: str, on: date) -> Actor:
        """The staff member as they stood on ``on``; refused if not registered by then."""
        history = self.terms.get(staff_id)
        if not history:
            raise DutyRefused(
                f"{staff_id!r} is not in the staff registry: only registered staff may act "
                "(an admin imports the staff file: aidledger import staff)"
            )
        at = bisect.bisect_right(history, on, key=_SINCE) - 1
        if at < 0:
            raise DutyRefused(f"{staff_id} was not registered on {on.isoformat()}")
        cached = self._actors.get((staff_id, at))
        if cached is not None:
            return cached
        terms = history[at]
        person = self.people[staff_id]
        actor = self._actors[(staff_id, at)] = Actor(
            staff_id,
            terms.roles,
            terms.region,
            person.id_number,
            person.bank_account,
            self.relatives.get(staff_id, frozenset()),
        )
        return actor

    def interested(self, id_numbers: Iterable[str], accounts: Iterable[str]) -> set[str]:
        """The staff ids with an interest in any of these people or accounts (an index built
        once: an import asks it for every row)."""
        if self._interests is None:
            index: dict[str, set[str]] = {}
            for staff_id, person in self.people.items():
                for key in (person.id_number, f"account:{person.bank_account}"):
                    index.setdefault(key, set()).add(staff_id)
            for staff_id, ids in self.relatives.items():
                for id_number in ids:
                    index.setdefault(id_number, set()).add(staff_id)
            self._interests = index
        out: set[str] = set()
        for key in (*id_numbers, *(f"account:{a}" for a in accounts)):
            out |= self._interests.get(key, set())
        return out

    def name_of(self, staff_id: str) -> str | None:
        person = self.people.get(staff_id)
        return person.name if person else None
