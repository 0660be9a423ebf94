"""The JSON API's client for the command line: calls to a server, and the personal token file.

The HTTP client is imported by the calls (a command on a store reads only the token file).

``aidledger login --server URL`` keeps what a login answered in a file only its owner can
read (``~/.config/aidledger/token``, mode 0600): the server, the staff id, the token and when
it expires. The store keeps only the token's hash, so this file is the one copy.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.errors import AidLedgerError

if TYPE_CHECKING:
    import urllib.request

#: Seconds to wait for the server.
TIMEOUT = 30


class ApiRefused(AidLedgerError):
    """The server refused a call (``status``), or could not be reached (``status`` 0)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def default_token_file() -> Path:
    """Where ``aidledger login`` keeps the personal token."""
    return Path.home() / ".config" / "aidledger" / "token"


def call(
    server: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    method: str = "POST",
) -> Any:
    """One call to the API (``path`` under ``/api/v1``); its JSON answer, or `ApiRefused`
    with the server's message."""
    import urllib.request

    url = f"{server.rstrip('/')}/api/v1{path}"
    if not url.startswith(("http://", "https://")):
        raise ApiRefused(0, f"--server must be an http:// or https:// URL, not {server!r}")
    data = json.dumps(body or {}).encode() if method == "POST" else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    return _send(server, request, token)


def send_file(server: str, path: str, file: Path, *, token: str) -> Any:
    """A POST of a file's bytes as they are (streamed, not read whole) to ``path`` under
    ``/api/v1``; its JSON answer, or `ApiRefused`."""
    import urllib.request

    url = f"{server.rstrip('/')}/api/v1{path}"
    if not url.startswith(("http://", "https://")):
        raise ApiRefused(0, f"--server must be an http:// or https:// URL, not {server!r}")
    with file.open("rb") as body:
        request = urllib.request.Request(url, data=body, method="POST")
        request.add_header("Content-Type", "application/octet-stream")
        request.add_header("Content-Length", str(file.stat().st_size))
        return _send(server, request, token)


def _send(server: str, request: urllib.request.Request, token: str | None) -> Any:
    import urllib.error
    import urllib.request

    request.add_header("Accept", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            return json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            message = str(json.loads(e.read()).get("error") or e.reason)
        except (ValueError, AttributeError):
            message = str(e.reason)
        raise ApiRefused(e.code, message) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ApiRefused(0, f"cannot reach {server} ({reason})") from None


@dataclass(frozen=True)
class SavedLogin:
    """What the token file holds."""

    server: str
    staff_id: str
    token: str
    expires_at: str


def save_login(path: Path, login: SavedLogin) -> None:
    """Write the token file, readable by its owner only (0600), replacing any other: written
    beside it and renamed, so it is never there half-written or with wider permissions."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask, and even if the file was left by a crash
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(asdict(login), f)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def load_login(path: Path) -> SavedLogin | None:
    """The token file's login, or None if there is none (or it is not one)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        fields = ("server", "staff_id", "token", "expires_at")
        return SavedLogin(**{k: str(data[k]) for k in fields})
    except (OSError, ValueError, KeyError, TypeError):
        return None
