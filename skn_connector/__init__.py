"""skn-connector: a creditor's connector to the Dutch Schuldenknooppunt.

The public SDK surface is ``skn_connector.adapters.api`` (for adapter authors)
and ``skn_connector.messages`` (the typed message catalog). This module only
re-exports their version, and imports nothing heavy: ``skn-connector --help`` starts
fast because importing the package does not load pydantic (``SDK_VERSION`` is looked
up on first use).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["SDK_VERSION", "__version__"]


def __getattr__(name: str) -> str:
    if name == "SDK_VERSION":
        from .adapters.api import SDK_VERSION

        return SDK_VERSION
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
