"""skn-connector: a creditor's connector to the Dutch Schuldenknooppunt.

The public SDK surface is ``skn_connector.adapters.api`` (for adapter authors)
and ``skn_connector.messages`` (the typed message catalog). This module only
re-exports their version.
"""

from .adapters.api import SDK_VERSION

__version__ = "0.1.0"

__all__ = ["SDK_VERSION", "__version__"]
