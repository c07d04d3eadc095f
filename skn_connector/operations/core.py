"""Every read and every person's action on the connector, one call each.

The command line, the HTTP face and the console are thin wrappers around this class, as
Kafka Connect's REST API and CLI are around its Herder. A read (lists, a message, a
conversation's thread, the policy, the audit trail's verification) opens the store only;
an action a person takes names that person (an ``Actor``) and writes them to the audit
trail. Actions that decide (a proposal judged, a portal download answered) get the
adapters, never a node client: they record what is to be sent, and the working instance
delivers it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ..actor import Actor
from ..config import Settings
from ..engine.policy import Policy
from ..engine.retention import PurgeReport, purge_personal_data, retention_period
from ..engine.tasks import handle_quarantined
from ..service.wiring import build_policy, desk, open_creditor_store
from ..store import Store
from ..store.audit import AuditHead, AuditReport, verify_audit
from ..store.lease import StoreLease
from ..store.status import AccountRole, QuarantineStatus
from . import accounts, queries, views
from .accounts import AccountView, Login
from .explain import Explanation, explain
from .status import AMSTERDAM, Status, status


@dataclass(frozen=True)
class PortalImport:
    """What a portal download brought: the count of each intake outcome, and whether its
    questions were answered now (this instance held the store's lease) or are left to the
    instance that works the store."""

    outcomes: dict[str, int]
    answered_now: bool


@dataclass(frozen=True)
class Overview:
    """The console's overview: the state of the work, the answers due, the holds refused."""

    status: Status
    answers_due: list[dict[str, Any]]
    holds_refused: int


class Operations:
    """The connector's reads and a person's actions, on the store a configuration names."""

    def __init__(self, settings: Settings, *, store: Store | None = None) -> None:
        """``store``: the deployment's store already open (scoped to this creditor here);
        by default it is opened when first needed."""
        self.settings = settings
        self._store: Store | None = (
            store.scoped(settings.creditor_id) if store is not None else None
        )
        self._policy: Policy | None = None

    @classmethod
    @contextlib.contextmanager
    def on(cls, settings: Settings) -> Iterator[Operations]:
        """Operations on ``settings``; the store (opened when first needed) is closed after."""
        operations = cls(settings)
        try:
            yield operations
        finally:
            operations.close()

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_creditor_store(self.settings)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- reads ------------------------------------------------------------------------------

    def messages(self, *, limit: int = 50) -> list[dict[str, Any]]:
        return queries.list_messages(self.store, limit)

    def message(
        self, referentienummer: str, *, reveal: Actor | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """A message with its thread, masked; in clear when ``reveal`` names who asks
        (audited, with ``reason``). MessageNotFound when the store has no such message."""
        return queries.show_message(self.store, referentienummer, reveal=reveal, reason=reason)

    def message_page(self, filters: views.MessageFilter, *, page: int = 1) -> views.Page:
        """Messages received and sent, newest first, filtered, one page."""
        return views.list_messages(self.store, filters, page=page)

    def conversation(
        self, conversation_id: str, *, reveal: Actor | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """A conversation as one thread with its holds and tasks; masked unless ``reveal``
        names who asks, with a reason (RevealRefused without one; audited).
        ConversationNotFound when there is none."""
        return views.conversation(
            self.store, self.policy(), conversation_id, reveal=reveal, reason=reason
        )

    def task_page(self, filters: views.TaskFilter, *, page: int = 1) -> views.Page:
        return views.list_tasks(self.store, self.settings, filters, page=page, today=self.today())

    def task(self, task_id: int) -> views.TaskDetail:
        """A task with its message (masked), the policy's advice and what each choice does
        (TaskNotFound when there is none)."""
        return views.task_detail(self.store, self.policy(), task_id)

    def debtors_with_holds(self, *, page: int = 1, klantnummer: str | None = None) -> views.Page:
        return views.holds_by_debtor(self.store, page=page, klantnummer=klantnummer)

    def debtor_holds(self, klantnummer: str) -> dict[str, Any]:
        """What is stopped for a debtor (by KlantnummerSE), on which claims, until when, why."""
        return views.debtor_holds(self.store, self.policy(), klantnummer)

    def quarantine_page(
        self, *, state: str | None = QuarantineStatus.OPEN, page: int = 1
    ) -> views.Page:
        return views.list_quarantine(self.store, state=state, page=page)

    def quarantine_entry(self, quarantine_id: int) -> dict[str, Any]:
        return views.quarantine_entry(self.store, quarantine_id)

    def audit_page(self, filters: views.AuditFilter, *, page: int = 1) -> views.Page:
        """This creditor's audit trail, or with ``filters.deployment`` the deployment's own
        (the console's accounts and logins), newest first, one page."""
        store = self.store.deployment() if filters.deployment else self.store
        return views.list_audit(store, filters, page=page)

    def policy_view(self) -> dict[str, Any]:
        """The policy in force as data: groups, events with their rules and sources."""
        return views.policy_view(self.policy())

    def overview(self, now: datetime | None = None) -> Overview:
        """What the overview shows: the state of the work (operations.status), the answers
        due or overdue, and the holds the back-office refused."""
        now = now or datetime.now(UTC)
        today = now.astimezone(AMSTERDAM).date()
        return Overview(
            status=status(self.store, self.settings, now),
            answers_due=views.answers_due(self.store, self.settings, today),
            holds_refused=views.holds_refused(self.store),
        )

    def today(self) -> date:
        return datetime.now(UTC).astimezone(AMSTERDAM).date()

    def quarantine(self) -> list[dict[str, Any]]:
        return queries.list_quarantine(self.store)

    def tasks(self, *, include_resolved: bool = False) -> list[dict[str, Any]]:
        return queries.list_tasks(self.store, include_resolved=include_resolved)

    def holds(self, *, include_released: bool = False) -> list[dict[str, Any]]:
        return queries.list_holds(self.store, include_released=include_released)

    def policy(self) -> Policy:
        """The effective enforcement policy (ConfigError for an override that is not valid);
        built once."""
        if self._policy is None:
            self._policy = build_policy(self.settings)
        return self._policy

    def explain(self, reference: str | None = None, *, debtor: str | None = None) -> Explanation:
        """Why enforcement stopped or went on for a hold, a message, a conversation or a
        debtor (a KlantnummerSE): the chain, each step with its sources. ExplainNotFound
        when the store has none of them."""
        return explain(self.store, self.policy(), reference, debtor=debtor)

    def verify_audit(
        self, *, expected_head: AuditHead | None = None, deployment: bool = False
    ) -> AuditReport:
        """Recompute this creditor's audit chain, or with ``deployment`` the deployment's own
        (its accounts and logins)."""
        store = self.store.deployment() if deployment else self.store
        return verify_audit(store, expected_head=expected_head)

    def verify_every_audit(self) -> AuditReport:
        """Recompute every chain of the store: each creditor's and the deployment's; the
        first that does not verify is reported, else all together."""
        return verify_audit(self.store.unscoped())

    # -- the console's accounts ---------------------------------------------------------------

    def users(self) -> list[AccountView]:
        return accounts.list_accounts(self.store)

    def user(self, username: str) -> AccountView | None:
        return accounts.find_account(self.store, username)

    def add_user(
        self,
        username: str,
        *,
        role: AccountRole,
        password: str,
        actor: Actor,
        creditors: Sequence[str] | None = None,
    ) -> AccountView:
        """A new console account (AccountError: the name is taken or not valid, the password
        too short), seeing the work of ``creditors`` (participant ids; None: every creditor).
        Audited, without the password."""
        return accounts.add_account(
            self.store.deployment(), username, role, password, actor=actor, creditors=creditors
        )

    def disable_user(self, username: str, *, actor: Actor) -> AccountView:
        return accounts.disable_account(self.store.deployment(), username, actor=actor)

    def enable_user(self, username: str, *, actor: Actor) -> AccountView:
        return accounts.enable_account(self.store.deployment(), username, actor=actor)

    def set_password(self, username: str, *, password: str, actor: Actor) -> AccountView:
        return accounts.set_password(self.store.deployment(), username, password, actor=actor)

    def set_role(self, username: str, *, role: AccountRole, actor: Actor) -> AccountView:
        return accounts.set_role(self.store.deployment(), username, role, actor=actor)

    def login(self, username: str, password: str, *, via: str = "console") -> Login:
        """Check a console login (locks after five failures in a row); audited."""
        return accounts.authenticate(self.store.deployment(), username, password, via=via)

    def trusted_login(self, username: str, *, via: str = "console-sso") -> Login:
        """A login a trusted reverse proxy vouches for: the account must exist and be enabled."""
        return accounts.trusted_login(self.store.deployment(), username, via=via)

    # -- a person's actions -----------------------------------------------------------------

    def resolve_task(self, task_id: int, *, choice: str, note: str | None, actor: Actor) -> str:
        """Resolve a task; for a proposal the chosen answer goes to the outbox. TaskError
        (one sentence) when it cannot be resolved as asked."""
        with desk(self.settings, self.store) as pipeline:
            return pipeline.tasks.resolve(task_id, choice=choice, note=note, actor=actor)

    def retry_quarantined(self, quarantine_id: int, *, actor: Actor) -> str:
        """Try a quarantined message again; accepted, it and its task are resolved."""
        with desk(self.settings, self.store) as pipeline:
            return pipeline.retry_quarantined(quarantine_id, actor=actor)

    def handle_quarantined(self, quarantine_id: int, *, reason: str, actor: Actor) -> str:
        """Mark a quarantined message handled (with the reason) and resolve its tasks;
        TaskError when it cannot be."""
        return handle_quarantined(self.store, quarantine_id, reason=reason, actor=actor)

    def replay(self, referentienummer: str, *, actor: Actor) -> str:
        with desk(self.settings, self.store) as pipeline:
            return pipeline.replay(referentienummer, actor=actor)

    def import_portal(self, path: Path, *, actor: Actor) -> PortalImport:
        """Take a portal download into the inbox (all or nothing: PortalCsvError), then answer
        it when this instance may work the store; otherwise the working instance answers it
        at its next round. Audited with the person and the file."""
        with desk(self.settings, self.store) as pipeline:
            outcomes = pipeline.portal.import_download(path)
            with self.store.transaction() as session:
                self.store.audit(
                    session,
                    "portal_imported",
                    actor=actor.audit(),
                    file=path.name,
                    outcomes=outcomes,
                )
            with StoreLease(self.store) as lease:
                answered_now = lease.acquire()
                if answered_now:  # nobody else works the store: answer the download now
                    while pipeline.process_due() > 0:
                        pass
                    pipeline.carry_out()
        return PortalImport(outcomes, answered_now)

    def export_portal(self, path: Path, *, actor: Actor) -> int:
        """Write the answers waiting for the web portal to an upload file; returns how many."""
        with desk(self.settings, self.store) as pipeline:
            count = pipeline.portal.export(path)
        with self.store.transaction() as session:
            self.store.audit(
                session, "portal_exported", actor=actor.audit(), file=path.name, answers=count
            )
        return count

    def purge_personal_data(
        self, *, older_than_months: int, dry_run: bool, actor: Actor
    ) -> PurgeReport:
        report = purge_personal_data(
            self.store, retention_period(older_than_months), dry_run=dry_run
        )
        if not dry_run:
            with self.store.transaction() as session:
                self.store.audit(
                    session,
                    "retention_purged",
                    actor=actor.audit(),
                    months=older_than_months,
                    messages=report.messages,
                )
        return report


__all__ = ["Operations", "Overview", "PortalImport"]
