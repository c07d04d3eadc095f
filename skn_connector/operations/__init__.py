"""The one layer every face calls: reads (status, lists, a message, the policy, the chain
``explain`` tells), a person's actions (each naming the person, written to the audit trail)
and ``doctor``. The command
line, the HTTP face and the console are thin wrappers around ``Operations``."""

from ..engine.tasks import TaskError
from ..store.status import AccountRole
from .accounts import AccountError, AccountView, Login, LoginOutcome
from .core import Operations, Overview, PortalImport
from .explain import ExplainNotFound
from .queries import MessageNotFound
from .views import (
    AuditFilter,
    ConversationNotFound,
    MessageFilter,
    Page,
    QuarantineNotFound,
    RevealRefused,
    TaskDetail,
    TaskFilter,
    TaskNotFound,
    message_types,
)

__all__ = [
    "AccountError",
    "AccountRole",
    "AccountView",
    "AuditFilter",
    "ConversationNotFound",
    "ExplainNotFound",
    "Login",
    "LoginOutcome",
    "MessageFilter",
    "MessageNotFound",
    "Operations",
    "Overview",
    "Page",
    "PortalImport",
    "QuarantineNotFound",
    "RevealRefused",
    "TaskDetail",
    "TaskError",
    "TaskFilter",
    "TaskNotFound",
    "message_types",
]
