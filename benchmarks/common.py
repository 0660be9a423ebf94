"""Shared benchmark plumbing: fresh stores, the machine description, PERFORMANCE.md sections."""

from __future__ import annotations

import os
import platform
import re
import resource
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
PERFORMANCE = ROOT / "docs" / "PERFORMANCE.md"
PG_ADMIN = os.environ.get("AIDLEDGER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def written_whole(path: Path) -> Iterator[Path]:
    """Where to write the generated input ``path``: renamed to it once written whole, so that
    a run killed while generating leaves nothing a later run would take for the whole file
    (the generated inputs are kept in ``OUT`` and reused)."""
    partial = path.with_name(path.name + ".partial")
    yield partial
    partial.replace(path)


def fresh_store(dialect: str, label: str) -> str:
    """A URL of an empty store for one benchmark run (dropping any earlier one)."""
    OUT.mkdir(parents=True, exist_ok=True)
    if dialect == "sqlite":
        path = OUT / f"{label}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return str(path)
    name = f"aidl_bench_{label}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return kept_store(label)


def kept_store(label: str) -> str:
    """The URL of the PostgreSQL store an earlier run kept under ``label``."""
    return PG_ADMIN.rsplit("/", 1)[0] + f"/aidl_bench_{label}"


def drop_store(url: str) -> None:
    if url.startswith("postgresql://"):
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    """One line describing where the numbers were measured."""
    cpu = "unknown CPU"
    try:
        m = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    try:
        with psycopg.connect(PG_ADMIN) as conn:
            pg = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    except psycopg.OperationalError:
        pg = "unreachable"
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB RAM, Python "
        f"{platform.python_version()}, PostgreSQL {pg}, SQLite {sqlite3.sqlite_version}"
    )


#: The server settings that move these numbers most, named in each section's header.
SERVER_SETTINGS = (
    "shared_buffers",
    "work_mem",
    "max_wal_size",
    "synchronous_commit",
    "autovacuum",
)


def server_settings() -> str:
    """The PostgreSQL server's settings that matter here, as they were for the run: a
    machine's configuration may differ from the defaults (this one's CI turns autovacuum off,
    which the code does not count on: jobs analyze what they read after bulk writes)."""
    try:
        with psycopg.connect(PG_ADMIN) as conn:
            shown = [
                f"{name} {conn.execute(f'SHOW {name}').fetchone()[0]}"  # type: ignore[index]
                for name in SERVER_SETTINGS
            ]
    except psycopg.OperationalError:
        return "server unreachable"
    return ", ".join(shown)


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def git_revision() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_section(title: str, body: str) -> None:
    """Replace (or append) the `## title` section of docs/PERFORMANCE.md."""
    PERFORMANCE.parent.mkdir(parents=True, exist_ok=True)
    text = (
        PERFORMANCE.read_text(encoding="utf-8")
        if PERFORMANCE.exists()
        else (
            "# Performance\n\nMeasured by the scripts in `benchmarks/`; each section says how to "
            "rerun it. Numbers are from one run on a shared machine: read the ratios against the "
            "reference measured in the same run, not the absolute rates.\n"
        )
    )
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = (
        pattern.sub(section + "\n", text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + section
    )
    PERFORMANCE.write_text(text, encoding="utf-8")


def new_label() -> str:
    return uuid.uuid4().hex[:8]
