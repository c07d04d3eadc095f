"""The web-portal fallback end to end: a download answered with the same adapters and policy
as the system link, exported as an upload file that re-imports unchanged."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from skn_connector.store.schema import InboxMessage, OutboxMessage
from skn_connector.wire.portal_csv import PortalCsvError, read_answer_csv

from .factories import elfproef_bsn
from .test_conversations import Harness, harness  # noqa: F401  (the fixture)
from .test_portal_csv import download_row, write_download


def klant_cell(harness: Harness) -> str:
    p = harness.debtor.person
    born = p.geboortedatum.strftime("%d-%m-%Y")
    return f"{p.geslacht}|{p.voorletters}|{p.voornamen}|{p.voorvoegsel or ''}|{p.achternaam}|{born}|{p.bsn}"


def adres_cell(harness: Harness) -> str:
    d = harness.debtor
    return f"{d.straatnaam}|{d.huisnummer}||||{d.postcode}|{d.woonplaats}||"


def test_a_good_download_is_answered_and_exported(harness: Harness, tmp_path: Path) -> None:
    known = download_row(
        conversation=str(uuid.uuid4()),
        klant=klant_cell(harness),
        adres=adres_cell(harness),
        klantnummer_se=harness.debtor.klantnummer_se,
        type_schuldregeling="SB",
        invoices="|".join(harness.debtor.factuurnummers),
    )
    stranger = download_row(
        conversation=str(uuid.uuid4()),
        referentie="6c1f0a52-8a43-4f8e-9d55-0c2b9a7e0009",
        klant=f"M|Q.|Quinten||Onbekend-Voorbeeld|14-03-1979|{elfproef_bsn(77)}",
    )
    download = write_download(tmp_path / "saldoverzoeken.csv", [known, stranger])
    assert harness.pipeline.portal.import_download(download) == {"accepted": 2}
    harness.pipeline.process_due()
    # nothing goes to the node for the portal channel
    assert harness.pipeline.deliver_due() == 0
    upload = tmp_path / "antwoorden.csv"
    assert harness.pipeline.portal.export(upload) == 2
    answers = read_answer_csv(upload)
    by_conversation = {q["KlantnummerSHV"] + str(i): a for i, (q, a) in enumerate(answers)}
    known_answer, stranger_answer = (a for _, a in answers)
    assert known_answer["KlantnummerSE"] == harness.debtor.klantnummer_se
    assert [v["FactuurnummerSEVolgensSHV"] for v in known_answer["Vorderingen"]] == list(
        harness.debtor.factuurnummers
    )
    assert stranger_answer["KlantOnbekend"] is True
    assert len(by_conversation) == 2
    # exported once: a second export holds nothing, and re-importing the download is harmless
    assert harness.pipeline.portal.export(tmp_path / "again.csv") == 0
    assert harness.pipeline.portal.import_download(download) == {"known": 2}
    with harness.store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(InboxMessage)) == 2
        assert (
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.channel == "portal")
            )
            == 2
        )


def test_a_download_with_one_bad_row_is_refused_whole(harness: Harness, tmp_path: Path) -> None:
    good = download_row(conversation=str(uuid.uuid4()))
    bad = download_row(
        conversation=str(uuid.uuid4()), klant="V|T.|Tessa||Proef|29-02-1980|123456789"
    )
    download = write_download(tmp_path / "saldoverzoeken.csv", [good, bad])
    with pytest.raises(PortalCsvError) as caught:
        harness.pipeline.portal.import_download(download)
    assert caught.value.errors and all(e.startswith("row 3, column H") for e in caught.value.errors)
    with harness.store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(InboxMessage)) == 0


def test_an_answer_the_upload_file_cannot_carry_waits_alone(
    harness: Harness, tmp_path: Path
) -> None:
    """One answer whose value the CSV cannot carry (the part separator in a bailiff's name)
    no longer stops the export of the others: it waits, with a task for a person."""
    import sqlite3

    from skn_connector.store.schema import Task

    options = harness.pipeline.adapters[0].adapter.options
    backoffice = options.database_url.removeprefix("sqlite:///")  # type: ignore[attr-defined]
    with sqlite3.connect(backoffice) as db:
        db.execute(
            "UPDATE aanslagen SET status = 'overgedragen', overgedragen_aan = ? "
            "WHERE aanslagnummer = ?",
            ("Deurwaarders | Noord", harness.debtor.factuurnummers[0]),
        )
    known = download_row(
        conversation=str(uuid.uuid4()),
        klant=klant_cell(harness),
        adres=adres_cell(harness),
        klantnummer_se=harness.debtor.klantnummer_se,
        type_schuldregeling="SB",
        invoices="|".join(harness.debtor.factuurnummers),
    )
    stranger = download_row(
        conversation=str(uuid.uuid4()),
        referentie="6c1f0a52-8a43-4f8e-9d55-0c2b9a7e0009",
        klant=f"M|Q.|Quinten||Onbekend-Voorbeeld|14-03-1979|{elfproef_bsn(77)}",
    )
    download = write_download(tmp_path / "saldoverzoeken.csv", [known, stranger])
    assert harness.pipeline.portal.import_download(download) == {"accepted": 2}
    harness.pipeline.process_due()
    upload = tmp_path / "antwoorden.csv"
    assert harness.pipeline.portal.export(upload) == 1
    [(_, answer)] = read_answer_csv(upload)
    assert answer["KlantOnbekend"] is True
    with harness.store.transaction() as session:
        statuses = sorted(
            o.status
            for o in session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "portal"))
        )
        [task] = session.scalars(select(Task).where(Task.kind == "export_failed"))
    assert statuses == ["failed", "sent"]
    assert "part 1 contains '|'" in task.reason
