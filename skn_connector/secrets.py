"""Secret providers: a config value ``secret:NAME`` is looked up here, never kept in files.

Order: the environment (``SKN_SECRET_<NAME>``), a credentials directory
(``$CREDENTIALS_DIRECTORY`` as systemd's LoadCredential sets it, or
``SKN_SECRETS_DIR``), then the system keyring when the ``keyring`` extra is installed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

SECRET_PREFIX = "secret:"
KEYRING_SERVICE = "skn-connector"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class SecretError(Exception):
    """A secret that cannot be found; the message says where it was looked for."""


def is_secret_ref(value: str) -> bool:
    return value.startswith(SECRET_PREFIX)


def secret_name(value: str) -> str:
    name = value.removeprefix(SECRET_PREFIX)
    if not _NAME.fullmatch(name):
        raise SecretError(
            f"{value!r} is not a valid secret reference; use secret:NAME with letters, digits, "
            "'-', '_' or '.'"
        )
    return name


def env_var_name(name: str) -> str:
    return "SKN_SECRET_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _credential_dirs() -> list[Path]:
    return [
        Path(v) for k in ("CREDENTIALS_DIRECTORY", "SKN_SECRETS_DIR") if (v := os.environ.get(k))
    ]


def _from_keyring(name: str) -> str | None:
    try:
        import keyring  # type: ignore[import-not-found,unused-ignore]
        from keyring.errors import KeyringError  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    try:
        value = keyring.get_password(KEYRING_SERVICE, name)
    except (KeyringError, RuntimeError):
        # Headless servers often have no keyring backend: fall through to "not found".
        return None
    return value if isinstance(value, str) else None


def secret_file(reference: str) -> Path | None:
    """The file the value of ``secret:NAME`` is read from, when it comes from a file (the
    environment is looked at first)."""
    name = secret_name(reference)
    if env_var_name(name) in os.environ:
        return None
    for directory in _credential_dirs():
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def resolve_secret(reference: str) -> str:
    """The value of ``secret:NAME``; SecretError names where it was looked for."""
    name = secret_name(reference)
    env = env_var_name(name)
    if env in os.environ:
        return os.environ[env]
    file = secret_file(reference)
    if file is not None:
        return file.read_text(encoding="utf-8").rstrip("\r\n")
    value = _from_keyring(name)
    if value is not None:
        return value
    raise SecretError(
        f"secret {name!r} not found: set {env}, or put a file {name!r} in $CREDENTIALS_DIRECTORY "
        "or $SKN_SECRETS_DIR, or store it in the system keyring"
    )
