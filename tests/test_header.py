"""The SE-Service header: every answer has its own Referentienummer and carries the
Referentienummer of the message it answers as its CrossReferentienummer; an incoming
message's CrossReferentienummer joins it to the message of ours it names.

Every scenario goes through the simulated node over mutual TLS: the counsellor's message
is queued at the admin API, the connector fetches and answers it, and the answer is read
back from the simulator as the counsellor's software would see it.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from skn_connector.engine.decisions import CreditorFacts
from skn_connector.messages import Contactpersoon, MessageError, message_from_json
from skn_connector.operations.queries import show_message
from skn_connector.service.daemon import run_once
from skn_connector.wire.soap import DecodeError, decode_message, encode_message

from . import factories as f
from .factories import TESTER
from .test_conversations import about, new_conversation
from .test_events import World, proposal, world  # noqa: F401  (the fixture)


def _queue(world: World, message: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Queue ``message`` at the node as the counsellor; the connector works it. Returns its
    Referentienummer and everything the connector sent since."""
    before = len(world.admin.get("/_admin/sent").json())
    response = world.admin.post("/_admin/messages", json=message)
    assert response.status_code == 201, response.text
    referentienummer = response.json()["Referentienummer"]
    run_once(world.pipeline, max_wait=5)
    return referentienummer, list(world.admin.get("/_admin/sent").json()[before:])


def _the_one_answer(
    world: World, question: dict[str, Any], sent: list[dict[str, Any]], asked: str
) -> dict[str, Any]:
    every_answer = world.admin.get("/_admin/sent").json()
    answers = [m for m in every_answer if m["Berichtheader"].get("CrossReferentienummer") == asked]
    assert len(answers) == 1, answers
    answer = answers[0]
    assert answer in sent
    header = answer["Berichtheader"]
    own = uuid.UUID(header["Referentienummer"])  # a UUID
    assert str(own) != asked
    # new: no other message the connector sent, nor the question, carries it
    assert [m["Berichtheader"]["Referentienummer"] for m in every_answer].count(str(own)) == 1
    asked_header = question["Berichtheader"]
    assert header["ConversatieReferentienummer"] == asked_header["ConversatieReferentienummer"]
    assert (header["Afzender"], header["Ontvanger"]) == (
        asked_header["Ontvanger"],
        asked_header["Afzender"],
    )
    return answer


def test_a_saldoverzoek_gets_one_saldoverzoek_antwoord_naming_it(world: World) -> None:
    question = about(f.saldoverzoek(), world.debtor, new_conversation())
    asked, sent = _queue(world, question)
    answer = _the_one_answer(world, question, sent, asked)
    assert answer["Berichtheader"]["Berichttype"] == "SaldoverzoekAntwoord"


def test_a_saldoverzoek_gets_one_vooraf_akkoord_naming_it(world: World) -> None:
    world.pipeline.decider.creditor = CreditorFacts(
        Contactpersoon(naam="Team"), vooraf_akkoord=True
    )
    question = about(f.saldoverzoek(module="Schuldregeling"), world.debtor, new_conversation())
    asked, sent = _queue(world, question)
    answer = _the_one_answer(world, question, sent, asked)
    assert answer["Berichtheader"]["Berichttype"] == "SaldoverzoekAntwoordVoorafAkkoord"


def test_a_betaalvoorstel_gets_one_betaalvoorstel_antwoord_naming_it(world: World) -> None:
    conversation = new_conversation()
    saldo_question = about(f.saldoverzoek(module="Schuldregeling"), world.debtor, conversation)
    saldo_asked, saldo_sent = _queue(world, saldo_question)
    _the_one_answer(world, saldo_question, saldo_sent, saldo_asked)

    question = proposal(world, conversation, "20.00")
    asked, sent = _queue(world, question)
    answer = _the_one_answer(world, question, sent, asked)
    assert (answer["Berichtheader"]["Berichttype"], answer["Antwoord"]) == (
        "BetaalvoorstelAntwoord",
        "AKKOORD",
    )


def test_a_proposal_a_person_decides_is_answered_naming_it(world: World) -> None:
    conversation = new_conversation()
    _queue(world, about(f.saldoverzoek(module="Schuldregeling"), world.debtor, conversation))
    question = proposal(world, conversation, "20.00")
    question["Looptijd"] = 36  # longer than the policy's term: a person decides
    asked, sent = _queue(world, question)
    assert sent == []
    [task] = [t for t in world.tasks() if t["kind"] == "beoordeling"]
    assert task["referentienummer"] == asked
    world.pipeline.tasks.resolve(task["id"], choice="reject", note="te lang", actor=TESTER)
    run_once(world.pipeline, max_wait=5)
    answer = _the_one_answer(world, question, world.admin.get("/_admin/sent").json(), asked)
    assert answer["Antwoord"] == "NIET_AKKOORD"


