"""The console's sessions: a signed cookie (HMAC-SHA256 over its JSON), HttpOnly,
SameSite=Strict, Secure over TLS, with an idle timeout and a longest lifetime.

The cookie holds the account's name and session epoch, the session's CSRF token and two
times; nothing personal. A session whose epoch is not the account's any more (its password
changed, the account was disabled) ends at its next request. The key is the console's
session key (``operations.accounts.console_session_key``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any, Final

COOKIE: Final = "skn_console"
#: A session ends this long after its login however active it is.
LONGEST_SECONDS: Final = 12 * 3600


@dataclass(frozen=True)
class Session:
    """A session: anonymous (before a login: only its CSRF token) or an account's."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    username: str | None = None
    epoch: int = 0
    issued: float = field(default_factory=time.time)
    seen: float = field(default_factory=time.time)
    #: a message for the next page (a text key and its values), shown once
    flash: tuple[str, dict[str, Any]] | None = None
    #: the creditor (participant id) the person works for, where their account sees several
    creditor: str | None = None

    def logged_in(self, username: str, epoch: int) -> Session:
        """The session of a login: a new CSRF token, new times (no fixation)."""
        return Session(username=username, epoch=epoch)

    def working_for(self, creditor: str) -> Session:
        return replace(self, creditor=creditor)

    def touched(self) -> Session:
        return replace(self, seen=time.time())

    def with_flash(self, key: str, **values: Any) -> Session:
        return replace(self, flash=(key, values))

    def without_flash(self) -> Session:
        return replace(self, flash=None)


class SessionCodec:
    """Signs and reads the cookie."""

    def __init__(self, key: bytes, *, idle_seconds: float) -> None:
        # a key of its own for the cookies, derived from the console's key
        self._key = hashlib.sha256(b"skn-console-session\x00" + key).digest()
        self.idle_seconds = idle_seconds

    def dump(self, session: Session) -> str:
        body: dict[str, Any] = {
            "c": session.csrf,
            "u": session.username,
            "e": session.epoch,
            "i": round(session.issued, 3),
            "s": round(session.seen, 3),
        }
        if session.flash is not None:
            body["f"] = [session.flash[0], session.flash[1]]
        if session.creditor is not None:
            body["k"] = session.creditor
        payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{_b64(self._sign(payload))}"

    def load(self, value: str | None, *, now: float | None = None) -> Session | None:
        """The session in a cookie; None when it is missing or forged; an anonymous session
        that says so when it expired."""
        if not value or "." not in value or len(value) > 4096:
            return None
        payload, _, signature = value.partition(".")
        try:
            expected = self._sign(payload)
            if not hmac.compare_digest(expected, _unb64(signature)):
                return None
            body = json.loads(_unb64(payload))
        except (ValueError, TypeError):
            return None
        now = time.time() if now is None else now
        try:
            session = Session(
                csrf=str(body["c"]),
                username=body["u"] if isinstance(body["u"], str) else None,
                epoch=int(body["e"]),
                issued=float(body["i"]),
                seen=float(body["s"]),
                flash=(str(body["f"][0]), dict(body["f"][1])) if "f" in body else None,
                creditor=str(body["k"]) if isinstance(body.get("k"), str) else None,
            )
        except (KeyError, TypeError, ValueError, IndexError):
            return None
        if session.username is not None and (
            now - session.seen > self.idle_seconds or now - session.issued > LONGEST_SECONDS
        ):
            # expired: anonymous again, told so on the login page
            return Session(csrf=session.csrf, flash=("login.expired", {}))
        return session

    def _sign(self, payload: str) -> bytes:
        return hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
