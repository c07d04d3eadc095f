"""The web-portal CSV: reading a Saldoverzoek download, writing and re-reading the answer file.

Real files in tmp_path, synthetic data only (BSNs from factories.elfproef_bsn).
"""

from __future__ import annotations

import copy
import csv
import io
import re
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skn_connector.messages import (
    MessageError,
    Saldoverzoek,
    SaldoverzoekAntwoord,
    message_from_json,
)
from skn_connector.wire import portal_csv
from skn_connector.wire.portal_csv import (
    MAX_BYTES,
    PortalCsvError,
    PortalRequest,
    read_answer_csv,
    read_portal_download,
    saldoverzoek_from_portal,
    write_answer_csv,
)
from skn_connector.wire.soap import encode_message

from .factories import CREDITOR, SHV, elfproef_bsn, header

#: The documented columns A–V of "CSV Saldoverzoek Antwoord" [SKN-CSV-SALDOVERZOEK-ANTWOORD],
#: spelled as our header row spells them.
DOCUMENTED_A_TO_V = [
    "ConversatieReferentienummer",
    "Referentienummer",
    "Schuldhulpverlener",
    "ContactpersoonSHV",
    "KlantnummerSHV",
    "KlantnummerSEVolgensSHV",
    "TypeSchuldregeling",
    "Klant",
    "Partner",
    "Adres",
    "Vordering.FactuurnummerSEVolgensSHV",
    "KlantnummerSE",
    "ContactpersoonSE.Naam",
    "ContactpersoonSE.Email",
    "ContactpersoonSE.Telefoon",
    "KlantOnbekend",
    "StandaardAkkoord",
    "Datum",
    "Schuldtype",
    "FactuurnummerSE",
    "Ontstaansdatum",
    "OrigineleVordering",
]
PREFIX = re.compile(r"^row \d+, column [A-Z]+")
#: Column B: the Saldoverzoek's Referentienummer, a UUID the portal gives each question.
REF = [f"6c1f0a52-8a43-4f8e-9d55-0c2b9a7e{n:04d}" for n in range(10)]


# -- building download files ----------------------------------------------------------------


def download_row(
    *,
    conversation: str | None = None,
    referentie: str = REF[1],
    contact: str = "T. Consulent|030 1234567|consulent@kredietbank.example",
    klantnummer_se: str = "SE-778899",
    type_schuldregeling: str = "SK",
    klant: str | None = None,
    partner: str = "",
    adres: str = "Proefstraat|12|a|bis||1234 ab|Teststad||",
    invoices: str = "2025.000001.01",
) -> list[str]:
    return [
        conversation or str(uuid.uuid4()),
        referentie,
        "Kredietbank Teststad",
        contact,
        "KB000001",
        klantnummer_se,
        type_schuldregeling,
        klant if klant is not None else f"V|T.|Tessa|van|Testpersoon|29-02-1980|{elfproef_bsn(1)}",
        partner,
        adres,
        invoices,
    ]


def write_download(
    path: Path, rows: list[list[str]], header_row: list[str] | None = None, *, bom: bool = True
) -> Path:
    """A download as the portal would serve it: the header A–V, the answer part empty."""
    header_row = header_row if header_row is not None else list(DOCUMENTED_A_TO_V)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(header_row)
    for row in rows:
        writer.writerow(row + [""] * (len(header_row) - len(row)))
    path.write_bytes((("\ufeff" if bom else "") + buffer.getvalue()).encode("utf-8"))
    return path


def good_rows() -> list[list[str]]:
    return [
        download_row(
            partner=f"M|P.J.|Pieter Jan||Voorbeeld|01-07-1978|{elfproef_bsn(2)}",
            invoices="2025.000001.01|2025.000002.01| F-77 ",
        ),
        download_row(
            referentie=REF[2],
            type_schuldregeling="",
            klantnummer_se="",
            contact="A. Budget",
            klant="X|A.|Alex||Proef|1-2-1990",
            adres="Teststraat|3|||to|9999ZZ|Proefdorp||",
        ),
        download_row(referentie=REF[3], type_schuldregeling="SA", invoices=""),
    ]


# -- the download ---------------------------------------------------------------------------


