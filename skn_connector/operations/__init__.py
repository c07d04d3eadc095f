"""The one layer every face calls: reads (status, lists, a message, the policy, the chain
``explain`` tells), a person's
actions (each naming the person, written to the audit trail) and ``doctor``. The command
line, the HTTP face and the console are thin wrappers around ``Operations``."""

from .core import Operations, PortalImport
from .explain import ExplainNotFound
from .queries import MessageNotFound

__all__ = ["ExplainNotFound", "MessageNotFound", "Operations", "PortalImport"]
