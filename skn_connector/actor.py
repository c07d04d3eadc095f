"""Who does something: the person behind an action, passed to every operation explicitly.

At the command line that is the account the process runs as, read from the operating system
(its real uid), not from ``LOGNAME`` or ``USER``, which anyone can set. Under sudo that
account is the target (often root), so the invoking user sudo reports (``SUDO_USER``) is
kept beside it. The console passes its logged-in user the same way.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Actor:
    """A person acting through one of the faces (``via``: cli, console, http)."""

    name: str
    via: str
    uid: int | None = None
    #: the account that ran sudo, when the command runs under sudo
    sudo_user: str | None = None

    @classmethod
    def at_the_command_line(cls) -> Actor:
        """The real account of this process, and the invoking user under sudo."""
        uid = os.getuid()
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:  # a uid without an entry in the password database (a container)
            name = f"uid {uid}"
        sudo_user = os.environ.get("SUDO_USER") or None
        return cls(name=name, via="cli", uid=uid, sudo_user=sudo_user)

    @classmethod
    def on_the_console(cls, username: str) -> Actor:
        return cls(name=username, via="console")

    @property
    def label(self) -> str:
        """How a task or a listing names the person: ``root (sudo by alice)``."""
        return f"{self.name} (sudo by {self.sudo_user})" if self.sudo_user else self.name

    def audit(self) -> dict[str, Any]:
        """The actor as the audit trail records it."""
        entry: dict[str, Any] = {"name": self.name, "via": self.via}
        if self.uid is not None:
            entry["uid"] = self.uid
        if self.sudo_user:
            entry["sudo_user"] = self.sudo_user
        return entry
