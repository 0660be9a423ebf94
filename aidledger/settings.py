"""The one Settings object: read from AIDLEDGER_* environment variables and command-line flags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Built once in the composition root and passed down; nothing else reads the environment."""

    model_config = SettingsConfigDict(env_prefix="AIDLEDGER_", extra="ignore")

    database_url: str = Field(
        default="aidledger.db",
        description="SQLite file path (or sqlite:///path), or postgresql://user@host/db",
    )
    config: Path | None = Field(default=None, description="programs config (TOML)")
    cipher_key: str | None = Field(
        default=None, description="base64 AES key: stored event payloads are encrypted"
    )
    batch_events: int = Field(default=2000, ge=1, description="events per write transaction")
    page_size: int = Field(default=20000, ge=1, description="events per projection page")
