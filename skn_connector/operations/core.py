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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..actor import Actor
from ..config import Settings
from ..engine.policy import Policy
from ..engine.retention import PurgeReport, purge_personal_data, retention_period
from ..service.wiring import build_policy, desk
from ..store import Store, open_configured_store
from ..store.audit import AuditHead, AuditReport, verify_audit
from ..store.lease import StoreLease
from . import queries
from .explain import Explanation, explain


@dataclass(frozen=True)
class PortalImport:
    """What a portal download brought: the count of each intake outcome, and whether its
    questions were answered now (this instance held the store's lease) or are left to the
    instance that works the store."""

    outcomes: dict[str, int]
    answered_now: bool


class Operations:
    """The connector's reads and a person's actions, on the store a configuration names."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Store | None = None

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
            self._store = open_configured_store(self.settings.store)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- reads ------------------------------------------------------------------------------

    def messages(self, *, limit: int = 50) -> list[dict[str, Any]]:
        return queries.list_messages(self.store, limit)

    def message(self, referentienummer: str, *, reveal: Actor | None = None) -> dict[str, Any]:
        """A message with its thread, masked; in clear when ``reveal`` names who asks
        (audited). MessageNotFound when the store has no such message."""
        return queries.show_message(self.store, referentienummer, reveal=reveal)

    def quarantine(self) -> list[dict[str, Any]]:
        return queries.list_quarantine(self.store)

    def tasks(self, *, include_resolved: bool = False) -> list[dict[str, Any]]:
        return queries.list_tasks(self.store, include_resolved=include_resolved)

    def holds(self, *, include_released: bool = False) -> list[dict[str, Any]]:
        return queries.list_holds(self.store, include_released=include_released)

    def policy(self) -> Policy:
        """The effective enforcement policy (ConfigError for an override that is not valid)."""
        return build_policy(self.settings)

    def explain(self, reference: str | None = None, *, debtor: str | None = None) -> Explanation:
        """Why enforcement stopped or went on for a hold, a message, a conversation or a
        debtor (a KlantnummerSE): the chain, each step with its sources. ExplainNotFound
        when the store has none of them."""
        return explain(self.store, self.policy(), reference, debtor=debtor)

    def verify_audit(self, *, expected_head: AuditHead | None = None) -> AuditReport:
        return verify_audit(self.store, expected_head=expected_head)

    # -- a person's actions -----------------------------------------------------------------

    def resolve_task(self, task_id: int, *, choice: str, note: str | None, actor: Actor) -> str:
        """Resolve a task; for a proposal the chosen answer goes to the outbox. TaskError
        (one sentence) when it cannot be resolved as asked."""
        with desk(self.settings, self.store) as pipeline:
            return pipeline.tasks.resolve(task_id, choice=choice, note=note, actor=actor)

    def retry_quarantined(self, quarantine_id: int, *, actor: Actor) -> str:
        with desk(self.settings, self.store) as pipeline:
            return pipeline.retry_quarantined(quarantine_id, actor=actor)

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


__all__ = ["Operations", "PortalImport"]