def test_a_kennisgeving_gets_one_kennisgeving_antwoord_naming_it(world: World) -> None:
    question = about(f.kennisgeving(), world.debtor, new_conversation())
    asked, sent = _queue(world, question)
    answer = _the_one_answer(world, question, sent, asked)
    assert answer["Berichtheader"]["Berichttype"] == "KennisgevingAntwoord"


def test_an_unknown_debtor_gets_one_geen_medewerking_naming_the_question(world: World) -> None:
    question = f.saldoverzoek(achternaam="Niemand-Bekend", bsn=f.elfproef_bsn(77))
    asked, sent = _queue(world, question)
    answer = _the_one_answer(world, question, sent, asked)
    assert (answer["Berichtheader"]["Berichttype"], answer["Reden"]) == (
        "GeenMedewerking",
        "KLANT_ONBEKEND",
    )


def test_a_redelivered_question_is_not_answered_twice(world: World) -> None:
    question = about(f.saldoverzoek(), world.debtor, new_conversation())
    asked, _ = _queue(world, question)
    question["Berichtheader"]["Referentienummer"] = asked
    again, sent = _queue(world, question)  # the node delivers the same message again
    assert (again, sent) == (asked, [])
    _the_one_answer(world, question, world.admin.get("/_admin/sent").json(), asked)


def test_an_incoming_cross_reference_is_kept_and_shown_as_one_thread(world: World) -> None:
    conversation = new_conversation()
    _queue(world, about(f.saldoverzoek(module="Schuldregeling"), world.debtor, conversation))
    question = proposal(world, conversation, "20.00")
    question["Looptijd"] = 36
    asked, _ = _queue(world, question)
    [task] = [t for t in world.tasks() if t["kind"] == "beoordeling"]
    world.pipeline.tasks.resolve(task["id"], choice="reject", note="te lang", actor=TESTER)
    run_once(world.pipeline, max_wait=5)
    refusal = _the_one_answer(world, question, world.admin.get("/_admin/sent").json(), asked)
    refused = refusal["Berichtheader"]["Referentienummer"]

    # the counsellor asks again, naming our refusal
    again = proposal(world, conversation, "20.00", kind="Heroverweging")
    again["Berichtheader"]["CrossReferentienummer"] = refused
    reconsider, sent = _queue(world, again)
    [second] = sent
    assert second["Berichtheader"]["CrossReferentienummer"] == reconsider

    shown = show_message(world.store, reconsider)
    thread = [
        (m["direction"], m["Berichttype"], m["Referentienummer"], m["CrossReferentienummer"])
        for m in shown["thread"]
    ]
    assert thread == [
        ("in", "Betaalvoorstel", asked, None),
        ("out", "BetaalvoorstelAntwoord", refused, asked),
        ("in", "Heroverweging", reconsider, refused),
        ("out", "BetaalvoorstelAntwoord", second["Berichtheader"]["Referentienummer"], reconsider),
    ]
    # each message of the thread in its JSON form, personal data masked
    assert shown["thread"][2]["message"]["Berichtheader"]["CrossReferentienummer"] == refused
    # the saldo question and its answer are a thread of their own in the same conversation
    assert all(m["Berichttype"] != "Saldoverzoek" for m in shown["thread"])


@pytest.mark.parametrize("versie", ["2", "2.0.1", "v2.0", " ", "", "2,0", "２.0"])
def test_versie_is_major_dot_minor(versie: str) -> None:
    message = f.saldoverzoek(Versie=versie)
    with pytest.raises(MessageError) as caught:
        message_from_json(message)
    assert any(e.startswith("Saldoverzoek/Berichtheader/Versie") for e in caught.value.errors)
    good = encode_message(message_from_json(f.saldoverzoek(Versie="2.0")))
    wrong = good.replace(b"<Versie>2.0</Versie>", f"<Versie>{versie}</Versie>".encode())
    with pytest.raises(DecodeError) as refused:
        decode_message(wrong)
    assert "Versie" in str(refused.value)


@pytest.mark.parametrize("versie", ["2.0", "2.1", "10.12"])
def test_versie_takes_any_major_and_minor(versie: str) -> None:
    message = message_from_json(f.saldoverzoek(Versie=versie))
    assert decode_message(encode_message(message)).berichtheader.versie == versie


def test_the_simulator_takes_profile_1s_berichtid_as_the_referentienummer(
    world: World,
) -> None:
    question = about(f.saldoverzoek(), world.debtor, new_conversation())
    header = question["Berichtheader"]
    old_id = header.pop("Referentienummer")
    header["BerichtId"] = old_id
    header["Referentienummer"] = "KB-2026-0001"  # profile 1's free text gives way
    asked, sent = _queue(world, question)
    assert asked == old_id
    _the_one_answer(world, question, sent, asked)

    both = about(f.saldoverzoek(), world.debtor, new_conversation())
    both["Berichtheader"]["BerichtId"] = str(uuid.uuid4())
    refused = world.admin.post("/_admin/messages", json=both)
    assert refused.status_code == 422
    assert "BerichtId" in refused.json()["errors"][0]
