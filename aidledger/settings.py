"""The one Settings object: read from AIDLEDGER_* environment variables and command-line flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

#: Each setting ``name`` is read from the environment variable ``AIDLEDGER_NAME``.
ENV_PREFIX = "AIDLEDGER_"


class Settings(BaseModel):
    """Built once in the composition root and passed down; nothing else reads the environment.

    ``Settings(**values)``: each value given, else its ``AIDLEDGER_*`` environment variable
    (names in any case), else its default. A plain pydantic model rather than
    pydantic-settings' `BaseSettings`: that one loads asyncio and ssl on import, a fifth of a
    second at every start of the command line, for sources aidledger does not use."""

    model_config = ConfigDict(extra="ignore")

    def __init__(self, **values: Any) -> None:
        super().__init__(**{**from_environment(os.environ), **values})

    database_url: str = Field(
        default="aidledger.db",
        description="SQLite file path (or sqlite:///path), or postgresql://user@host/db",
    )
    today: date | None = Field(
        default=None,
        description="'today' for every command (YYYY-MM-DD): drills, tests, replays",
    )
    cipher_key: str | None = Field(
        default=None, description="base64 AES key: stored event payloads are encrypted"
    )
    batch_events: int = Field(default=2000, ge=1, description="events per write transaction")
    page_size: int = Field(default=20000, ge=1, description="events per projection page")
    max_input_bytes: int = Field(
        default=4 * 2**30,
        ge=1,
        description="largest input file read (bytes); a larger one is refused before reading",
    )

    # The command line through the API (`aidledger.cli.remote`).
    server: str | None = Field(
        default=None,
        description="the server's URL: commands go through its API, as the logged-in staff "
        "member (aidledger login)",
    )
    token_file: str | None = Field(
        default=None, description="the personal token's file (default ~/.config/aidledger/token)"
    )

    # `serve`: schedules are "every N[s|m|h]" or a five-field crontab, in `timezone`.
    timezone: str = Field(default="Asia/Shanghai", description="the bureau's time zone")
    catch_up_schedule: str = Field(default="every 30s", description="projection catch-up")
    reconcile_schedule: str = Field(default="30 2 * * *", description="reconcile open periods")
    reminder_schedule: str = Field(default="0 8 * * *", description="run-approval reminder")
    open_periods_months: int = Field(default=3, ge=1, description="months a period stays open")
    metrics_periods: int = Field(default=3, ge=1, description="periods shown in payment metrics")
    metrics_refresh_seconds: int = Field(default=30, ge=1, description="metrics re-read interval")
    leader_check_seconds: int = Field(default=5, ge=1, description="scheduler lock re-check")

    # `serve`'s console and JSON API.
    session_minutes: int = Field(
        default=480, ge=1, description="lifetime of a login's session or personal token"
    )
    trust_forwarded_proto: bool = Field(
        default=False,
        description="believe X-Forwarded-Proto: https from the proxy in front (TLS ends "
        "there): session cookies are then Secure",
    )
    tls_certfile: str | None = Field(default=None, description="serve HTTPS with this cert")
    tls_keyfile: str | None = Field(default=None, description="... and this private key")
    api_connections: int = Field(
        default=4, ge=1, description="store connections the console and API use at most"
    )
    # argon2id's cost for new password hashes (RFC 9106's second option by default; each
    # hash keeps its own, so changing them leaves older hashes valid).
    argon2_time_cost: int = Field(default=3, ge=1, description="argon2id passes")
    argon2_memory_kib: int = Field(default=65536, ge=8, description="argon2id memory (KiB)")
    argon2_parallelism: int = Field(default=4, ge=1, description="argon2id lanes")

    def current_date(self) -> date:
        """Today in the bureau's time zone, or ``AIDLEDGER_TODAY``."""
        return self.today or datetime.now(ZoneInfo(self.timezone)).date()


def from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The settings named in ``environ`` (``AIDLEDGER_*``, in any case), by field name."""
    fields = Settings.model_fields
    named = {}
    for key, value in environ.items():
        upper = key.upper()
        if upper.startswith(ENV_PREFIX) and (name := upper[len(ENV_PREFIX) :].lower()) in fields:
            named[name] = value
    return named
