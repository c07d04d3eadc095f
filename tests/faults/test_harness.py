"""The harness itself: a count that never finds anything proves nothing, so each kind of
loss and duplication is made by hand here and must be found."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

from skn_connector.config import load_settings
from skn_connector.demo import CREDITOR_ID
from skn_connector.messages import message_from_json
from skn_connector.service.daemon import run_once
from skn_connector.service.wiring import connector
from skn_connector.wire.soap import encode_message

from .harness import World


def test_the_verdict_finds_lost_and_duplicated_effects(tmp_path: Path) -> None:
    with World(tmp_path, seed=11) as world:
        asked = world.inject(12, kennisgeving_share=0.5)
        with connector(load_settings(world.config)) as pipeline:
            run_once(pipeline, max_wait=5)
        clean = world.verdict()
        assert clean.ok and clean.lost == clean.duplicated == 0, clean.problems
        assert clean.answers_expected == clean.answers_sent == 12
        assert clean.holds_expected == clean.holds_applied > 0

        # a second answer, with a Referentienummer of its own, in an answered conversation
        first = world.admin.get("/_admin/sent").json()[0]
        first["Berichtheader"]["Referentienummer"] = str(uuid.uuid4())
        world.simulator.state.send(CREDITOR_ID, encode_message(message_from_json(first)))
        # a hold the back-office applied that the store never planned
        with sqlite3.connect(world.backoffice_db) as bo:
            row = bo.execute("SELECT * FROM opschortingen LIMIT 1").fetchone()
            bo.execute(
                "INSERT INTO opschortingen VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (str(uuid.uuid4()), *row[1:]),
            )
            # and a hold planned and marked applied that never reached the back-office
            held = next(q for q in asked if q.known)
            with sqlite3.connect(world.store_db) as store:
                (hold_id,) = store.execute(
                    "SELECT hold_id FROM holds WHERE conversation_id = ?", (held.conversation,)
                ).fetchone()
            bo.execute("UPDATE maatregelen SET opgeschort_door = NULL")
            bo.execute("DELETE FROM opschortingen WHERE hold_id = ?", (hold_id,))
        bo.close()
        # a question nobody answered
        (unanswered,) = world.inject(1)

        verdict = world.verdict()
    assert verdict.duplicated == 2, verdict.problems
    # the unanswered question (and its hold, when the debtor is known), the missing hold
    assert verdict.lost == 2 + unanswered.known, verdict.problems
    problems = json.dumps(verdict.problems)
    assert "nobody asked" not in problems
    assert "LEFT 1 messages in the messagebox" in problems
    assert "holds at the back-office the store lacks" in problems
    assert "never applied at the back-office" in problems
