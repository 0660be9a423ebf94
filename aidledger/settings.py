"""The one Settings object: read from AIDLEDGER_* environment variables and command-line flags."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Built once in the composition root and passed down; nothing else reads the environment."""

    model_config = SettingsConfigDict(env_prefix="AIDLEDGER_", extra="ignore")

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

    # `serve`: schedules are "every N[s|m|h]" or a five-field crontab, in `timezone`.
    timezone: str = Field(default="Asia/Shanghai", description="the bureau's time zone")
    catch_up_schedule: str = Field(default="every 30s", description="projection catch-up")
    reconcile_schedule: str = Field(default="30 2 * * *", description="reconcile open periods")
    reminder_schedule: str = Field(default="0 8 * * *", description="run-approval reminder")
    open_periods_months: int = Field(default=3, ge=1, description="months a period stays open")
    metrics_periods: int = Field(default=3, ge=1, description="periods shown in payment metrics")
    metrics_refresh_seconds: int = Field(default=30, ge=1, description="metrics re-read interval")
    leader_check_seconds: int = Field(default=5, ge=1, description="scheduler lock re-check")

    def current_date(self) -> date:
        """Today in the bureau's time zone, or ``AIDLEDGER_TODAY``."""
        return self.today or datetime.now(ZoneInfo(self.timezone)).date()
