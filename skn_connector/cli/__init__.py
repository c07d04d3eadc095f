"""The command line: ``skn-connector``, thin commands over the operations layer.

Each module registers its commands on the groups of ``app``; heavy imports happen inside
the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import sys

from . import (  # noqa: F401  (registers)
    drill,
    explain,
    messages,
    policy,
    portal,
    running,
    security,
    tasks,
    users,
)
from .app import app


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["app", "main"]
