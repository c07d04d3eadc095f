"""Carrying out holds, releases and write-offs through the adapters: durable intent first,
idempotent effect after (the outbox pattern, applied to the back-office)."""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..adapters.api import AdapterError, Hold, MeasureCode, WriteOff
from ..adapters.registry import LoadedAdapter
from ..masking import personal_values
from ..redaction import personal_values as in_hand
from ..store import statements as sql
from ..store.bulk import execute_many
from ..store.db import Store
from ..store.schema import HoldRecord, InboxMessage, WriteOffRecord
from ..store.status import HoldStatus, TaskKind, WriteOffStatus
from ..wire.soap import decode_message
from .crashpoints import crashpoint
from .failures import Failure, FinalTask, record_failure

log = logging.getLogger(__name__)

#: How many holds are carried out before they are marked in one transaction: as many as a
#: round of the default node batch (250) plans, so that they take one back-office transaction
#: and one marking commit (100 took three of each). After a crash in between, the adapter
#: calls of one batch are repeated (they are idempotent by hold id).
HOLD_BATCH = 250

#: The reason an adapter sees on a hold, by policy event.
HOLD_REASONS = {
    "E03": "KENNISGEVING",
    "E04": "SALDOVERZOEK",
    "E05": "BETAALVOORSTEL",
    "E06": "BETALINGSREGELING",
    "E07": "BETAALVOORSTEL",
    "E08": "SCHULDREGELING",
    "E14": "WSNP",
    "E20": "OVERLIJDEN",
}


# a hold's JSON columns take a few values over and over (the measures of a policy, a
# debtor's claims): each is parsed once
@functools.lru_cache(maxsize=1024)
def _measure_codes(text: str) -> frozenset[MeasureCode]:
    return frozenset(MeasureCode(m) for m in json.loads(text))