def test_a_good_download_is_read_into_valid_saldoverzoeken(tmp_path: Path) -> None:
    rows = good_rows()
    path = write_download(tmp_path / "saldoverzoeken.csv", rows)

    requests = read_portal_download(path)

    assert [r.row for r in requests] == [2, 3, 4]
    assert [str(r.conversatie_referentienummer) for r in requests] == [row[0] for row in rows]
    assert [str(r.referentienummer) for r in requests] == REF[1:4]
    first, second, third = (r.json for r in requests)
    assert "Berichtheader" not in first
    assert first == {
        "Schuldhulpverlener": "Kredietbank Teststad",
        "Contactpersoon": {
            "Naam": "T. Consulent",
            "Telefoonnummer": "030 1234567",
            "Emailadres": "consulent@kredietbank.example",
        },
        "KlantnummerSHV": "KB000001",
        "KlantnummerSEVolgensSHV": "SE-778899",
        "TypeSchuldregeling": "SK",
        "Klant": {
            "Geslacht": "V",
            "Voorletters": "T.",
            "Voornamen": "Tessa",
            "Voorvoegsel": "van",
            "Achternaam": "Testpersoon",
            "Geboortedatum": "1980-02-29",
            "Bsn": elfproef_bsn(1),
        },
        "Partner": {
            "Geslacht": "M",
            "Voorletters": "P.J.",
            "Voornamen": "Pieter Jan",
            "Achternaam": "Voorbeeld",
            "Geboortedatum": "1978-07-01",
            "Bsn": elfproef_bsn(2),
        },
        "Adres": {
            "Straatnaam": "Proefstraat",
            "Huisnummer": 12,
            "Huisletter": "a",
            "Huisnummertoevoeging": "bis",
            "Postcode": "1234AB",
            "Woonplaats": "Teststad",
        },
        "Vorderingen": [
            {"FactuurnummerSEVolgensSHV": "2025.000001.01"},
            {"FactuurnummerSEVolgensSHV": "2025.000002.01"},
            {"FactuurnummerSEVolgensSHV": "F-77"},
        ],
    }
    # no partner, no TypeSchuldregeling, no KlantnummerSEVolgensSHV, a BSN-less Klant
    assert "Partner" not in second and "TypeSchuldregeling" not in second
    assert "KlantnummerSEVolgensSHV" not in second
    assert second["Contactpersoon"] == {"Naam": "A. Budget"}
    assert second["Klant"] == {
        "Geslacht": "X",
        "Voorletters": "A.",
        "Voornamen": "Alex",
        "Achternaam": "Proef",
        "Geboortedatum": "1990-02-01",
    }
    assert second["Adres"]["AanduidingBijHuisnummer"] == "to"
    assert third["Vorderingen"] == []

    messages = [saldoverzoek_from_portal(r, ontvanger=CREDITOR, afzender=SHV) for r in requests]
    for message, request in zip(messages, requests, strict=True):
        assert isinstance(message, Saldoverzoek)
        head = message.berichtheader
        assert head.module == "Schuldregeling"
        assert head.ontvanger == CREDITOR and head.afzender == SHV
        assert head.conversatie_referentienummer == request.conversatie_referentienummer
        assert head.referentienummer == request.referentienummer
        body = message.to_json()
        del body["Berichtheader"]
        assert body == request.json
        encode_message(message)  # it passes the XSD: it can travel the normal pipeline
    assert len({m.berichtheader.referentienummer for m in messages}) == 3


def test_importing_the_same_file_twice_gives_the_same_messages(tmp_path: Path) -> None:
    path = write_download(tmp_path / "saldoverzoeken.csv", good_rows())

    def imported() -> list[Saldoverzoek]:
        return [
            saldoverzoek_from_portal(r, ontvanger=CREDITOR, afzender=SHV)
            for r in read_portal_download(path)
        ]

    once, twice = imported(), imported()
    assert [m.berichtheader.referentienummer for m in once] == [
        m.berichtheader.referentienummer for m in twice
    ]
    # byte-identical, so the inbox sees a plain duplicate, not a conflict
    assert [encode_message(m) for m in once] == [encode_message(m) for m in twice]

    # other content under the same Referentienummer (column B) is the same message id with
    # other bytes: the inbox's conflicting-duplicate rule keeps it for a person
    changed = PortalRequest(
        row=2,
        conversatie_referentienummer=once[0].berichtheader.conversatie_referentienummer,
        referentienummer=uuid.UUID(REF[1]),
        json={**read_portal_download(path)[0].json, "KlantnummerSHV": "KB000002"},
    )
    other = saldoverzoek_from_portal(changed, ontvanger=CREDITOR, afzender=SHV)
    assert other.berichtheader.referentienummer == once[0].berichtheader.referentienummer
    assert encode_message(other) != encode_message(once[0])


