"""The programs config: programs, departments and payout rules, validated at load.

The config lives in the store (`ledger.config_store`): ``aidledger config apply`` records a
file's text as an event, in force from a date, and every command reads the one in force on its
date. The shipped file (``programs.toml``) is what ``aidledger init`` applies to a new store.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ledger.errors import ConfigError, InvalidValue
from ledger.money import parse_fen

MidMonthRule = Literal["first_day", "any_day", "prorate"]

#: Programs paid once per grant (``aidledger import grants``), never monthly: a row of one of
#: them in a cases file is refused.
ONE_OFF_PROGRAMS = frozenset({"temporary"})


def _fen(value: object) -> int:
    if not isinstance(value, str):
        raise ValueError("amounts are yuan strings like '5000.00'")
    try:
        return parse_fen(value)
    except InvalidValue as e:
        raise ValueError(str(e)) from None


class Department(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    name: str
    debtor_name: str
    debtor_account: str = Field(pattern=r"^[0-9A-Za-z]{6,34}$")
    debtor_agent_bic: str = Field(pattern=r"^[A-Z0-9]{8}([A-Z0-9]{3})?$")
    budget_fen: int | None = Field(default=None, alias="budget")

    _amounts = field_validator("budget_fen", mode="before")(
        lambda v: None if v is None else _fen(v)
    )


class Program(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    name: str
    department: str
    payment_day: int = Field(ge=1, le=31)
    excludes: tuple[str, ...] = ()
    max_monthly_fen: int = Field(alias="max_monthly", gt=0)
    mid_month: MidMonthRule = "first_day"
    budget_fen: int | None = Field(default=None, alias="budget")
    #: Validity (有效期): a case is reviewed this many months after its last review.
    review_months: int = Field(default=12, ge=1, le=60)
    #: One-off relief (临时救助): at most this much per grant, and this many grants to one
    #: person within ``window_months`` (more raises ``temporary_repeat``).
    max_per_grant_fen: int | None = Field(default=None, alias="max_per_grant")
    max_grants: int | None = Field(default=None, ge=1)
    window_months: int = Field(default=12, ge=1, le=120)

    #: Data comparison (核对): limits of the household's assets and monthly income per
    #: person (yuan strings in the file, fen here), sources whose any record disqualifies,
    #: other departments' benefits that duplicate this one (``department:benefit``), and the
    #: finding types that hold the case's next payment.
    limits_fen: dict[str, int] = Field(default_factory=dict, alias="limits")
    forbidden_sources: tuple[str, ...] = ()
    duplicates_with: tuple[str, ...] = ()
    hold_on: tuple[str, ...] = ()

    _amounts = field_validator("max_monthly_fen", "budget_fen", "max_per_grant_fen", mode="before")(
        lambda v: None if v is None else _fen(v)
    )

    @field_validator("limits_fen", mode="before")
    @classmethod
    def _limits(cls, v: object) -> dict[str, int]:
        from ledger.comparison_terms import LIMIT_KEYS

        if not isinstance(v, dict):
            raise ValueError('limits must be a table: [programs.X.limits] vehicle = "100000.00"')
        out = {}
        for key, amount in v.items():
            if key not in LIMIT_KEYS:
                raise ValueError(f"unknown limit {key!r} (known: {', '.join(LIMIT_KEYS)})")
            out[key] = _fen(amount)
        return out

    @field_validator("forbidden_sources")
    @classmethod
    def _sources(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from ledger.comparison_terms import FORBIDDABLE_SOURCES

        for source in v:
            if source not in FORBIDDABLE_SOURCES:
                raise ValueError(
                    f"forbidden source {source!r}: one of {', '.join(FORBIDDABLE_SOURCES)}"
                )
        return v

    @field_validator("duplicates_with")
    @classmethod
    def _duplicates(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for item in v:
            department, _, benefit = item.partition(":")
            if not department or not benefit:
                raise ValueError(
                    f"duplicates_with {item!r} must be department:benefit, e.g. hrss:unemployment"
                )
        return v

    @field_validator("hold_on")
    @classmethod
    def _holds(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from ledger.comparison_terms import HOLDABLE_FINDINGS

        for type_ in v:
            if type_ not in HOLDABLE_FINDINGS:
                raise ValueError(
                    f"hold_on {type_!r} is not a finding that can hold a payment "
                    f"(one of {', '.join(HOLDABLE_FINDINGS)})"
                )
        return v

    @property
    def one_off(self) -> bool:
        """Paid once per grant (临时救助), never monthly."""
        return self.code in ONE_OFF_PROGRAMS


class ReconciliationRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    missing_result_days: int = Field(default=5, ge=0)
    returned_not_reissued_days: int = Field(default=30, ge=0)
    approval_reminder_days: int = Field(default=3, ge=0)


class Bureau(BaseModel):
    """The bureau itself: its name (notices) and the region prefixes it covers (empty: any)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    regions: tuple[str, ...] = ()

    @field_validator("regions")
    @classmethod
    def _prefixes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for code in v:
            if not code.isdigit() or len(code) not in (2, 4, 6, 9, 12):
                raise ValueError(f"region prefix {code!r} must be 2, 4, 6, 9 or 12 digits")
        return v

    def covers(self, region_code: str) -> bool:
        return not self.regions or region_code.startswith(self.regions)