@functools.lru_cache(maxsize=4096)
def _json_strings(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def hold_of(record: Any) -> Hold:
    """The adapter's view of a hold record (an ORM object or a row of the holds table)."""
    return Hold(
        hold_id=uuid.UUID(record.hold_id),
        debtor_id=record.debtor_id,
        factuurnummers=_json_strings(record.factuurnummers),
        measures=_measure_codes(record.measures),
        lift=_measure_codes(record.lift),
        reason=HOLD_REASONS.get(record.event, record.event),
        basis=record.basis,
        starts=record.starts,
        ends=record.ends,
        conversation_id=uuid.UUID(record.conversation_id),
    )


class EffectRunner:
    def __init__(
        self,
        store: Store,
        adapters: Mapping[str, LoadedAdapter],
        clock: Callable[[], datetime],
        today: Callable[[], date],
    ) -> None:
        self.store = store
        self.adapters = adapters
        self.clock = clock
        self.today = today

    # -- recording, inside the decision's transaction -------------------------------------

    def record(
        self,
        session: Session,
        conversation_id: str,
        decision: Any,
        *,
        pending_holds: list[dict[str, Any]] | None = None,
    ) -> None:
        """Record the decision's holds, releases and write-offs in ``session``. With
        ``pending_holds``, the new holds' rows are added to it, for the caller to insert
        together with other decisions' rows (before anything reads them)."""
        now = self.clock()
        for release in decision.releases:
            query = select(HoldRecord).where(HoldRecord.status.in_(HoldStatus.active()))
            scopes = []
            if release.conversation_id:
                scopes.append(HoldRecord.conversation_id == release.conversation_id)
            for adapter, debtor_id in release.debtor_ids:
                scopes.append((HoldRecord.adapter == adapter) & (HoldRecord.debtor_id == debtor_id))
            if not scopes:
                continue
            query = query.where(or_(*scopes))
            if release.hold_types:
                query = query.where(HoldRecord.hold_type.in_(release.hold_types))
            for record in session.scalars(query):
                record.status = HoldStatus.TO_RELEASE
                record.release_reason = release.reason[:128]
                record.next_attempt_at = None
                record.attempts = 0
        rows = [
            {
                "hold_id": str(plan.hold_id),
                "hold_type": plan.hold_type,
                "event": plan.event,
                "conversation_id": conversation_id,
                "adapter": plan.adapter,
                "debtor_id": plan.debtor_id,
                "factuurnummers": json.dumps(list(plan.factuurnummers)),
                "measures": json.dumps(sorted(plan.measures)),
                "lift": json.dumps(sorted(plan.lift)),
                "basis": plan.basis,
                "starts": plan.starts,
                "ends": plan.ends,
                "status": HoldStatus.TO_APPLY,
                "attempts": 0,
                "created_at": now,
            }
            for plan in decision.holds
        ]
        if pending_holds is not None:
            pending_holds.extend(rows)
        elif rows:
            execute_many(session.connection(), sql.INSERT_HOLD, rows)
        for plan in decision.write_offs:
            session.add(
                WriteOffRecord(
                    write_off_id=str(plan.write_off_id),
                    conversation_id=conversation_id,
                    adapter=plan.adapter,
                    debtor_id=plan.debtor_id,
                    factuurnummers=json.dumps(list(plan.factuurnummers)),
                    excluded=json.dumps([list(e) for e in plan.excluded]),
                    reason=plan.reason,
                    datum=plan.datum,
                    status=WriteOffStatus.TO_APPLY,
                    attempts=0,
                    created_at=now,
                )
            )

    # -- carrying out ----------------------------------------------------------------------

    def expire(self) -> int:
        """Holds whose end date has passed are released (the scheduler calls this daily)."""
        today = self.today()
        with self.store.transaction() as session:
            expired = list(
                session.scalars(
                    select(HoldRecord).where(
                        HoldRecord.status == HoldStatus.APPLIED,
                        HoldRecord.ends.is_not(None),
                        HoldRecord.ends < today,
                    )
                )
            )
            for record in expired:
                record.status = HoldStatus.TO_RELEASE
                record.release_reason = f"expired on {record.ends}"
                self.store.audit(
                    session,
                    "hold_expired",
                    conversation_id=record.conversation_id,
                    hold_id=record.hold_id,
                    hold_type=record.hold_type,
                )
        return len(expired)

    def run_due(self) -> int:
        """Apply, release and write off what is due. Returns how many effects took place."""
        now = self.clock()
        done = 0
        with self.store.transaction() as session:
            holds = list(
                session.scalars(
                    select(HoldRecord.id)
                    .where(HoldRecord.status.in_(HoldStatus.due()))
                    .where(
                        or_(HoldRecord.next_attempt_at.is_(None), HoldRecord.next_attempt_at <= now)
                    )
                    .order_by(HoldRecord.id)
                )
            )
            write_offs = list(
                session.scalars(
                    select(WriteOffRecord.id)
                    .where(WriteOffRecord.status == WriteOffStatus.TO_APPLY)
                    .where(
                        or_(
                            WriteOffRecord.next_attempt_at.is_(None),
                            WriteOffRecord.next_attempt_at <= now,
                        )
                    )
                    .order_by(WriteOffRecord.id)
                )
            )
        for start in range(0, len(holds), HOLD_BATCH):
            done += self._hold_steps(holds[start : start + HOLD_BATCH])
        for record_id in write_offs:
            done += self._write_off_step(record_id)
        return done

    def _hold_steps(self, record_ids: list[int]) -> int:
        """Apply or release each hold through its adapter, then mark those carried out in one
        transaction. A crash in between repeats the adapter calls: they are idempotent by
        hold id. Returns how many were carried out."""
        records: dict[int, tuple[Hold, str, str]] = {}
        unreadable: list[tuple[int, Exception]] = []
        with self.store.transaction() as session:
            for row in session.connection().execute(
                sql.HOLDS_TO_CARRY_OUT, {"ids": list(record_ids)}
            ):
                try:
                    records[row.id] = (hold_of(row), row.status, row.adapter)
                except Exception as exc:  # a record one release wrote and this one cannot read
                    unreadable.append((row.id, exc))
        for record_id, error in unreadable:
            self._fail(HoldRecord, record_id, Failure.of(error), False)
        batches: dict[tuple[str, str], list[tuple[int, Hold]]] = {}
        for record_id in record_ids:
            if record_id in records:
                hold, status, adapter_name = records.pop(record_id)
                batches.setdefault((adapter_name, status), []).append((record_id, hold))
        carried: list[tuple[int, Hold, str]] = []
        for (adapter_name, status), batch in batches.items():
            carried += [
                (record_id, hold, status)
                for record_id, hold in self._carry_out_batch(adapter_name, status, batch)
            ]
        if not carried:
            return 0
        done: list[tuple[str, Hold]] = []
        with self.store.transaction() as session:
            connection = session.connection()
            current = {
                record.id: record
                for record in connection.execute(
                    sql.HOLDS_BY_ID, {"ids": [i for i, _, _ in carried]}
                )
            }
            now = self.clock()
            marks: dict[Any, list[dict[str, Any]]] = {
                sql.MARK_APPLIED: [],
                sql.MARK_RELEASED: [],
                sql.NOTE_APPLIED: [],
            }
            for record_id, hold, status in carried:
                record = current.get(record_id)
                if record is None:
                    continue
                if status == HoldStatus.TO_APPLY and record.status == HoldStatus.TO_APPLY:
                    marks[sql.MARK_APPLIED].append({"record": record_id, "at": now})
                    event = "hold_applied"
                elif status == HoldStatus.TO_RELEASE and record.status == HoldStatus.TO_RELEASE:
                    marks[sql.MARK_RELEASED].append({"record": record_id, "at": now})
                    event = "hold_released"
                elif status == HoldStatus.TO_APPLY and record.status == HoldStatus.TO_RELEASE:
                    # released while it was being applied: release it next round
                    marks[sql.NOTE_APPLIED].append({"record": record_id, "at": now})
                    done.append(("", hold))
                    continue
                else:
                    continue
                self.store.audit(
                    session,
                    event,
                    conversation_id=record.conversation_id,
                    hold_id=record.hold_id,
                    hold_type=record.hold_type,
                    adapter=record.adapter,
                    measures=json.loads(record.measures),
                    reason=record.release_reason,
                )
                done.append((event, hold))
            for statement, rows in marks.items():
                if rows:
                    execute_many(connection, statement, rows)
        for event, hold in done:
            if event:
                log.debug("%s %s (%s)", event.replace("_", " "), hold.hold_id, hold.reason)
        return len(done)

    def _carry_out_batch(
        self, adapter_name: str, status: str, batch: list[tuple[int, Hold]]
    ) -> list[tuple[int, Hold]]:
        """One adapter call for several holds of one kind (the adapter may do them in one
        back-office transaction); failures are recorded. Returns those carried out."""

        def one_by_one() -> list[tuple[int, Hold]]:
            return [
                (record_id, hold)
                for record_id, hold in batch
                if self._carry_out(record_id, hold, status, adapter_name)
            ]

        loaded = self.adapters.get(adapter_name)
        if loaded is None or len(batch) == 1:
            return one_by_one()
        holds = [hold for _, hold in batch]
        try:
            if status == HoldStatus.TO_APPLY:
                results = loaded.adapter.apply_holds(holds)
            else:
                results = loaded.adapter.release_holds(holds)
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for {len(batch)} holds")
        except Exception:  # an adapter bug in the batch: one by one, so it hits one hold only
            with self._about(hold.conversation_id for hold in holds):
                log.exception("adapter %s failed on a batch of %d holds", adapter_name, len(batch))
            return one_by_one()
        crashpoint("after_effect")
        done = []
        for (record_id, hold), result in zip(batch, results, strict=True):
            if isinstance(result, AdapterError):
                with self._about([hold.conversation_id]):
                    self._fail(HoldRecord, record_id, Failure.of(result), result.retryable)
            else:
                done.append((record_id, hold))
        return done

    def _carry_out(self, record_id: int, hold: Hold, status: str, adapter_name: str) -> bool:
        """One adapter call for one hold; a failure is recorded. True when it succeeded."""
        loaded = self.adapters.get(adapter_name)
        if loaded is None:
            self._fail(HoldRecord, record_id, _not_configured(adapter_name), False)
            return False
        with self._about([hold.conversation_id]):
            try:
                if status == HoldStatus.TO_APPLY:
                    loaded.adapter.apply_hold(hold)
                else:
                    loaded.adapter.release_hold(hold)
            except AdapterError as exc:
                self._fail(HoldRecord, record_id, Failure.of(exc), exc.retryable)
                return False
            except Exception as exc:  # an adapter bug: keep the intent, tell a person
                log.exception("adapter %s failed on hold %s", adapter_name, hold.hold_id)
                self._fail(HoldRecord, record_id, Failure.of(exc), False)
                return False
        crashpoint("after_effect")
        return True

    def _write_off_step(self, record_id: int) -> int:
        with self.store.transaction() as session:
            record = session.get(WriteOffRecord, record_id)
            if record is None or record.status != WriteOffStatus.TO_APPLY:
                return 0
            adapter_name = record.adapter
            request = WriteOff(
                write_off_id=uuid.UUID(record.write_off_id),
                debtor_id=record.debtor_id,
                factuurnummers=tuple(json.loads(record.factuurnummers)),
                reason=record.reason,
                datum=record.datum,
                conversation_id=uuid.UUID(record.conversation_id),
            )
        loaded = self.adapters.get(adapter_name)
        if loaded is None:
            self._fail(WriteOffRecord, record_id, _not_configured(adapter_name), False)
            return 0
        from ..adapters.api import Debtor

        with self._about([request.conversation_id]):
            try:
                result = loaded.adapter.write_off(
                    Debtor(debtor_id=request.debtor_id, klantnummer_se=request.debtor_id), request
                )
            except AdapterError as exc:
                self._fail(WriteOffRecord, record_id, Failure.of(exc), exc.retryable)
                return 0
            except Exception as exc:
                log.exception(
                    "adapter %s failed on write-off %s", adapter_name, request.write_off_id
                )
                self._fail(WriteOffRecord, record_id, Failure.of(exc), False)
                return 0
        with self.store.transaction() as session:
            record = session.get(WriteOffRecord, record_id)
            if record is None or record.status != WriteOffStatus.TO_APPLY:
                return 0
            record.status, record.done_at = WriteOffStatus.DONE, self.clock()
            record.result = result.model_dump_json()
            self.store.audit(
                session,
                "written_off",
                conversation_id=record.conversation_id,
                write_off_id=record.write_off_id,
                adapter=record.adapter,
                claims=list(result.written_off),
                amount=str(result.amount),
            )
        return 1

    @contextlib.contextmanager
    def _about(self, conversations: Iterable[uuid.UUID | str]) -> Iterator[None]:
        """While an effect of these conversations is carried out, an error text or a log line
        about it is redacted of their messages' personal values (read only if needed)."""
        ids = sorted({str(c) for c in conversations})

        def values() -> Iterator[str]:
            with self.store.transaction() as session:
                raws = list(
                    session.scalars(
                        select(InboxMessage.raw).where(InboxMessage.conversation_id.in_(ids))
                    )
                )
            for raw in raws:
                with contextlib.suppress(Exception):  # a purged or unreadable message
                    yield from personal_values(decode_message(raw).to_json())

        with in_hand(lambda: list(itertools.chain(values()))):
            yield

    def _fail(
        self,
        model: type[HoldRecord] | type[WriteOffRecord],
        record_id: int,
        failure: Failure,
        retryable: bool,
    ) -> None:
        with self.store.transaction() as session:
            record: Any = session.get(model, record_id)
            if record is None:
                return
            record_failure(
                self.store,
                session,
                record,
                failure,
                retryable=retryable,
                now=self.clock(),
                event="effect_failed",
                task=FinalTask(
                    TaskKind.EFFECT_FAILED, f"{model.__tablename__} {record_id} was not carried out"
                ),
                table=model.__tablename__,
                record=record_id,
            )


def _not_configured(adapter_name: str) -> Failure:
    return Failure.because(
        "AdapterNotConfigured",
        f"adapter {adapter_name!r} is not configured; add it to [[adapters]] or fix the record",
    )
