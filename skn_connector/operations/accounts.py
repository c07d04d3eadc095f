"""The console's accounts: who may log in, with which role, and the check of a password.

A password is kept as an argon2id hash (argon2-cffi's defaults: 64 MiB, 3 passes), never
in clear. Five failed logins in a row lock the account for 15 minutes; a login with the
right password then still fails, and says so only as "locked" (which account names exist
is not told apart from a wrong password). Every change to an account and every login is
written to the audit trail under the person who did it; a login for a name that is no
account is audited without the name (it may be a password typed in the wrong field).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..config import ConfigError, Settings
from ..secrets import SecretError, resolve_secret
from ..store import Store
from ..store.db import sqlite_path
from ..store.schema import Account
from ..store.status import AccountRole

#: Failed logins in a row that lock an account, and for how long.
LOCK_AFTER_FAILURES: Final = 5
LOCK_FOR: Final = timedelta(minutes=15)
#: The shortest password accepted (NCSC: length over composition).
MIN_PASSWORD_LENGTH: Final = 12
MAX_PASSWORD_LENGTH: Final = 1024
#: A user name: what a directory's sAMAccountName or UPN holds, no spaces or markup.
USERNAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")

_HASHER: Final = PasswordHasher()
#: verified against when a name is no account, so that a login takes as long either way
_DUMMY_HASH: Final = _HASHER.hash("not a password of anyone")


class AccountError(ValueError):
    """An account cannot be made or changed as asked; the message says why in a sentence."""


@dataclass(frozen=True)
class AccountView:
    """An account as the faces show it: never its hash."""

    username: str
    role: AccountRole
    enabled: bool
    session_epoch: int
    locked_until: datetime | None
    created_at: datetime
    last_login_at: datetime | None
    #: the creditors (participant ids) whose work the account may see; None: every one
    creditors: tuple[str, ...] | None = None

    def may_see(self, creditor_id: str) -> bool:
        return self.creditors is None or creditor_id in self.creditors


#: the creditors of an account that may see every creditor of the deployment
EVERY_CREDITOR: Final = "*"


def _creditors(value: str) -> tuple[str, ...] | None:
    if value.strip() == EVERY_CREDITOR:
        return None
    return tuple(c for c in (part.strip() for part in value.split(",")) if c)


class LoginOutcome(StrEnum):
    OK = "ok"
    #: a wrong password, or a name that is no account: told apart nowhere but in the trail
    REFUSED = "refused"
    LOCKED = "locked"
    DISABLED = "disabled"


@dataclass(frozen=True)
class Login:
    outcome: LoginOutcome
    account: AccountView | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is LoginOutcome.OK


def _view(account: Account) -> AccountView:
    return AccountView(
        username=account.username,
        role=AccountRole(account.role),
        enabled=account.enabled,
        session_epoch=account.session_epoch,
        locked_until=account.locked_until,
        created_at=account.created_at,
        last_login_at=account.last_login_at,
        creditors=_creditors(account.creditors),
    )


def check_username(username: str) -> str:
    if not USERNAME.fullmatch(username):
        raise AccountError(
            f"{username!r} is not a user name: letters, digits, '.', '_', '@' and '-', "
            "starting with a letter or digit, at most 64"
        )
    return username


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    return password


def _find(session: Session, username: str) -> Account | None:
    return session.scalars(select(Account).where(Account.username == username)).first()


def add_account(
    store: Store,
    username: str,
    role: AccountRole,
    password: str,
    *,
    actor: Actor,
    creditors: Sequence[str] | None = None,
) -> AccountView:
    """A new account; ``creditors``: the participant ids whose work it may see (None: all;
    an empty list is refused: such an account could see nothing)."""
    if creditors is not None and not creditors:
        raise AccountError("an account sees at least one creditor; leave --creditor out for all")
    check_username(username)
    check_password(password)
    digest = _HASHER.hash(password)
    now = datetime.now(UTC)
    with store.transaction() as session:
        if _find(session, username) is not None:
            raise AccountError(f"there is an account {username!r} already")
        account = Account(
            username=username,
            role=role.value,
            password_hash=digest,
            enabled=True,
            session_epoch=0,
            failed_logins=0,
            created_at=now,
            updated_at=now,
            creditors=EVERY_CREDITOR if creditors is None else ",".join(creditors),
        )
        session.add(account)
        store.audit(
            session,
            "account_added",
            account=username,
            role=role.value,
            creditors=list(creditors) if creditors is not None else EVERY_CREDITOR,
            actor=actor.audit(),
        )
        session.flush()
        return _view(account)


def list_accounts(store: Store) -> list[AccountView]:
    with store.transaction() as session:
        return [_view(a) for a in session.scalars(select(Account).order_by(Account.username))]


def find_account(store: Store, username: str) -> AccountView | None:
    with store.transaction() as session:
        account = _find(session, username)
        return _view(account) if account is not None else None


def _existing(session: Session, username: str) -> Account:
    account = _find(session, username)
    if account is None:
        raise AccountError(f"there is no account {username!r}; see 'skn-connector users list'")
    return account


def disable_account(store: Store, username: str, *, actor: Actor) -> AccountView:
    """Disable an account: it cannot log in, and its sessions end at their next request."""
    with store.transaction() as session:
        account = _existing(session, username)
        account.enabled = False
        account.session_epoch += 1
        account.updated_at = datetime.now(UTC)
        store.audit(session, "account_disabled", account=username, actor=actor.audit())
        return _view(account)


def enable_account(store: Store, username: str, *, actor: Actor) -> AccountView:
    with store.transaction() as session:
        account = _existing(session, username)
        account.enabled = True
        account.failed_logins, account.locked_until = 0, None
        account.updated_at = datetime.now(UTC)
        store.audit(session, "account_enabled", account=username, actor=actor.audit())
        return _view(account)


def set_password(store: Store, username: str, password: str, *, actor: Actor) -> AccountView:
    """A new password; the account's sessions end and its lock is lifted."""
    check_password(password)
    digest = _HASHER.hash(password)
    with store.transaction() as session:
        account = _existing(session, username)
        account.password_hash = digest
        account.session_epoch += 1
        account.failed_logins, account.locked_until = 0, None
        account.updated_at = datetime.now(UTC)
        store.audit(session, "account_password_set", account=username, actor=actor.audit())
        return _view(account)