def test_column_b_must_be_the_saldoverzoeks_referentienummer(tmp_path: Path) -> None:
    rows = [download_row(), download_row(referentie="KB-2026-0002"), download_row(referentie="")]
    path = write_download(tmp_path / "saldoverzoeken.csv", rows)
    with pytest.raises(PortalCsvError) as caught:
        read_portal_download(path)
    assert caught.value.errors == [
        "row 3, column B (Referentienummer): the Saldoverzoek's Referentienummer is a UUID",
        "row 4, column B (Referentienummer): required, but empty",
    ]


def test_a_request_that_does_not_fit_the_module_is_refused() -> None:
    request = PortalRequest(
        row=2,
        conversatie_referentienummer=uuid.uuid4(),
        referentienummer=uuid.UUID(REF[9]),
        json={
            "Schuldhulpverlener": "Kredietbank Teststad",
            "Contactpersoon": {"Naam": "T. Consulent"},
            "KlantnummerSHV": "KB000001",
            "TypeSchuldregeling": "SK",
            "Klant": {
                "Geslacht": "V",
                "Voorletters": "T.",
                "Voornamen": "Tessa",
                "Achternaam": "Proef",
                "Geboortedatum": "1980-02-29",
            },
            "Adres": {
                "Straatnaam": "Proefstraat",
                "Huisnummer": 1,
                "Postcode": "1234AB",
                "Woonplaats": "Teststad",
            },
            "Vorderingen": [],
        },
    )
    with pytest.raises(MessageError, match="TypeSchuldregeling"):
        saldoverzoek_from_portal(
            request, ontvanger=CREDITOR, afzender=SHV, module="Betalingsregeling"
        )


def test_one_bad_row_refuses_the_whole_file_and_is_named(tmp_path: Path) -> None:
    rows = good_rows()
    bad_bsn = "123456789"
    rows[1][7] = f"V|T.|Tessa||Proef|29-02-1980|{bad_bsn}"
    path = write_download(tmp_path / "saldoverzoeken.csv", rows)

    with pytest.raises(PortalCsvError) as caught:
        read_portal_download(path)

    assert caught.value.errors == ["row 3, column H (Klant), part Bsn: the BSN fails the elfproef"]
    assert bad_bsn not in str(caught.value)


def test_every_error_is_named_by_row_and_column_without_values(tmp_path: Path) -> None:
    rows = [*good_rows(), download_row(), download_row()]
    secret_values = []
    rows[0][0] = "not-a-uuid-4711"  # A
    secret_values.append("not-a-uuid-4711")
    rows[1][7] = "V|T.|Tessa||Geheimnaam|31-02-1990"  # H: not a real date
    rows[1][9] = "Proefstraat|12||||0999XY|Teststad||"  # J: postcode starts with 0
    secret_values += ["Geheimnaam", "0999XY"]
    rows[2][6] = "BR"  # G: not a type of the Schuldregeling module
    rows[2][3] = "T. Consulent|abc|geen-email"  # D: phone and e-mail
    secret_values += ["geen-email"]
    rows[3][2] = ""  # C: required
    rows[3][9] = "Proefstraat|12|||||1234AB|Teststad|||extra"  # J: too many parts
    rows[3][10] = "A-1||B-2"  # K: an empty invoice number
    rows[4][0] = rows[2][0]  # A: the same conversation twice
    rows[4].append("SE-1")  # L: a download carries no answer
    secret_values.append("SE-1")
    path = write_download(tmp_path / "saldoverzoeken.csv", rows)

    with pytest.raises(PortalCsvError) as caught:
        read_portal_download(path)

    errors = caught.value.errors
    assert all(PREFIX.match(e) for e in errors), errors
    assert {PREFIX.match(e).group(0) for e in errors} == {  # type: ignore[union-attr]
        "row 2, column A",
        "row 3, column H",
        "row 3, column J",
        "row 4, column G",
        "row 4, column D",
        "row 5, column C",
        "row 5, column J",
        "row 5, column K",
        "row 6, column A",
        "row 6, column L",
    }
    assert "row 4, column D (ContactpersoonSHV), part Telefoonnummer" in str(caught.value)
    assert "row 4, column D (ContactpersoonSHV), part Emailadres" in str(caught.value)
    assert "row 5, column K (Vordering.FactuurnummerSEVolgensSHV), part item 2" in str(caught.value)
    text = str(caught.value)
    for value in [*secret_values, elfproef_bsn(1), "Tessa", "Proefstraat", "Teststad"]:
        assert value not in text


