"""Files that hold secrets or personal data and that others may read or change: ``run``
warns about them at start and ``doctor`` as a check, as ssh refuses an open private key."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ..secrets import secret_file, secret_refs
from ..store.db import sqlite_path

if TYPE_CHECKING:
    from ..config import Settings


# -- files others may read or change -----------------------------------------------------

#: Readable by group or others; writable by them.
_READABLE_BY_OTHERS: Final = stat.S_IRGRP | stat.S_IROTH
_WRITABLE_BY_OTHERS: Final = stat.S_IWGRP | stat.S_IWOTH


def exposed_files(settings: Settings) -> list[str]:
    """One sentence for each file that others may read or change though they should not,
    naming it and the fix (``chmod 600 PATH``): the private key, the file of a
    ``secret:NAME`` and the SQLite store with its -wal and -shm files readable by group or
    others, as ssh refuses an open private key; the configuration writable by them (it
    names the adapters that are loaded and the node that is trusted), or readable while
    ``store.url`` holds a password. Files that cannot be looked at are left out: the other
    checks name them. ``doctor`` warns with these; ``run`` logs them at start."""
    found: list[str] = []
    tls = settings.node.tls
    if tls is not None:
        found += _open_to_read(tls.private_key, "the private key node.tls.private_key")
    if settings.receive is not None:
        key = settings.receive.tls.private_key
        found += _open_to_read(key, "the private key receive.tls.private_key")
    for reference in _settingssecret_refs(settings):
        file = secret_file(reference)
        if file is not None:
            found += _open_to_read(file, f"the file of {reference}")
    database = sqlite_path(settings.store.url)
    if database is not None:
        for suffix in ("", "-wal", "-shm"):
            found += _open_to_read(Path(f"{database}{suffix}"), "the store")
    if settings.source is not None:
        found += _exposed_configuration(settings.source, settings.store.url)
    return found


def _settingssecret_refs(settings: Settings) -> list[str]:
    references = [r for adapter in settings.adapters for r in secret_refs(adapter.options)]
    if settings.receive is not None and settings.receive.tls.private_key_password:
        references.insert(0, settings.receive.tls.private_key_password)
    tls = settings.node.tls
    if tls is not None and tls.private_key_password:
        references.insert(0, tls.private_key_password)
    return list(dict.fromkeys(references))  # each once, in the order of the file


def _mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


def _open_to_read(path: Path, what: str) -> list[str]:
    mode = _mode(path)
    if mode is None or not mode & _READABLE_BY_OTHERS:
        return []
    return [f"{what} {path} is readable by group or others (mode {mode:04o}): chmod 600 {path}"]


def _exposed_configuration(path: Path, store_url: str) -> list[str]:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    mode = _mode(path)
    if mode is None:
        return []
    if mode & _WRITABLE_BY_OTHERS:
        return [
            f"the configuration {path} can be changed by group or others (mode {mode:04o}): "
            f"chmod 600 {path}"
        ]
    try:
        has_password = make_url(store_url).password is not None
    except ArgumentError:
        has_password = False
    if has_password and mode & _READABLE_BY_OTHERS:
        return [
            f"the configuration {path} holds the password of store.url and is readable by "
            f"group or others (mode {mode:04o}): chmod 600 {path}"
        ]
    return []