def set_role(store: Store, username: str, role: AccountRole, *, actor: Actor) -> AccountView:
    with store.transaction() as session:
        account = _existing(session, username)
        account.role = role.value
        account.updated_at = datetime.now(UTC)
        store.audit(
            session, "account_role_set", account=username, role=role.value, actor=actor.audit()
        )
        return _view(account)


def authenticate(
    store: Store, username: str, password: str, *, via: str, now: datetime | None = None
) -> Login:
    """Check a login. Five failures in a row lock the account for 15 minutes. Audited: the
    account's name when it is one, and how the login ended; never the password."""
    now = now or datetime.now(UTC)
    with store.transaction() as session:
        account = _find(session, username) if USERNAME.fullmatch(username) else None
        if account is None:
            _verify(_DUMMY_HASH, password)
            store.audit(session, "login_refused", account=None, reason="no such account", via=via)
            return Login(LoginOutcome.REFUSED)
        if account.locked_until is not None and account.locked_until > now:
            store.audit(session, "login_refused", account=username, reason="locked", via=via)
            return Login(LoginOutcome.LOCKED)
        if not _verify(account.password_hash, password):
            account.failed_logins += 1
            locked = account.failed_logins >= LOCK_AFTER_FAILURES
            if locked:
                account.locked_until = now + LOCK_FOR
                account.failed_logins = 0
            store.audit(
                session,
                "login_refused",
                account=username,
                reason="wrong password",
                locked=locked,
                via=via,
            )
            return Login(LoginOutcome.LOCKED if locked else LoginOutcome.REFUSED)
        if not account.enabled:
            store.audit(session, "login_refused", account=username, reason="disabled", via=via)
            return Login(LoginOutcome.DISABLED)
        if _HASHER.check_needs_rehash(account.password_hash):
            account.password_hash = _HASHER.hash(password)
        account.failed_logins, account.locked_until = 0, None
        account.last_login_at = now
        store.audit(session, "login", account=username, via=via)
        return Login(LoginOutcome.OK, _view(account))


def trusted_login(store: Store, username: str, *, via: str) -> Login:
    """A login a trusted reverse proxy vouches for (single sign-on): the name must be an
    enabled account; no password is checked here. Audited like a login."""
    with store.transaction() as session:
        account = _find(session, username) if USERNAME.fullmatch(username) else None
        if account is None:
            store.audit(session, "login_refused", account=None, reason="no such account", via=via)
            return Login(LoginOutcome.REFUSED)
        if not account.enabled:
            store.audit(session, "login_refused", account=username, reason="disabled", via=via)
            return Login(LoginOutcome.DISABLED)
        account.last_login_at = datetime.now(UTC)
        store.audit(session, "login", account=username, via=via)
        return Login(LoginOutcome.OK, _view(account))


def _verify(digest: str, password: str) -> bool:
    try:
        return _HASHER.verify(digest, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# -- the console's session key ---------------------------------------------------------------

#: The file beside the store that holds the session key when no secret names one.
SESSION_KEY_SUFFIX: Final = ".console-key"


class SessionKeyError(ConfigError):
    """The console's session key cannot be had; the message says where it was looked for
    (a configuration problem: ``run`` and ``console`` end in that one sentence)."""


def session_key_file(settings: Settings) -> Path:
    """Where the generated key lives: beside a SQLite store's file, else beside the
    configuration (a PostgreSQL store has no file of its own)."""
    database = sqlite_path(settings.store.url)
    if database is not None:
        return database.with_name(database.name + SESSION_KEY_SUFFIX)
    base = settings.source.parent if settings.source is not None else Path.cwd()
    return base / ("skn-connector" + SESSION_KEY_SUFFIX)


def console_session_key(settings: Settings) -> bytes:
    """The key that signs the console's session cookies: ``[console] session_key`` (a
    secret:NAME), or a random key generated on the first start into a file beside the store,
    readable by its owner only (0600). Never in the configuration or the store."""
    reference = settings.console.session_key
    if reference is not None:
        try:
            value = resolve_secret(reference)
        except SecretError as exc:
            raise SessionKeyError(f"console.session_key: {exc}") from None
        if len(value) < 32:
            raise SessionKeyError("console.session_key: the secret has fewer than 32 characters")
        return value.encode("utf-8")
    path = session_key_file(settings)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise SessionKeyError(
            f"the console's session key {path} cannot be made ({exc.strerror}); "
            'set [console] session_key = "secret:NAME"'
        ) from None
    else:
        with os.fdopen(descriptor, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(32) + "\n")
    try:
        if path.stat().st_mode & 0o077:
            raise SessionKeyError(
                f"the console's session key {path} may be read by others: chmod 600 it"
            )
        value = path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise SessionKeyError(
            f"the console's session key {path} cannot be read ({exc.strerror})"
        ) from None
    if len(value) < 32:
        raise SessionKeyError(f"the console's session key {path} is too short: remove it")
    return value.encode("ascii")