def test_a_file_full_of_errors_lists_the_first_ones_and_counts_the_rest(tmp_path: Path) -> None:
    """A download of 3,000 rows, each with a bad BSN: the refusal names the first
    MAX_LISTED_ERRORS problems by row and column and counts the others (not a list of 3,000)."""
    bad = download_row()
    bad[7] = "V|T.|Tessa||Proef|29-02-1980|123456789"
    rows = [list(bad) for _ in range(3_000)]
    for number, row in enumerate(rows):
        row[0] = str(uuid.UUID(int=number + 1, version=4))
    path = write_download(tmp_path / "saldoverzoeken.csv", rows)

    with pytest.raises(PortalCsvError) as caught:
        read_portal_download(path)

    errors = caught.value.errors
    assert caught.value.total == 3_000
    assert len(errors) == portal_csv.MAX_LISTED_ERRORS + 1
    assert all(PREFIX.match(e) for e in errors[:-1])
    assert errors[0].startswith("row 2, column H")
    assert errors[-1] == f"and {3_000 - portal_csv.MAX_LISTED_ERRORS} more errors"


def test_a_file_that_is_not_csv_is_refused(tmp_path: Path) -> None:
    path = write_download(tmp_path / "saldoverzoeken.txt", good_rows())
    with pytest.raises(PortalCsvError, match=r"only \.csv files"):
        read_portal_download(path)
    with pytest.raises(PortalCsvError, match=r"only \.csv files"):
        read_answer_csv(path)
    # the extension is compared case-insensitively (Windows)
    upper = write_download(tmp_path / "SALDOVERZOEKEN.CSV", good_rows())
    assert len(read_portal_download(upper)) == 3


