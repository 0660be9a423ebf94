"""What a form's POST has to say, carried across its redirect and shown once.

Every POST of the console answers with a redirect (303) once it is done; what it did — and,
for an admin's new temporary password or TOTP URI, the secret to hand over — is shown by
the page it redirects to, once. It travels in a cookie of its own (``aidledger_flash``):
``HttpOnly``, ``SameSite=Strict``, two minutes, sealed with AES-GCM under a key derived
from the session's token, so neither the browser's other pages nor anyone without that
session can read it, and the store keeps no copy of the secret. The page that shows it
deletes the cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from eventsourcing.cipher import AESCipher
from eventsourcing.utils import Environment
from starlette.requests import Request
from starlette.responses import Response

from console.auth import Caller, over_tls
from console.backend import Options

FLASH_COOKIE = "aidledger_flash"
#: Seconds a message waits for its page.
FLASH_SECONDS = 120


@dataclass(frozen=True)
class Flash:
    """A message, and perhaps a secret shown with it (a password, an ``otpauth://`` URI)."""

    message: str
    secret: str | None = None


def _cipher(caller: Caller) -> AESCipher:
    key = hmac.new(caller.credentials.token.encode(), b"aidledger flash", hashlib.sha256).digest()
    return AESCipher(Environment(env={"CIPHER_KEY": base64.b64encode(key).decode()}))


def set_flash(
    response: Response, request: Request, options: Options, caller: Caller, flash: Flash
) -> None:
    """Seal ``flash`` for the caller's next page."""
    data = json.dumps({"message": flash.message, "secret": flash.secret}).encode()
    sealed = base64.urlsafe_b64encode(_cipher(caller).encrypt(data)).decode()
    response.set_cookie(
        FLASH_COOKIE,
        sealed,
        max_age=FLASH_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=over_tls(request, options),
    )


def take_flash(request: Request, caller: Caller) -> Flash | None:
    """The caller's flash, if one waits and their session sealed it (else nothing)."""
    sealed = request.cookies.get(FLASH_COOKIE)
    if not sealed:
        return None
    try:
        data = json.loads(_cipher(caller).decrypt(base64.urlsafe_b64decode(sealed)))
        return Flash(str(data["message"]), data.get("secret"))
    except (ValueError, KeyError, TypeError):  # another session's, or tampered with
        return None


def clear_flash(response: Response, request: Request, options: Options) -> None:
    response.delete_cookie(
        FLASH_COOKIE, path="/", httponly=True, samesite="strict", secure=over_tls(request, options)
    )
