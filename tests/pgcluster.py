"""A throwaway PostgreSQL cluster, for the tests that stop, kill or restart their server.

The suite shares the machine's PostgreSQL with other people's work: a test that takes a server
down takes down one of its own. `initdb` in a temporary folder, a free port on 127.0.0.1 only,
the unix socket inside that folder, trust authentication; `pg_ctl` starts, restarts and stops it,
and at the end stops it (``-m immediate``) and removes the folder. initdb refuses to run as
root, so as root the cluster's files and processes belong to the ``postgres`` user.
"""

from __future__ import annotations

import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

#: The OS user that owns the cluster when the tests run as root.
OWNER = "postgres"
#: The cluster's own settings, rewritten whenever its port changes (included by postgresql.conf).
SETTINGS_FILE = "aidledger-test.conf"


class ClusterUnavailable(Exception):
    """This machine cannot run a throwaway cluster (no binaries, no user to run them as)."""


def find_bindir() -> Path | None:
    """The folder with initdb and pg_ctl: pg_config's, else Debian's newest, else on PATH."""
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        try:
            done = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=30, check=True
            )
            candidates.append(Path(done.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    # pg_config comes with libpq's headers, perhaps of a version whose server is not installed;
    # Debian keeps each installed server's binaries in a folder of its own.
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = [d for d in debian.iterdir() if d.name.isdigit()]
        candidates += [d / "bin" for d in sorted(versions, key=lambda d: -int(d.name))]
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    for folder in candidates:
        if all(os.access(folder / tool, os.X_OK) for tool in ("initdb", "pg_ctl")):
            return folder
    return None


def _owner() -> tuple[tuple[str, ...], pwd.struct_passwd | None]:
    """How to run a PostgreSQL binary (a command prefix), and the user to own the files."""
    if os.geteuid() != 0:
        return (), None
    try:
        user = pwd.getpwnam(OWNER)
    except KeyError:
        raise ClusterUnavailable(
            f"running as root (initdb refuses root) and there is no {OWNER!r} user to run as"
        ) from None
    if runuser := shutil.which("runuser"):
        return (runuser, "-u", OWNER, "--"), user
    if setpriv := shutil.which("setpriv"):
        return (setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups"), user
    raise ClusterUnavailable(f"running as root, and neither runuser nor setpriv to run as {OWNER}")


def free_port() -> int:
    """A port nothing listens on, below the kernel's range for outgoing connections: a port
    from that range could be taken by some client's connection while the cluster is down
    for a restart."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    low = max(low, 2048)
    pick = random.Random()  # seeded from the OS: two sessions at once pick different ports
    for _ in range(200):
        port = pick.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ClusterUnavailable("found no free port for a throwaway PostgreSQL cluster")


@dataclass
class Cluster:
    """One throwaway cluster: ``create()``, then ``start()``, ``restart()``, ``kill()``...,
    and ``remove()`` at the end."""

    root: Path
    bindir: Path
    port: int
    run_as: tuple[str, ...] = ()
    started: bool = False  # once given out, its URLs must stay right: no more port changes

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def sockets(self) -> Path:
        return self.root / "sockets"

    @property
    def log(self) -> Path:
        return self.root / "postgresql.log"

    def url(self, dbname: str = "postgres") -> str:
        """The URL of one of its databases, as the superuser (``postgres``: the admin URL)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    @classmethod
    def create(cls) -> Cluster:
        """initdb in a new temporary folder (raises ClusterUnavailable when it cannot)."""
        bindir = find_bindir()
        if bindir is None:
            raise ClusterUnavailable(
                "no PostgreSQL server binaries (initdb, pg_ctl) in pg_config --bindir, "
                "/usr/lib/postgresql/*/bin or on PATH (Debian: apt-get install postgresql)"
            )
        run_as, user = _owner()
        root = Path(tempfile.mkdtemp(prefix="aidl-pg-"))
        try:
            cluster = cls(root, bindir, free_port(), run_as)
            cluster.sockets.mkdir()
            if user is not None:
                for path in (root, cluster.sockets):
                    os.chown(path, user.pw_uid, user.pw_gid)
            cluster._pg(
                "initdb",
                f"--pgdata={cluster.data}",
                "--username=postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",  # a cluster that lives for one session needs no fsync
            )
            with (cluster.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
                conf.write(f"\ninclude = '{SETTINGS_FILE}'\n")
            cluster._write_settings()
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return cluster

    def _write_settings(self) -> None:
        (self.data / SETTINGS_FILE).write_text(
            f"port = {self.port}\n"
            "listen_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{self.sockets}'\n"
            # Only the processes are killed, never the machine: what a commit wrote reaches
            # the kernel either way, and crash recovery finds it.
            "fsync = off\n",
            encoding="utf-8",
        )

    def _pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # PG* variables of the caller's shell (PGPORT, PGDATA...) must not steer this cluster.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        done = subprocess.run(
            [*self.run_as, str(self.bindir / tool), *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed (exit {done.returncode}): "
                f"{done.stdout}{done.stderr}\n{self.log_tail()}"
            )
        return done

    def log_tail(self, since: int = 0, lines: int = 20) -> str:
        try:
            with self.log.open("rb") as f:
                f.seek(since)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def running(self) -> bool:
        return self._pg("pg_ctl", "status", f"--pgdata={self.data}", check=False).returncode == 0

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        for attempt in range(3):
            since = self.log.stat().st_size if self.log.exists() else 0
            done = self._pg(
                "pg_ctl", "start", f"--pgdata={self.data}", f"--log={self.log}", "-w", check=False
            )
            if done.returncode == 0:
                break
            if not self.started and attempt < 2 and "already in use" in self.log_tail(since):
                self.port = free_port()  # taken since it was picked
                self._write_settings()
                continue
            raise RuntimeError(
                f"pg_ctl start failed: {done.stdout}{done.stderr}\n{self.log_tail()}"
            )
        self.started = True
        self.wait_until_ready()

    def stop(self, mode: str = "fast") -> None:
        """Stop it: ``fast`` cuts the sessions and shuts down cleanly; ``immediate`` is a crash."""
        self._pg("pg_ctl", "stop", f"--pgdata={self.data}", f"--mode={mode}", "-w")

    def kill(self) -> None:
        """Stop it as a crash would: every process gone at once, no checkpoint."""
        self.stop("immediate")

    def restart(self) -> None:
        """Restart it (fast shutdown: every session is cut) and wait until it answers."""
        self._pg(
            "pg_ctl", "restart", f"--pgdata={self.data}", f"--log={self.log}", "--mode=fast", "-w"
        )
        self.wait_until_ready()

    def ensure_running(self) -> None:
        if not self.running():
            self.start()

    def wait_until_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def remove(self) -> None:
        """Stop it (as a crash: nothing to keep) and delete its folder."""
        try:
            if self.data.is_dir() and self.running():
                self.kill()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