def test_a_file_over_4_mb_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "groot.csv"
    with path.open("wb") as stream:
        stream.truncate(MAX_BYTES + 1)  # sparse: nothing to read anyway

    def no_reading(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the file was opened although it is too large")

    monkeypatch.setattr(Path, "open", no_reading)
    monkeypatch.setattr(Path, "read_bytes", no_reading)
    with pytest.raises(PortalCsvError, match="the limit is 4194304 bytes"):
        read_portal_download(path)
    with pytest.raises(PortalCsvError, match="the limit is 4194304 bytes"):
        read_answer_csv(path)


def test_a_file_of_exactly_4_mb_is_not_refused_for_its_size(tmp_path: Path) -> None:
    path = write_download(tmp_path / "saldoverzoeken.csv", good_rows())
    data = path.read_bytes()
    # blank rows (a cell of spaces each) up to exactly the limit
    padding = MAX_BYTES - len(data)
    line = b" " * 99_998 + b"\r\n"
    rest = padding % len(line)
    path.write_bytes(data + line * (padding // len(line)) + b" " * (rest - 2) + b"\r\n")
    assert path.stat().st_size == MAX_BYTES
    assert len(read_portal_download(path)) == 3


def test_a_file_that_is_not_utf8_is_refused_clearly(tmp_path: Path) -> None:
    path = write_download(tmp_path / "saldoverzoeken.csv", good_rows())
    text = path.read_bytes().decode("utf-8-sig")
    lines = text.split("\r\n")
    lines[2] = lines[2].replace("Alex", "Zoë")
    path.write_bytes("\r\n".join(lines).encode("cp1252"))

    with pytest.raises(PortalCsvError) as caught:
        read_portal_download(path)

    assert caught.value.errors == [
        "row 3, column H (Klant): the file is not UTF-8 text (save it from Excel as 'CSV UTF-8')"
    ]


def test_without_a_bom_and_with_excel_habits_the_download_is_read(tmp_path: Path) -> None:
    rows = good_rows()
    path = write_download(tmp_path / "saldoverzoeken.csv", rows, bom=False)
    text = path.read_text(encoding="utf-8")
    # a trailing blank line of empty cells, as Excel may leave it
    path.write_text(text + ";" * 21 + "\r\n", encoding="utf-8")
    assert len(read_portal_download(path)) == 3
    # only the question part (A–K), header names in another case and spacing
    short = [c.upper() for c in DOCUMENTED_A_TO_V[:11]]
    short[1] = "Referentie nummer"
    path = write_download(tmp_path / "kort.csv", rows, header_row=short)
    assert len(read_portal_download(path)) == 3


def test_a_wrong_header_row_is_refused_naming_the_column(tmp_path: Path) -> None:
    wrong = list(DOCUMENTED_A_TO_V)
    wrong[7] = "Klantnaam"
    path = write_download(tmp_path / "saldoverzoeken.csv", good_rows(), header_row=wrong)
    with pytest.raises(PortalCsvError) as caught:
        read_portal_download(path)
    assert caught.value.errors == ["row 1, column H (Klant): the header is not 'Klant'"]

    too_short = write_download(tmp_path / "kort.csv", good_rows(), header_row=wrong[:9])
    with pytest.raises(PortalCsvError) as caught:
        read_portal_download(too_short)
    assert {PREFIX.match(e).group(0) for e in caught.value.errors} == {  # type: ignore[union-attr]
        "row 1, column H",
        "row 1, column J",
        "row 1, column K",
    }

    commas = tmp_path / "komma.csv"
    commas.write_text(",".join(DOCUMENTED_A_TO_V) + "\r\n", encoding="utf-8")
    with pytest.raises(PortalCsvError, match="not separated by ';'"):
        read_portal_download(commas)

    empty = tmp_path / "leeg.csv"
    empty.write_bytes(b"")
    with pytest.raises(PortalCsvError, match="row 1, column A: the file is empty"):
        read_portal_download(empty)


def test_a_cell_beyond_the_header_is_refused(tmp_path: Path) -> None:
    rows = good_rows()
    rows[0] = rows[0] + [""] * 11 + ["overbodig"]
    path = write_download(tmp_path / "saldoverzoeken.csv", rows)
    with pytest.raises(PortalCsvError) as caught:
        read_portal_download(path)
    assert caught.value.errors == ["row 2, column W: a cell beyond the header's last column"]


# -- the answer file -------------------------------------------------------------------------


def saldoverzoek_model(
    invoices: tuple[str, ...], *, partner: bool = False, seed: int = 1
) -> Saldoverzoek:
    data: dict[str, Any] = {
        "Berichtheader": header("Saldoverzoek", "Schuldregeling", Referentienummer=REF[seed]),
        "Schuldhulpverlener": "Kredietbank Teststad",
        "Contactpersoon": {"Naam": "T. Consulent", "Emailadres": "consulent@kredietbank.example"},
        "KlantnummerSHV": f"KB{seed:06d}",
        "KlantnummerSEVolgensSHV": "SE-778899",
        "TypeSchuldregeling": "SB",
        "Klant": {
            "Geslacht": "V",
            "Voorletters": "T.",
            "Voornamen": "Tessa",
            "Voorvoegsel": "de",
            "Achternaam": 'Testpersoon; "Voorbeeld"',
            "Geboortedatum": "1980-02-29",
            "Bsn": elfproef_bsn(seed),
        },
        "Adres": {
            "Straatnaam": "Proefstraat",
            "Huisnummer": 12,
            "Huisletter": "B",
            "Postcode": "1234AB",
            "Woonplaats": "Teststad",
            "Woonwagenverwijzing": "standplaats 4",
        },
        "Vorderingen": [{"FactuurnummerSEVolgensSHV": n} for n in invoices],
    }
    if partner:
        data["Partner"] = {
            "Geslacht": "M",
            "Voorletters": "P.",
            "Voornamen": "Pieter",
            "Achternaam": "Voorbeeld",
            "Geboortedatum": "1978-07-01",
        }
    message = message_from_json(data)
    assert isinstance(message, Saldoverzoek)
    return message


def antwoord_model(request: Saldoverzoek, **body: Any) -> SaldoverzoekAntwoord:
    data: dict[str, Any] = {
        "Berichtheader": header(
            "SaldoverzoekAntwoord",
            "Schuldregeling",
            ConversatieReferentienummer=str(request.berichtheader.conversatie_referentienummer),
            Afzender=str(CREDITOR),
            Ontvanger=str(SHV),
        ),
        "KlantnummerSE": "SE-778899",
        "Contactpersoon": {
            "Naam": "S. Invordering",
            "Emailadres": "invordering@se.example",
            "Telefoonnummer": "+31 30 1234567",
        },
        "KlantOnbekend": False,
        "StandaardAkkoord": False,
        "Datum": "2026-11-30",
    }
    data.update(body)
    message = message_from_json(data)
    assert isinstance(message, SaldoverzoekAntwoord)
    return message


def bodies(
    pairs: list[tuple[Saldoverzoek, SaldoverzoekAntwoord]],
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    result = []
    for request, answer in pairs:
        question, body = request.to_json(), answer.to_json()
        del question["Berichtheader"], body["Berichtheader"]
        result.append((question, body))
    return result


def example_pairs() -> list[tuple[Saldoverzoek, SaldoverzoekAntwoord]]:
    matched = saldoverzoek_model(("2025.000001.01", "2025.000002.01", "ONBEKEND-9"), partner=True)
    unmatched = saldoverzoek_model(("2025.000010.01",), seed=2)
    totaal = saldoverzoek_model((), seed=3)
    onbekend = saldoverzoek_model(("X-1",), seed=4)
    return [
        (
            matched,
            antwoord_model(
                matched,
                StandaardAkkoord=True,
                Vorderingen=[
                    {
                        "Schuldtype": "openstaande schuld",
                        "FactuurnummerSEVolgensSHV": "2025.000001.01",
                        "FactuurnummerSE": "F2025-1",
                        "Omschrijving": "Aanslag afvalstoffenheffing 2025",
                        "Ontstaansdatum": "2025-03-01",
                        "OrigineleVordering": "1234.50",
                        "Hoofdsom": "1000.00",
                        "Rente": "34.50",
                        "Kosten": "200.00",
                        "Openstaand": "1234.50",
                    },
                    {
                        "Schuldtype": "openstaande schuld",
                        "FactuurnummerSEVolgensSHV": "2025.000002.01",
                        "Openstaand": "0.00",
                        "Rente": "0.00",
                    },
                    {
                        "Schuldtype": "onbekende schuld bij SE",
                        "FactuurnummerSEVolgensSHV": "ONBEKEND-9",
                    },
                ],
                OngematchteSchulden={
                    "OpenstaandeSchulden": [
                        {
                            "Schuldtype": "overgedragen schuld",
                            "FactuurnummerSE": "F2024-7",
                            "Openstaand": "99.99",
                            "OvergedragenAan": {
                                "Naam": "Incassobureau Voorbeeld B.V.",
                                "Contactpersoon": "J. Jansen",
                            },
                        },
                        {
                            "Schuldtype": "openstaande schuld",
                            "FactuurnummerSE": "F2024-8",
                            "Openstaand": "-12.00",
                        },
                    ]
                },
            ),
        ),
        (
            unmatched,
            antwoord_model(
                unmatched,
                Vorderingen=[
                    {
                        "Schuldtype": "overgedragen schuld",
                        "FactuurnummerSEVolgensSHV": "2025.000010.01",
                        "Openstaand": "500.00",
                        "OvergedragenAan": {"Naam": "Deurwaarderskantoor Test"},
                    }
                ],
                OngematchteSchulden={"Totaalvordering": "1234.50"},
            ),
        ),
        (totaal, antwoord_model(totaal, OngematchteSchulden={"Totaalvordering": "0.00"})),
        (onbekend, antwoord_model(onbekend, KlantOnbekend=True)),
    ]


def test_write_then_read_gives_back_exactly_the_pairs(tmp_path: Path) -> None:
    pairs = example_pairs()
    path = tmp_path / "antwoorden.csv"

    write_answer_csv(pairs, path)

    assert read_answer_csv(path) == bodies(pairs)
    # one row per claim: 3 matched + 2 unmatched, 1 matched + the total, the total, one row
    with path.open(encoding="utf-8-sig", newline="") as stream:
        rows = list(csv.reader(stream, delimiter=";"))
    assert len(rows) == 1 + 5 + 2 + 1 + 1
    assert {tuple(r[:18]) for r in rows[1:6]} == {tuple(rows[1][:18])}
    by_name = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert by_name[0]["OrigineleVordering"] == "1234,50"
    assert by_name[0]["Ontstaansdatum"] == "01-03-2025"
    assert by_name[0]["StandaardAkkoord"] == "Ja"
    assert by_name[0]["Klant"].startswith("V|T.|Tessa|de|")
    assert by_name[0]["Partner"] == "M|P.|Pieter||Voorbeeld|01-07-1978"
    assert by_name[0]["Vordering.FactuurnummerSEVolgensSHV"] == (
        "2025.000001.01|2025.000002.01|ONBEKEND-9"
    )
    assert by_name[1]["Openstaand"] == "0,00"
    assert by_name[2]["Schuldtype"] == "onbekende schuld bij SE"
    assert by_name[3]["Ongematcht"] == "Ja" and by_name[3]["FactuurnummerSEVolgensSHV"] == ""
    assert by_name[3]["OvergedragenAan"] == "Incassobureau Voorbeeld B.V.|J. Jansen"
    assert by_name[5]["OvergedragenAan"] == "Deurwaarderskantoor Test"
    assert by_name[6]["Totaalvordering"] == "1234,50" and by_name[6]["Schuldtype"] == ""
    assert by_name[7]["Totaalvordering"] == "0,00"
    assert by_name[8]["KlantOnbekend"] == "Ja"
    assert all(by_name[8][name] == "" for name in rows[0][18:])


def test_the_written_file_opens_in_the_documented_layout(tmp_path: Path) -> None:
    path = tmp_path / "antwoorden.csv"
    write_answer_csv(example_pairs()[:1], path)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Dutch Excel needs
    first_line = data[3:].split(b"\r\n")[0].decode("utf-8")
    cells = first_line.split(";")
    assert cells[:22] == DOCUMENTED_A_TO_V
    assert cells[22:] == [
        "Hoofdsom",
        "Rente",
        "Kosten",
        "Openstaand",
        "OvergedragenAan",
        "FactuurnummerSEVolgensSHV",
        "Ongematcht",
        "Totaalvordering",
        "Omschrijving",
    ]
    assert portal_csv.column_letter(len(cells) - 1) == "AE"


def test_write_refuses_what_the_portal_would_refuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pairs = example_pairs()
    with pytest.raises(ValueError, match=r"\.csv"):
        write_answer_csv(pairs, tmp_path / "antwoorden.xlsx")
    monkeypatch.setattr(portal_csv, "MAX_BYTES", 2000)
    with pytest.raises(ValueError, match="over the portal's limit"):
        write_answer_csv(pairs, tmp_path / "antwoorden.csv")
    assert not (tmp_path / "antwoorden.csv").exists()
    monkeypatch.undo()

    request, answer = pairs[0]
    with pytest.raises(ValueError, match="another conversation"):
        write_answer_csv([(request, pairs[1][1])], tmp_path / "antwoorden.csv")
    with pytest.raises(ValueError, match="given twice"):
        write_answer_csv([(request, answer), (request, answer)], tmp_path / "antwoorden.csv")
    piped = saldoverzoek_model(("A|B",), seed=5)
    with pytest.raises(ValueError, match=r"column K .* contains '\|'"):
        write_answer_csv(
            [(piped, antwoord_model(piped, KlantOnbekend=True))], tmp_path / "antwoorden.csv"
        )
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def _rewrite(path: Path, edit: Any) -> None:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        rows = list(csv.reader(stream, delimiter=";"))
    edit(rows)
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def test_a_hand_edited_answer_file_is_checked_cell_by_cell(tmp_path: Path) -> None:
    path = tmp_path / "antwoorden.csv"
    write_answer_csv(example_pairs(), path)
    col = {name: index for index, name in enumerate(portal_csv.COLUMNS)}

    def edit(rows: list[list[str]]) -> None:
        rows[1][col["OrigineleVordering"]] = "12,345"  # V: three decimals
        rows[2][col["Hoofdsom"]] = "1.234,50"  # W: thousands separator
        rows[2][col["Ontstaansdatum"]] = "2025-03-01"  # U: not dd-mm-jjjj
        rows[3][col["Kosten"]] = "5,00"  # Y: amounts on an 'onbekende schuld bij SE'
        rows[4][col["Datum"]] = "01-12-2026"  # R: differs within the conversation
        rows[5][col["Openstaand"]] = ""  # Z: an open claim needs Openstaand
        rows[6][col["FactuurnummerSEVolgensSHV"]] = "NIET-GEVRAAGD"  # AB: not in K
        rows[7][col["Ongematcht"]] = "Ja"  # AC: a claim cell on a Totaalvordering row
        rows[9][col["KlantOnbekend"]] = "misschien"  # P: Ja or empty
        unmatched = rows[8][:18] + [""] * 13  # row 11: an unmatched claim beside a total
        unmatched[col["Schuldtype"]] = "openstaande schuld"
        unmatched[col["Openstaand"]] = "10,00"
        unmatched[col["Ongematcht"]] = "Ja"
        rows.append(unmatched)

    _rewrite(path, edit)
    with pytest.raises(PortalCsvError) as caught:
        read_answer_csv(path)
    errors = caught.value.errors
    assert errors == sorted(errors, key=portal_csv._error_order)
    assert {PREFIX.match(e).group(0) for e in errors} == {  # type: ignore[union-attr]
        "row 2, column V",
        "row 3, column W",
        "row 3, column U",
        "row 4, column S",
        "row 5, column R",
        "row 6, column Z",
        "row 7, column AB",
        "row 8, column AC",
        "row 9, column AD",
        "row 10, column P",
    }
    assert "row 2, column V (OrigineleVordering): an amount has at most two decimals" in errors
    for value in ("12,345", "1.234,50", "NIET-GEVRAAGD", "misschien", "Tessa", elfproef_bsn(1)):
        assert value not in str(caught.value)


def test_an_answer_file_from_excel_is_read(tmp_path: Path) -> None:
    """Decimal points, one-digit days, lower-case flags, no BOM: still the same answers."""
    pairs = example_pairs()
    path = tmp_path / "antwoorden.csv"
    write_answer_csv(pairs, path)
    col = {name: index for index, name in enumerate(portal_csv.COLUMNS)}

    def edit(rows: list[list[str]]) -> None:
        for row in rows[1:]:
            for name in ("OrigineleVordering", "Hoofdsom", "Openstaand", "Totaalvordering"):
                row[col[name]] = row[col[name]].replace(",", ".")
            row[col["Ontstaansdatum"]] = row[col["Ontstaansdatum"]].replace("01-03", "1-3")
            row[col["StandaardAkkoord"]] = row[col["StandaardAkkoord"]].lower()

    _rewrite(path, edit)
    assert not path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert read_answer_csv(path) == bodies(pairs)


def test_rows_of_a_conversation_are_grouped_by_column_a(tmp_path: Path) -> None:
    pairs = example_pairs()[:2]
    path = tmp_path / "antwoorden.csv"
    write_answer_csv(pairs, path)
    # move a claim row of the first conversation to the end: still grouped by column A
    _rewrite(path, lambda rows: rows.append(rows.pop(5)))
    assert read_answer_csv(path) == bodies(pairs)


# -- a property: any amounts and invoice numbers survive write -> read -------------------------

AMOUNTS = st.decimals(
    min_value=Decimal("0"), max_value=Decimal("99999999.99"), places=2, allow_nan=False
)
INVOICE = (
    st.text(alphabet="ABCXYZabcxyz0123456789.-/_ ;\"'é", min_size=1, max_size=20)
    .map(str.strip)
    .filter(bool)
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    invoices=st.lists(INVOICE, min_size=0, max_size=4, unique=True),
    amounts=st.lists(st.tuples(AMOUNTS, AMOUNTS, AMOUNTS, AMOUNTS), min_size=0, max_size=4),
    totaal=st.one_of(st.none(), AMOUNTS),
    ongematcht=st.lists(st.tuples(INVOICE, AMOUNTS), min_size=0, max_size=3),
)
def test_round_trip_property(
    tmp_path: Path,
    invoices: list[str],
    amounts: list[tuple[Decimal, Decimal, Decimal, Decimal]],
    totaal: Decimal | None,
    ongematcht: list[tuple[str, Decimal]],
) -> None:
    request = saldoverzoek_model(tuple(invoices), partner=bool(invoices))
    vorderingen = []
    for index, number in enumerate(invoices):
        if index < len(amounts):
            hoofdsom, rente, kosten, origineel = amounts[index]
            vorderingen.append(
                {
                    "Schuldtype": "openstaande schuld",
                    "FactuurnummerSEVolgensSHV": number,
                    "FactuurnummerSE": number,
                    "OrigineleVordering": str(origineel),
                    "Hoofdsom": str(hoofdsom),
                    "Rente": str(rente),
                    "Kosten": str(kosten),
                    "Openstaand": str(hoofdsom + rente + kosten),
                }
            )
        else:
            vorderingen.append(
                {"Schuldtype": "onbekende schuld bij SE", "FactuurnummerSEVolgensSHV": number}
            )
    body: dict[str, Any] = {}
    if vorderingen:
        body["Vorderingen"] = vorderingen
    if totaal is not None:
        body["OngematchteSchulden"] = {"Totaalvordering": str(totaal)}
    elif ongematcht:
        body["OngematchteSchulden"] = {
            "OpenstaandeSchulden": [
                {"Schuldtype": "openstaande schuld", "FactuurnummerSE": n, "Openstaand": str(a)}
                for n, a in ongematcht
            ]
        }
    if not body:
        body["KlantOnbekend"] = True
    pairs = [(request, antwoord_model(request, **body))]
    path = tmp_path / f"{uuid.uuid4()}.csv"

    write_answer_csv(pairs, path)

    assert read_answer_csv(path) == bodies(pairs)


def test_reading_is_all_or_nothing_for_answers_too(tmp_path: Path) -> None:
    pairs = example_pairs()
    path = tmp_path / "antwoorden.csv"
    write_answer_csv(pairs, path)
    col = {name: index for index, name in enumerate(portal_csv.COLUMNS)}
    original = copy.deepcopy(path.read_bytes())

    def edit(rows: list[list[str]]) -> None:
        rows[-1][col["Klant"]] = rows[-1][col["Klant"]].replace(elfproef_bsn(4), "123456789")

    _rewrite(path, edit)
    with pytest.raises(PortalCsvError) as caught:
        read_answer_csv(path)
    assert caught.value.errors == ["row 10, column H (Klant), part Bsn: the BSN fails the elfproef"]
    path.write_bytes(original)
    assert len(read_answer_csv(path)) == 4