class Regions(BaseModel):
    """Optional place names by region code (for print-ready notices)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    names: dict[str, str] = {}


class Chain(BaseModel):
    """The decision chain (阳光): from when a new case needs an approved application, and how
    long the public notice runs before approval."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    required_from: date | None = None
    notice_days: int = Field(default=7, ge=0, le=60)


class Reviews(BaseModel):
    """Periodic review (定期核查): grace after the due day, whether overdue cases' payments
    are held, and from when reviews count here (``from``: a case never reviewed is first due
    on the first anniversary of its start on or after this day; absent, the day the store was
    created: its first config recorded)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    review_grace_days: int = Field(default=30, ge=0, le=365)
    suspend_when_overdue: bool = False
    adopted_from: date | None = Field(default=None, alias="from")


class Complaints(BaseModel):
    """Complaints (举报投诉): the days to reply after one is received, per category where it
    differs from ``complaint_days``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    complaint_days: int = Field(default=15, ge=1, le=365)
    by_category: dict[str, int] = {}

    @field_validator("by_category")
    @classmethod
    def _categories(cls, v: dict[str, int]) -> dict[str, int]:
        from ledger.complaint import CATEGORIES

        for category, days in v.items():
            if category not in CATEGORIES:
                raise ValueError(
                    f"unknown complaint category {category!r} (known: {', '.join(CATEGORIES)})"
                )
            if not 1 <= days <= 365:
                raise ValueError(f"complaint_days of {category} must be 1 to 365")
        return v

    def days_for(self, category: str) -> int:
        """The days to reply to a complaint of ``category``."""
        return self.by_category.get(category, self.complaint_days)


class Security(BaseModel):
    """Who may act on the store. ``any``: the command line acts on the store directly, as its
    ``--by`` says (whoever holds the store is trusted). ``authenticated``: a command acting as
    a staff member (one with ``--by``) is refused on the store itself; it goes through the
    server (``aidledger login --server URL``), as the logged-in staff member."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    actors: Literal["any", "authenticated"] = "any"


class ProgramsConfig(BaseModel):
    """Every program and department, with the cross-checks between them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    programs: dict[str, Program]
    departments: dict[str, Department]
    reconciliation: ReconciliationRules = ReconciliationRules()
    bureau: Bureau = Bureau()
    regions: Regions = Regions()
    chain: Chain = Chain()
    reviews: Reviews = Reviews()
    complaints: Complaints = Complaints()
    security: Security = Security()

    @model_validator(mode="after")
    def _cross_check(self) -> ProgramsConfig:
        for code, p in self.programs.items():
            if p.department not in self.departments:
                raise ValueError(f"program {code}: unknown department {p.department!r}")
            for other in p.excludes:
                if other not in self.programs:
                    raise ValueError(f"program {code}: excludes unknown program {other!r}")
                if code not in self.programs[other].excludes:
                    raise ValueError(
                        f"program {code} excludes {other} but {other} does not exclude {code}"
                    )
            for item in p.duplicates_with:
                department = item.partition(":")[0]
                if department not in self.departments:
                    raise ValueError(
                        f"program {code}: duplicates_with {item!r} names unknown department "
                        f"{department!r} (known: {', '.join(sorted(self.departments))})"
                    )
        return self

    def program(self, code: str) -> Program:
        try:
            return self.programs[code]
        except KeyError:
            raise InvalidValue(
                f"unknown program {code!r} (known: {', '.join(sorted(self.programs))})"
            ) from None

    def department_of(self, program: str) -> Department:
        return self.departments[self.program(program).department]


def shipped_config_path() -> Path:
    """Where the shipped programs config lives (inside the installed package)."""
    return Path(__file__).with_name("programs.toml")


def read_config_text(path: Path) -> str:
    """The text of a programs config file (UTF-8), or a ConfigError naming the file."""
    try:
        return path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a programs config file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read programs config: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: programs config must be UTF-8 text") from None


def load_programs(path: Path | None = None) -> ProgramsConfig:
    """Load and validate a programs config file (the shipped one when ``path`` is None)."""
    path = path or shipped_config_path()
    return parse_programs(read_config_text(path), str(path))


def parse_programs(text: str, source: str) -> ProgramsConfig:
    """Validate a programs config's TOML text; ``source`` names it in a refusal."""
    path = source
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    for section, key_name in (("programs", "code"), ("departments", "code")):
        if not isinstance(raw.get(section, {}), dict):
            raise ConfigError(f"{path}: [{section}] must be a table of tables ([{section}.CODE])")
        for code, body in (raw.get(section) or {}).items():
            if isinstance(body, dict):
                body[key_name] = code
    try:
        return ProgramsConfig.model_validate(raw)
    except ValidationError as e:
        details = "; ".join(
            f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise ConfigError(f"{path}: invalid programs config: {details}") from None
