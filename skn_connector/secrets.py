"""Secret providers: a config value ``secret:NAME`` is looked up here, never kept in files.

Order: the environment (``SKN_SECRET_<NAME>``), a credentials directory
(``$CREDENTIALS_DIRECTORY`` as systemd's LoadCredential sets it, or
``SKN_SECRETS_DIR``), then the system keyring when the ``keyring`` extra is installed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def secret_refs(value: Any) -> Iterator[str]:
    """Every ``secret:NAME`` reference in a value of the settings (options nest)."""
    if isinstance(value, str) and is_secret_ref(value):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from secret_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from secret_refs(item)


# -- the keyring ----------------------------------------------------------------------------


class KeyringUnavailable(Exception):
    """No usable system keyring here; the message says what to use instead."""


class KeyringFailed(Exception):
    """The keyring is there but did not store the secret."""


def _instead(name: str) -> str:
    return (
        f"set the environment variable {env_var_name(name)} or put a file {name!r} in "
        "$CREDENTIALS_DIRECTORY (systemd LoadCredential=) or $SKN_SECRETS_DIR instead"
    )


def store_secret_in_keyring(name: str, value: str) -> str:
    """Store ``value`` as the secret ``name`` (checked as ``secret:NAME``) in the system keyring
    and read it back; returns the backend's name. KeyringUnavailable when there is no usable
    keyring (the package missing, a headless server), KeyringFailed when storing fails."""
    secret_name(SECRET_PREFIX + name)
    try:
        import keyring  # type: ignore[import-not-found,unused-ignore]
        from keyring.backends import fail  # type: ignore[import-not-found,unused-ignore]
        from keyring.errors import (  # type: ignore[import-not-found,unused-ignore]
            KeyringError,
            NoKeyringError,
        )
    except ImportError:
        raise KeyringUnavailable(
            "the keyring package is not installed (pip install 'skn-connector[keyring]'); "
            + _instead(name)
        ) from None
    backend = keyring.get_keyring()
    backend_name = str(getattr(backend, "name", type(backend).__name__))
    if isinstance(backend, fail.Keyring):
        raise KeyringUnavailable(f"no system keyring backend is available here; {_instead(name)}")

    def _safe(exc: BaseException) -> str:
        return str(exc).replace(value, "***") if value else str(exc)

    try:
        keyring.set_password(KEYRING_SERVICE, name, value)
        stored = keyring.get_password(KEYRING_SERVICE, name)
    except NoKeyringError:
        raise KeyringUnavailable(
            f"no system keyring backend is available here; {_instead(name)}"
        ) from None
    except (KeyringError, RuntimeError, OSError) as exc:
        raise KeyringFailed(
            f"the system keyring ({backend_name}) did not store secret {name!r} "
            f"({type(exc).__name__}: {_safe(exc)[:200]}); {_instead(name)}"
        ) from None
    if stored != value:
        raise KeyringFailed(
            f"the system keyring ({backend_name}) did not give secret {name!r} back as stored; "
            + _instead(name)
        )
    return backend_name


def shadowing_source(name: str) -> str | None:
    """Where a value for ``name`` is found before the keyring, if anywhere (it wins)."""
    env = env_var_name(name)
    if env in os.environ:
        return f"the environment variable {env}"
    for variable in ("CREDENTIALS_DIRECTORY", "SKN_SECRETS_DIR"):
        directory = os.environ.get(variable)
        if directory and (Path(directory) / name).is_file():
            return f"the file {name!r} in ${variable}"
    return None
