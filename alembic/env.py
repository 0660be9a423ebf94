"""Alembic environment for aidledger: one schema for SQLite and PostgreSQL.

Run through `aidledger init` (or `alembic upgrade head` with AIDLEDGER_DATABASE_URL set and
the URL in sqlalchemy form). On PostgreSQL an advisory lock serialises concurrent upgrades.
"""

from __future__ import annotations

import os

from sqlalchemy import create_engine, pool, text

from alembic import context

config = context.config
url = config.get_main_option("sqlalchemy.url") or os.environ.get("AIDLEDGER_DATABASE_URL", "")
if url.startswith("postgresql://"):
    url = "postgresql+psycopg://" + url[len("postgresql://") :]
elif url and "://" not in url:
    url = f"sqlite:///{url}"

_UPGRADE_LOCK = 0x41494C44  # "AILD": one upgrade at a time per database


def run_migrations_online() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_lock({_UPGRADE_LOCK})"))
            connection.commit()
        try:
            context.configure(connection=connection, target_metadata=None)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if connection.dialect.name == "postgresql":
                connection.execute(text(f"SELECT pg_advisory_unlock({_UPGRADE_LOCK})"))
                connection.commit()


if context.is_offline_mode():
    context.configure(url=url, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
