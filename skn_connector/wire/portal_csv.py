"""The SKN web-portal CSV: read a Saldoverzoek download, write and read the answer upload.

Creditors without a system link answer Saldoverzoeken on the SKN web portal: they
download the open Saldoverzoeken as a CSV file, fill in the answer part and upload
it. The layout is the documented "CSV Saldoverzoek Antwoord"
[SKN-CSV-SALDOVERZOEK-ANTWOORD]: columns A–K hold the question (the Saldoverzoek), L–V
the answer; the public page breaks off at W, so columns W–AE are our own (P).

The portal's rules [SKN-PROCESAFSPRAKEN-WEBPORTAAL] are kept: only ``.csv`` files, at
most ``MAX_BYTES``,
a file with any validation or format error is refused whole, and every error names
its row and column (``row 3, column H (Klant), part Bsn: the BSN fails the
elfproef``). Errors never repeat a cell's value: the cells hold personal data.

Everything the public documentation leaves open is a provisional choice (P), fixed
by the constants below; docs/messages.md ("The web-portal CSV") lists them.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first
Saldoverzoek row 2; a blank row keeps its number but is skipped.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

from ..messages import (
    MessageError,
    SaldoAntwoordBasis,
    Saldoverzoek,
    message_from_json,
)
from ..messages.common import TYPES_PER_MODULE
from ..messages.schuldinventarisatie import SALDOVERZOEK_MODULES
from .soap import NOT_XML as _NOT_XML

# -- the format (documented where the SKN page is, provisional (P) where it is silent) -----

#: The portal refuses a file over 4 MB (rule 10, [SKN-PROCESAFSPRAKEN-WEBPORTAAL]).
MAX_BYTES: Final = 4 * 1024 * 1024
#: The only accepted file extension (compared case-insensitively: ``.CSV`` is accepted).
EXTENSION: Final = ".csv"
#: (P) The cell separator: Dutch Excel writes and reads ``;``.
DELIMITER: Final = ";"
#: (P) The text encoding. A leading byte-order mark is accepted on read and written on
#: export, because Dutch Excel opens a UTF-8 file without one as Windows-1252.
ENCODING: Final = "utf-8"
BOM: Final = "\ufeff"
#: (P) Line ends on export (Excel's own); any line end is accepted on read.
LINE_TERMINATOR: Final = "\r\n"
#: (P) Separates the parts of a composite cell (D, H, I, J, AA), in the documented order.
#: An empty part is an absent optional element; missing trailing parts are empty.
PART_SEPARATOR: Final = "|"
#: (P) Separates the items of a list cell (K: the SHV's invoice numbers).
LIST_SEPARATOR: Final = "|"
#: (P) Amounts are written with a decimal comma (``1234,50``); on read ``,`` and ``.`` are
#: both a decimal separator. Thousands separators are refused (``1.234,50`` is ambiguous).
DECIMAL_SEPARATOR: Final = ","
#: (P) Dates: ``dd-mm-jjjj`` (documented for R and U; used for every date, Geboortedatum too).
#: On read the day and month may have one digit (``1-2-2026``), as Excel may write them.
DATE_FORMAT: Final = "dd-mm-jjjj"
#: The documented value of a set flag (P, Q; and our AC); an empty cell is not set.
#: Compared case-insensitively on read.
JA: Final = "Ja"

#: The question part (documented, A–K). The header row carries these names (P: the
#: documentation names the columns by letter and description, not by a header text).
QUESTION_COLUMNS: Final = (
    "ConversatieReferentienummer",  # A
    "Referentienummer",  # B
    "Schuldhulpverlener",  # C
    "ContactpersoonSHV",  # D: naam|telefoonnummer|emailadres
    "KlantnummerSHV",  # E
    "KlantnummerSEVolgensSHV",  # F (empty: absent)
    "TypeSchuldregeling",  # G (empty: absent)
    "Klant",  # H: geslacht|voorletters|voornamen|voorvoegsel|achternaam|geboortedatum[|bsn]
    "Partner",  # I: as H; empty: no partner
    "Adres",  # J: the nine parts of ADRES_PARTS
    "Vordering.FactuurnummerSEVolgensSHV",  # K: a list, items separated by LIST_SEPARATOR
)
#: The answer part as far as it is documented (L–V).
ANSWER_COLUMNS: Final = (
    "KlantnummerSE",  # L
    "ContactpersoonSE.Naam",  # M
    "ContactpersoonSE.Email",  # N
    "ContactpersoonSE.Telefoon",  # O
    "KlantOnbekend",  # P: Ja or empty
    "StandaardAkkoord",  # Q: Ja or empty
    "Datum",  # R
    "Schuldtype",  # S
    "FactuurnummerSE",  # T
    "Ontstaansdatum",  # U
    "OrigineleVordering",  # V
)
#: (P) Our columns after V: the rest of a claim, and which kind of row it is.
OWN_COLUMNS: Final = (
    "Hoofdsom",  # W
    "Rente",  # X
    "Kosten",  # Y
    "Openstaand",  # Z
    "OvergedragenAan",  # AA: naam[|contactpersoon]
    "FactuurnummerSEVolgensSHV",  # AB: the SHV's number (from K) this claim answers
    "Ongematcht",  # AC: Ja for a claim not on the SHV's list (OpenstaandeSchulden)
    "Totaalvordering",  # AD: OngematchteSchulden/Totaalvordering, on a row of its own
    "Omschrijving",  # AE
)
#: The whole layout, A–AE.
COLUMNS: Final = QUESTION_COLUMNS + ANSWER_COLUMNS + OWN_COLUMNS

#: The parts of each composite cell, in order. The first ``DOCUMENTED_PARTS`` are the
#: documented ones; the parts after them are ours (P) and written only when present.
CONTACTPERSOON_SHV_PARTS: Final = ("Naam", "Telefoonnummer", "Emailadres")
#: The SKN page lists Partner's sixth part as "geslacht" a second time: a typo for
#: geboortedatum. The seventh part, Bsn, is ours (P): the models carry it, the page does not.
PERSOON_PARTS: Final = (
    "Geslacht",
    "Voorletters",
    "Voornamen",
    "Voorvoegsel",
    "Achternaam",
    "Geboortedatum",
    "Bsn",
)
ADRES_PARTS: Final = (
    "Straatnaam",
    "Huisnummer",
    "Huisletter",
    "Huisnummertoevoeging",
    "AanduidingBijHuisnummer",
    "Postcode",
    "Woonplaats",
    "Woonbootverwijzing",
    "Woonwagenverwijzing",
)
OVERGEDRAGEN_AAN_PARTS: Final = ("Naam", "Contactpersoon")
PARTS: Final[dict[str, tuple[str, ...]]] = {
    "ContactpersoonSHV": CONTACTPERSOON_SHV_PARTS,
    "Klant": PERSOON_PARTS,
    "Partner": PERSOON_PARTS,
    "Adres": ADRES_PARTS,
    "OvergedragenAan": OVERGEDRAGEN_AAN_PARTS,
}
DOCUMENTED_PARTS: Final[dict[str, int]] = {
    "ContactpersoonSHV": 3,
    "Klant": 6,
    "Partner": 6,
    "Adres": 9,
    "OvergedragenAan": 1,
}

#: (P) ``Verzonden`` of an imported Saldoverzoek when the caller gives none: the CSV does
#: not say when SKN sent it. A fixed value keeps a second import byte-identical, so the
#: inbox counts it as a duplicate, not as a conflict. Nothing computes with Verzonden.
PORTAL_VERZONDEN: Final = datetime(2000, 1, 1, tzinfo=UTC)

_NIL = uuid.UUID(int=0)
#: Every TypeSchuldregeling value (of any module).
_TYPES: Final = frozenset().union(*TYPES_PER_MODULE.values())
#: Stand-ins for a date or amount cell that failed to parse (its error is already reported).
_STAND_IN_DATE = "2000-01-01"
_STAND_IN_AMOUNT = "0"
_AMOUNT = re.compile(r"[+-]?\d+(?:[.,]\d+)?")
#: The most digits before the decimal separator: the XSD's Bedrag (totalDigits 14, of which
#: fractionDigits 2) leaves 12, and a longer number overflows the model's rounding.
_AMOUNT_DIGITS = 12
_DATE = re.compile(r"(\d{1,2})-(\d{1,2})-(\d{4})")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
#: Columns A–R repeat on every row of one conversation in an answer file.
_REPEATED = COLUMNS.index("Datum") + 1
#: The claim part of an answer row (S–AE).
_CLAIM_COLUMNS = COLUMNS[_REPEATED:]
#: A download has at least the question part; an answer file at least A–V.
_MIN_DOWNLOAD_COLUMNS = len(QUESTION_COLUMNS)
_MIN_ANSWER_COLUMNS = len(QUESTION_COLUMNS) + len(ANSWER_COLUMNS)


#: How many problems a refusal lists; the rest are counted (a 4 MB file of junk has ~100,000).
MAX_LISTED_ERRORS: Final = 100


class PortalCsvError(ValueError):
    """A portal CSV file that is refused whole; ``errors`` name each problem by row and column,
    the first ``MAX_LISTED_ERRORS`` of them, then how many more there are; ``total`` counts
    them all."""

    def __init__(self, errors: list[str]) -> None:
        self.total = len(errors)
        self.errors = errors[:MAX_LISTED_ERRORS]
        if self.total > MAX_LISTED_ERRORS:
            more = self.total - MAX_LISTED_ERRORS
            self.errors.append(f"and {more} more error{'s' if more > 1 else ''}")
        super().__init__("; ".join(self.errors))


@dataclass(frozen=True)
class PortalRequest:
    """One Saldoverzoek of a portal download (the question part, columns A–K)."""

    #: The row in the file (the header is row 1).
    row: int
    conversatie_referentienummer: uuid.UUID
    #: The Saldoverzoek's Referentienummer (column B): its id, kept in the answer file.
    referentienummer: uuid.UUID
    #: The Saldoverzoek body in its JSON form, validated, without Berichtheader.
    json: dict[str, Any]


def column_letter(index: int) -> str:
    """The spreadsheet letter of a 0-based column index: 0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _where(row: int, index: int, part: str | None = None, *, named: bool = True) -> str:
    name = f" ({COLUMNS[index]})" if named and index < len(COLUMNS) else ""
    return f"row {row}, column {column_letter(index)}{name}" + (f", part {part}" if part else "")


def _col(name: str) -> int:
    return COLUMNS.index(name)


# -- reading a file into rows ------------------------------------------------------------


def _check_extension(path: Path) -> None:
    if path.suffix.lower() != EXTENSION:
        raise PortalCsvError([f"only {EXTENSION} files are accepted; the file name ends otherwise"])


def _read_text(path: Path) -> str:
    """The file's text: extension and size checked before anything is read."""
    _check_extension(path)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise PortalCsvError([f"the file is {size} bytes; the limit is {MAX_BYTES} bytes (4 MB)"])
    with path.open("rb") as stream:
        data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:  # it grew since stat()
        raise PortalCsvError([f"the file is over the limit of {MAX_BYTES} bytes (4 MB)"])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        row = before.count(b"\n") + 1
        line = before[before.rfind(b"\n") + 1 :]
        index = line.count(DELIMITER.encode())
        raise PortalCsvError(
            [
                f"{_where(row, index)}: the file is not {ENCODING.upper()} text "
                "(save it from Excel as 'CSV UTF-8')"
            ]
        ) from None
    found = _NOT_XML.search(text)
    if found:
        before_text = text[: found.start()]
        row = before_text.count("\n") + 1
        index = before_text[before_text.rfind("\n") + 1 :].count(DELIMITER)
        character = found.group()
        what = (
            "a NUL character"
            if character == "\x00"
            else f"a character a message cannot carry (U+{ord(character):04X})"
        )
        raise PortalCsvError([f"{_where(row, index)}: the file holds {what}"])
    return text


def _records(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header cells and the non-blank data rows (row number, stripped cells)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITER, strict=True)
    rows: list[tuple[int, list[str]]] = []
    number = 0
    try:
        for cells in reader:
            number += 1
            rows.append((number, [cell.strip() for cell in cells]))
    except csv.Error as exc:
        raise PortalCsvError([f"row {number + 1}: the row is not valid CSV ({exc})"]) from None
    if not rows:
        raise PortalCsvError(["row 1, column A: the file is empty; expected a header row"])
    header = rows[0][1]
    data = [(n, cells) for n, cells in rows[1:] if any(cells)]
    return header, data


def _normalised(name: str) -> str:
    return re.sub(r"\s+", "", name).casefold()


def _check_header(header: list[str], minimum: int, what: str) -> int:
    """Check the header row against the layout; return its number of columns."""
    if len(header) == 1 and any(sep in header[0] for sep in (",", "\t")):
        raise PortalCsvError(
            [f"row 1, column A: the cells are not separated by {DELIMITER!r} (semicolon)"]
        )
    width = len(header)
    while width > minimum and not header[width - 1]:
        width -= 1  # trailing empty header cells: Excel sometimes adds them
    errors = []
    for index in range(max(width, minimum)):
        if index >= len(COLUMNS):
            errors.append(
                f"{_where(1, index)}: a column beyond the layout "
                f"(the last is {column_letter(len(COLUMNS) - 1)} {COLUMNS[-1]})"
            )
        elif index >= width:
            errors.append(
                f"{_where(1, index)}: missing; {what} has at least the columns "
                f"A–{column_letter(minimum - 1)}"
            )
        elif _normalised(header[index]) != _normalised(COLUMNS[index]):
            errors.append(f"{_where(1, index)}: the header is not {COLUMNS[index]!r}")
    if errors:
        raise PortalCsvError(errors)
    return width


def _table(text: str, minimum: int, what: str) -> tuple[int, list[tuple[int, list[str]]]]:
    """The width of the header and the data rows, each padded to that width.

    A row longer than the header is an error, unless the extra cells are empty.
    """
    header, rows = _records(text)
    width = _check_header(header, minimum, what)
    errors = []
    table = []
    for number, cells in rows:
        for index in range(width, len(cells)):
            if cells[index]:
                errors.append(
                    f"{_where(number, index, named=False)}: a cell beyond the header's last column"
                )
        table.append((number, (cells + [""] * width)[:width] + [""] * (len(COLUMNS) - width)))
    if errors:
        raise PortalCsvError(errors)
    return width, table


# -- cells to JSON -------------------------------------------------------------------------


@dataclass
class _Row:
    """Builds one row's JSON, collecting errors; a part that failed to parse is noted so that
    the model's "Field required" for it is not reported a second time."""

    number: int
    cells: list[str]
    errors: list[str]
    failed: set[tuple[str, ...]] = field(default_factory=set)

    def cell(self, name: str) -> str:
        return self.cells[_col(name)]

    def error(self, name: str, message: str, part: str | None = None) -> None:
        self.errors.append(f"{_where(self.number, _col(name), part)}: {message}")

    def date(self, name: str, value: str, path: tuple[str, ...], part: str | None = None) -> str:
        """dd-mm-jjjj to ISO. A cell that is not a date is an error; a stand-in date then lets
        the model check the rest of the row."""
        found = _DATE.fullmatch(value)
        if found:
            day, month, year = (int(g) for g in found.groups())
            try:
                return date(year, month, day).isoformat()
            except ValueError:
                self.error(name, "not a real date", part)
        else:
            self.error(name, f"a date is {DATE_FORMAT}, e.g. 28-11-2026", part)
        self.failed.add(path)
        return _STAND_IN_DATE

    def amount(self, name: str, path: tuple[str, ...]) -> str:
        """A cell amount as a JSON amount (a stand-in after an error, as for dates)."""
        value = self.cell(name)
        if not _AMOUNT.fullmatch(value):
            self.error(name, "an amount is a number with a decimal comma, e.g. 1234,50")
        elif len(re.split(r"[.,]", value.lstrip("+-"))[0].lstrip("0")) > _AMOUNT_DIGITS:
            self.error(name, f"an amount has at most {_AMOUNT_DIGITS} digits before the comma")
        else:
            return value.replace(",", ".")
        self.failed.add(path)
        return _STAND_IN_AMOUNT

    def flag(self, name: str, stand_in: bool = False) -> bool:
        """A Ja-or-empty cell; after an error ``stand_in``, chosen to avoid follow-up errors."""
        value = self.cell(name)
        if value.casefold() == JA.casefold():
            return True
        if value:
            self.error(name, f"is {JA!r} or empty")
            return stand_in
        return False

    def composite(self, name: str, path: tuple[str, ...]) -> dict[str, Any] | None:
        """The parts of a composite cell as a JSON object; None when the cell is empty."""
        value = self.cell(name)
        if not value:
            return None
        names = PARTS[name]
        parts = [p.strip() for p in value.split(PART_SEPARATOR)]
        if len(parts) > len(names):
            self.error(
                name,
                f"has at most {len(names)} parts separated by {PART_SEPARATOR!r} "
                f"({', '.join(names)})",
            )
            self.failed.add(path)
            return None
        result: dict[str, Any] = {}
        for part_name, part in zip(names, parts, strict=False):
            if not part:
                continue
            if part_name == "Geboortedatum":
                result[part_name] = self.date(name, part, (*path, part_name), part_name)
            else:
                result[part_name] = part
        return result or None


def _question(row: _Row, module: str) -> tuple[uuid.UUID | None, uuid.UUID | None, dict[str, Any]]:
    """The conversation id, the Saldoverzoek's Referentienummer and its body (columns A–K)."""
    conversation: uuid.UUID | None = None
    try:
        conversation = uuid.UUID(row.cell("ConversatieReferentienummer"))
    except ValueError:
        row.error("ConversatieReferentienummer", "a ConversatieReferentienummer is a UUID")
    referentienummer: uuid.UUID | None = None
    try:
        referentienummer = uuid.UUID(row.cell("Referentienummer"))
    except ValueError:
        row.error(
            "Referentienummer",
            "the Saldoverzoek's Referentienummer is a UUID"
            if row.cell("Referentienummer")
            else "required, but empty",
        )
    body: dict[str, Any] = {}
    for key, name in (
        ("Schuldhulpverlener", "Schuldhulpverlener"),
        ("KlantnummerSHV", "KlantnummerSHV"),
        ("KlantnummerSEVolgensSHV", "KlantnummerSEVolgensSHV"),
        ("TypeSchuldregeling", "TypeSchuldregeling"),
    ):
        if row.cell(name):
            body[key] = row.cell(name)
    for key, name in (
        ("Contactpersoon", "ContactpersoonSHV"),
        ("Klant", "Klant"),
        ("Partner", "Partner"),
        ("Adres", "Adres"),
    ):
        value = row.composite(name, (key,))
        if value is not None:
            body[key] = value
    allowed = TYPES_PER_MODULE.get(module)
    chosen = row.cell("TypeSchuldregeling")
    if chosen and allowed is not None and chosen in _TYPES and chosen not in allowed:
        # checked here, not only by the model: the model checks a rule over several elements
        # only once every element is valid, and this one needs no other cell
        row.error(
            "TypeSchuldregeling",
            f"does not belong to module {module}; allowed: {', '.join(sorted(allowed))}",
        )
        row.failed.add(("TypeSchuldregeling",))
    numbers = row.cell("Vordering.FactuurnummerSEVolgensSHV")
    items = [n.strip() for n in numbers.split(LIST_SEPARATOR)] if numbers else []
    for index, item in enumerate(items):
        if not item:
            row.error(
                "Vordering.FactuurnummerSEVolgensSHV",
                "an empty invoice number",
                f"item {index + 1}",
            )
            row.failed.add(("Vorderingen", str(index)))
    body["Vorderingen"] = [{"FactuurnummerSEVolgensSHV": n} for n in items]
    return conversation, referentienummer, body


def _answer_top(row: _Row) -> dict[str, Any]:
    """The answer fields that are not per claim (L–R)."""
    body: dict[str, Any] = {}
    if row.cell("KlantnummerSE"):
        body["KlantnummerSE"] = row.cell("KlantnummerSE")
    contact = {
        key: row.cell(name)
        for key, name in (
            ("Naam", "ContactpersoonSE.Naam"),
            ("Emailadres", "ContactpersoonSE.Email"),
            ("Telefoonnummer", "ContactpersoonSE.Telefoon"),
        )
        if row.cell(name)
    }
    if contact:
        body["Contactpersoon"] = contact
    # an unreadable KlantOnbekend stands in as Ja: no follow-up "claims are required"
    body["KlantOnbekend"] = row.flag("KlantOnbekend", stand_in=True)
    body["StandaardAkkoord"] = row.flag("StandaardAkkoord")
    if row.cell("Datum"):
        body["Datum"] = row.date("Datum", row.cell("Datum"), ("Datum",))
    return body


_CLAIM_TEXTS: Final = ("Schuldtype", "FactuurnummerSE", "FactuurnummerSEVolgensSHV", "Omschrijving")
_CLAIM_AMOUNTS: Final = ("OrigineleVordering", "Hoofdsom", "Rente", "Kosten", "Openstaand")


def _claim(row: _Row, path: tuple[str, ...]) -> dict[str, Any]:
    """One claim (OpgegevenVordering) of columns S–AB and AE."""
    claim: dict[str, Any] = {}
    for name in _CLAIM_TEXTS:
        if row.cell(name):
            claim[name] = row.cell(name)
    if row.cell("Ontstaansdatum"):
        claim["Ontstaansdatum"] = row.date(
            "Ontstaansdatum", row.cell("Ontstaansdatum"), (*path, "Ontstaansdatum")
        )
    for name in _CLAIM_AMOUNTS:
        if row.cell(name):
            claim[name] = row.amount(name, (*path, name))
    transferred = row.composite("OvergedragenAan", (*path, "OvergedragenAan"))
    if transferred is not None:
        claim["OvergedragenAan"] = transferred
    return claim


# -- validation: model errors to rows and columns -------------------------------------------


def _validate(
    berichttype: str,
    module: str,
    conversation: uuid.UUID | None,
    referentienummer: uuid.UUID | None,
    body: dict[str, Any],
) -> tuple[dict[str, Any] | None, list[tuple[list[str], str]]]:
    """The validated body JSON (without header), or the errors as (path, rule)."""
    header = {
        "Referentienummer": str(referentienummer or _NIL),
        "ConversatieReferentienummer": str(conversation or _NIL),
        "Berichttype": berichttype,
        "Module": module,
        "Afzender": str(_NIL),
        "Ontvanger": str(_NIL),
        "Verzonden": PORTAL_VERZONDEN.isoformat(),
    }
    try:
        message = message_from_json({"Berichtheader": header, **body})
    except MessageError as exc:
        found = []
        for line in exc.errors:
            path_text, _, rule = line.partition(": ")
            found.append((path_text.split("/")[1:], rule))
        return None, found
    result = message.to_json()
    del result["Berichtheader"]
    return result, []


def _suppressed(path: list[str], failed: set[tuple[str, ...]]) -> bool:
    return any(tuple(path[: len(f)]) == f for f in failed)


_QUESTION_ELEMENTS: Final = {
    "Schuldhulpverlener": "Schuldhulpverlener",
    "Contactpersoon": "ContactpersoonSHV",
    "KlantnummerSHV": "KlantnummerSHV",
    "KlantnummerSEVolgensSHV": "KlantnummerSEVolgensSHV",
    "TypeSchuldregeling": "TypeSchuldregeling",
    "Klant": "Klant",
    "Partner": "Partner",
    "Adres": "Adres",
    "Vorderingen": "Vordering.FactuurnummerSEVolgensSHV",
}


def _question_location(path: list[str]) -> tuple[str, str | None]:
    """The column (and part) of a Saldoverzoek element path."""
    if not path:
        return "ConversatieReferentienummer", None
    head, rest = path[0], path[1:]
    if head == "Berichtheader":
        if rest[:1] == ["Referentienummer"]:
            return "Referentienummer", None
        return "ConversatieReferentienummer", None
    name = _QUESTION_ELEMENTS.get(head, "ConversatieReferentienummer")
    if head == "Vorderingen":
        return name, f"item {int(rest[0]) + 1}" if rest and rest[0].isdigit() else None
    return name, rest[0] if rest and name in PARTS else None


def _readable(rule: str) -> str:
    """pydantic's 'Field required' in the words of a spreadsheet."""
    if rule == "Field required" or rule == "String should have at least 1 character":
        return "required, but empty"
    return rule


def _report(
    row: _Row,
    found: list[tuple[list[str], str]],
    locate: Callable[[list[str]], tuple[str, str | None]],
) -> None:
    for path, rule in found:
        if not _suppressed(path, row.failed):
            name, part = locate(path)
            row.error(name, _readable(rule), part)


def _question_from_row(
    row: _Row, module: str
) -> tuple[uuid.UUID | None, uuid.UUID | None, dict[str, Any] | None, list[str]]:
    """Columns A–K validated as a Saldoverzoek; returns also the invoice numbers of K."""
    failed_before, row.failed = row.failed, set()
    conversation, referentie, body = _question(row, module)
    validated, found = _validate("Saldoverzoek", module, conversation, referentie, body)
    _report(row, found, _question_location)
    row.failed = failed_before
    numbers = [v["FactuurnummerSEVolgensSHV"] for v in body["Vorderingen"]]
    return conversation, referentie, validated, numbers


def _check_module(module: str) -> None:
    if module not in SALDOVERZOEK_MODULES:
        raise ValueError(
            f"module {module!r} does not carry a Saldoverzoek; "
            f"one of {', '.join(SALDOVERZOEK_MODULES)}"
        )


# -- the download ----------------------------------------------------------------------------


def read_portal_download(path: Path, *, module: str = "Schuldregeling") -> list[PortalRequest]:
    """Read a portal download: one Saldoverzoek per row, the answer columns empty.

    Checks the extension, the size (before reading), the encoding, the header and every
    cell; each row is validated as a Saldoverzoek of ``module`` (the portal serves the
    Schuldregeling module). All or nothing: any error refuses the whole file
    (PortalCsvError, naming every problem by row and column).
    """
    _check_module(module)
    width, table = _table(_read_text(path), _MIN_DOWNLOAD_COLUMNS, "a download")
    errors: list[str] = []
    requests: list[PortalRequest] = []
    seen: dict[uuid.UUID, int] = {}
    for number, cells in table:
        row = _Row(number, cells, errors)
        conversation, referentie, validated, _ = _question_from_row(row, module)
        for index in range(len(QUESTION_COLUMNS), width):
            if cells[index]:
                errors.append(
                    f"{_where(number, index)}: a download carries no answer; leave this cell empty"
                )
        if conversation is not None:
            if conversation in seen:
                row.error(
                    "ConversatieReferentienummer",
                    f"the same ConversatieReferentienummer as row {seen[conversation]}",
                )
            seen.setdefault(conversation, number)
        if validated is not None and conversation is not None and referentie is not None:
            requests.append(PortalRequest(number, conversation, referentie, validated))
    if errors:
        errors.sort(key=_error_order)
        raise PortalCsvError(errors)
    return requests


def saldoverzoek_from_portal(
    request: PortalRequest,
    *,
    ontvanger: uuid.UUID,
    afzender: uuid.UUID,
    module: str = "Schuldregeling",
    verzonden: datetime | None = None,
) -> Saldoverzoek:
    """The full Saldoverzoek of a downloaded row, with a header.

    Its Referentienummer is column B's, so the answer carries it as its
    CrossReferentienummer and the answer file keeps it in column B. Importing the same file
    twice yields the same message (with the same ``verzonden``, default
    ``PORTAL_VERZONDEN``), and the inbox's duplicate check makes the second import harmless.
    Raises MessageError when the body does not fit ``module`` (e.g. its TypeSchuldregeling).
    """
    header = {
        "Referentienummer": str(request.referentienummer),
        "ConversatieReferentienummer": str(request.conversatie_referentienummer),
        "Berichttype": "Saldoverzoek",
        "Module": module,
        "Afzender": str(afzender),
        "Ontvanger": str(ontvanger),
        "Verzonden": (verzonden or PORTAL_VERZONDEN).isoformat(),
    }
    message = message_from_json({"Berichtheader": header, **request.json})
    if not isinstance(message, Saldoverzoek):  # pragma: no cover - the Berichttype decides
        raise TypeError("not a Saldoverzoek")
    return message


# -- the answer file -----------------------------------------------------------------------------


@dataclass
class _Group:
    """The rows of one conversation in an answer file, sorted by what they hold."""

    rows: list[_Row] = field(default_factory=list)
    matched: list[_Row] = field(default_factory=list)
    unmatched: list[_Row] = field(default_factory=list)
    totaal: _Row | None = None


_ANSWER_ELEMENTS: Final = {
    "KlantnummerSE": "KlantnummerSE",
    "KlantOnbekend": "KlantOnbekend",
    "StandaardAkkoord": "StandaardAkkoord",
    "Datum": "Datum",
}
_CONTACT_SE: Final = {
    "Naam": "ContactpersoonSE.Naam",
    "Emailadres": "ContactpersoonSE.Email",
    "Telefoonnummer": "ContactpersoonSE.Telefoon",
}


def _claim_location(rest: list[str]) -> tuple[str, str | None]:
    if not rest:
        return "Schuldtype", None
    name = rest[0] if rest[0] in COLUMNS else "Schuldtype"
    part = rest[1] if name in PARTS and len(rest) > 1 else None
    return name, part


def _answer_location(group: _Group, path: list[str]) -> tuple[_Row, str, str | None]:
    """The row, column and part of a SaldoverzoekAntwoord element path."""
    first = group.rows[0]
    head, rest = (path[0], path[1:]) if path else ("", [])
    if head in _ANSWER_ELEMENTS:
        return first, _ANSWER_ELEMENTS[head], None
    if head == "Contactpersoon":
        return first, _CONTACT_SE.get(rest[0] if rest else "Naam", "ContactpersoonSE.Naam"), None
    if head == "Vorderingen":
        if rest and rest[0].isdigit() and int(rest[0]) < len(group.matched):
            return (group.matched[int(rest[0])], *_claim_location(rest[1:]))
        return first, "Schuldtype", None
    if head == "OngematchteSchulden":
        if rest[:1] == ["OpenstaandeSchulden"]:
            index = rest[1] if len(rest) > 1 else ""
            if index.isdigit() and int(index) < len(group.unmatched):
                return (group.unmatched[int(index)], *_claim_location(rest[2:]))
            return (group.unmatched or group.rows)[0], "Ongematcht", None
        return group.totaal or (group.unmatched or group.rows)[0], "Totaalvordering", None
    return first, "Schuldtype", None


def _answer_group(
    group: _Group, module: str
) -> tuple[uuid.UUID | None, dict[str, Any] | None, dict[str, Any] | None]:
    """One conversation of an answer file: its Saldoverzoek and SaldoverzoekAntwoord bodies."""
    first = group.rows[0]
    for row in group.rows[1:]:
        for index in range(_REPEATED):
            if row.cells[index] != first.cells[index]:
                row.errors.append(
                    f"{_where(row.number, index)}: differs from row {first.number} of the same "
                    f"conversation (columns A–{column_letter(_REPEATED - 1)} repeat on every "
                    "claim row)"
                )
    conversation, referentie, question, numbers = _question_from_row(first, module)
    answer: dict[str, Any] = _answer_top(first)

    for row in group.rows:
        filled = [name for name in _CLAIM_COLUMNS if row.cell(name)]
        if row.cell("Totaalvordering"):
            for name in filled:
                if name != "Totaalvordering":
                    row.error(name, "a Totaalvordering row carries no claim; give it its own row")
            if group.totaal is not None:
                row.error(
                    "Totaalvordering",
                    f"a second Totaalvordering; the first is on row {group.totaal.number}",
                )
            else:
                group.totaal = row
        elif row.flag("Ongematcht", stand_in=not row.cell("FactuurnummerSEVolgensSHV")):
            group.unmatched.append(row)
        elif filled:
            group.matched.append(row)
            number = row.cell("FactuurnummerSEVolgensSHV")
            if number and number not in numbers:
                row.error(
                    "FactuurnummerSEVolgensSHV",
                    "not one of the SHV's invoice numbers in column "
                    f"{column_letter(_col('Vordering.FactuurnummerSEVolgensSHV'))}",
                )
        elif len(group.rows) > 1:
            row.error(
                "Schuldtype",
                "a row without a claim; a conversation with claims has one row per claim",
            )
    if group.totaal is not None and group.unmatched:
        group.totaal.error(
            "Totaalvordering",
            "a Totaalvordering excludes unmatched claims (Ongematcht Ja) in one answer",
        )
    if group.matched:
        answer["Vorderingen"] = [
            _claim(row, ("Vorderingen", str(i))) for i, row in enumerate(group.matched)
        ]
    ongematcht: dict[str, Any] = {}
    if group.unmatched:
        ongematcht["OpenstaandeSchulden"] = [
            _claim(row, ("OngematchteSchulden", "OpenstaandeSchulden", str(i)))
            for i, row in enumerate(group.unmatched)
        ]
    if group.totaal is not None:
        ongematcht["Totaalvordering"] = group.totaal.amount(
            "Totaalvordering", ("OngematchteSchulden", "Totaalvordering")
        )
    if ongematcht:
        answer["OngematchteSchulden"] = ongematcht
    failed = set().union(*(row.failed for row in group.rows))
    validated, found = _validate("SaldoverzoekAntwoord", module, conversation, referentie, answer)
    for path, rule in found:
        if path[:1] == ["Berichtheader"] or _suppressed(path, failed):
            continue  # the header's errors are the question's, reported with it
        if group.totaal is not None and group.unmatched and path == ["OngematchteSchulden"]:
            continue  # reported above, at the rows
        row, name, part = _answer_location(group, path)
        row.error(name, _readable(rule), part)
    return conversation, question, validated


def _answers(
    table: list[tuple[int, list[str]]], module_of: Callable[[uuid.UUID | None], str]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    errors: list[str] = []
    groups: dict[str, _Group] = {}
    for number, cells in table:
        key = cells[0].casefold()
        groups.setdefault(key, _Group()).rows.append(_Row(number, cells, errors))
    pairs = []
    for group in groups.values():
        try:
            hint = uuid.UUID(group.rows[0].cells[0])
        except ValueError:
            hint = None
        _, question, answer = _answer_group(group, module_of(hint))
        if question is not None and answer is not None:
            pairs.append((question, answer))
    if errors:
        errors.sort(key=_error_order)
        raise PortalCsvError(errors)
    return pairs


def _error_order(error: str) -> tuple[int, int]:
    found = re.match(r"row (\d+), column ([A-Z]+)", error)
    if not found:
        return (0, 0)
    letters = found.group(2)
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - ord("A") + 1
    return (int(found.group(1)), index)


def read_answer_csv(
    path: Path, *, module: str = "Schuldregeling"
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Read an answer file back: per conversation (rows grouped by column A, in the order of
    their first row) the Saldoverzoek body and the SaldoverzoekAntwoord body, both JSON
    without Berichtheader (the caller adds one). Same rules as a download: extension, size,
    all or nothing, errors by row and column.
    """
    _check_module(module)
    _, table = _table(_read_text(path), _MIN_ANSWER_COLUMNS, "an answer file")
    return _answers(table, lambda _: module)


# -- writing ---------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _date_cell(value: str | None) -> str:
    if value is None:
        return ""
    found = _ISO_DATE.fullmatch(value)
    if not found:  # pragma: no cover - the models serialise dates as ISO
        raise ValueError("a date that is not ISO")
    year, month, day = found.groups()
    return f"{day}-{month}-{year}"


def _amount_cell(value: str | None) -> str:
    return "" if value is None else value.replace(".", DECIMAL_SEPARATOR)


def _joined(conversation: uuid.UUID, name: str, items: list[str]) -> str:
    for index, item in enumerate(items):
        if PART_SEPARATOR in item:
            raise ValueError(
                f"conversation {conversation}: column {column_letter(_col(name))} ({name}), "
                f"part {index + 1} contains {PART_SEPARATOR!r}, the CSV's separator"
            )
    return PART_SEPARATOR.join(items)


def _composite_cell(conversation: uuid.UUID, name: str, value: dict[str, Any] | None) -> str:
    if value is None:
        return ""
    names = PARTS[name]
    parts = []
    for part in names:
        raw = value.get(part)
        parts.append(_date_cell(raw) if part == "Geboortedatum" else _text(raw))
    count = len(parts)
    while count > DOCUMENTED_PARTS[name] and not parts[count - 1]:
        count -= 1
    return _joined(conversation, name, parts[:count])


def _question_cells(request: Saldoverzoek) -> list[str]:
    header = request.berichtheader
    conversation = header.conversatie_referentienummer
    body = request.to_json()
    return [
        str(conversation),
        str(header.referentienummer),
        body["Schuldhulpverlener"],
        _composite_cell(conversation, "ContactpersoonSHV", body.get("Contactpersoon")),
        body["KlantnummerSHV"],
        _text(body.get("KlantnummerSEVolgensSHV")),
        _text(body.get("TypeSchuldregeling")),
        _composite_cell(conversation, "Klant", body.get("Klant")),
        _composite_cell(conversation, "Partner", body.get("Partner")),
        _composite_cell(conversation, "Adres", body.get("Adres")),
        _joined(
            conversation,
            "Vordering.FactuurnummerSEVolgensSHV",
            [v["FactuurnummerSEVolgensSHV"] for v in body.get("Vorderingen", [])],
        ),
    ]


def _answer_cells(answer: dict[str, Any]) -> list[str]:
    contact = answer.get("Contactpersoon", {})
    return [
        _text(answer.get("KlantnummerSE")),
        _text(contact.get("Naam")),
        _text(contact.get("Emailadres")),
        _text(contact.get("Telefoonnummer")),
        JA if answer.get("KlantOnbekend") else "",
        JA if answer.get("StandaardAkkoord") else "",
        _date_cell(answer.get("Datum")),
    ]


def _claim_cells(conversation: uuid.UUID, claim: dict[str, Any] | None, **own: str) -> list[str]:
    claim = claim or {}
    cells = {
        "Schuldtype": _text(claim.get("Schuldtype")),
        "FactuurnummerSE": _text(claim.get("FactuurnummerSE")),
        "Ontstaansdatum": _date_cell(claim.get("Ontstaansdatum")),
        **{name: _amount_cell(claim.get(name)) for name in _CLAIM_AMOUNTS},
        "OvergedragenAan": _composite_cell(
            conversation, "OvergedragenAan", claim.get("OvergedragenAan")
        ),
        "FactuurnummerSEVolgensSHV": _text(claim.get("FactuurnummerSEVolgensSHV")),
        "Ongematcht": "",
        "Totaalvordering": "",
        "Omschrijving": _text(claim.get("Omschrijving")),
    }
    cells.update(own)
    return [cells[name] for name in _CLAIM_COLUMNS]


def _render(rows: list[list[str]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=DELIMITER, lineterminator=LINE_TERMINATOR)
    writer.writerows(rows)
    return buffer.getvalue()


def write_answer_csv(pairs: Sequence[tuple[Saldoverzoek, SaldoAntwoordBasis]], path: Path) -> None:
    """Write the upload file in the "Saldoverzoek Antwoord" layout (A–AE, see COLUMNS).

    The question part (A–K) is copied from each request, the answer part from its answer,
    one row per claim, columns A–R repeated: first the matched claims (``Vorderingen``,
    AB the SHV's number), then the unmatched ones (``OngematchteSchulden/OpenstaandeSchulden``,
    AC ``Ja``), or one row for a ``Totaalvordering`` (AD); an answer without claims
    (KlantOnbekend) has a single row. The file is checked to re-import unchanged with
    ``read_answer_csv`` before it is written (atomically). Raises ValueError for a name
    without ``.csv``, an answer to another conversation, a conversation given twice, a
    value the format cannot carry, or a result over MAX_BYTES.
    """
    if path.suffix.lower() != EXTENSION:
        raise ValueError(f"an upload file name ends in {EXTENSION}")
    rows: list[list[str]] = [list(COLUMNS)]
    expected: list[tuple[dict[str, Any], dict[str, Any]]] = []
    modules: dict[uuid.UUID, str] = {}
    for request, answer in pairs:
        conversation = request.berichtheader.conversatie_referentienummer
        if answer.berichtheader.conversatie_referentienummer != conversation:
            raise ValueError(
                f"the answer to conversation {conversation} belongs to another conversation"
            )
        if conversation in modules:
            raise ValueError(f"conversation {conversation} is given twice")
        modules[conversation] = request.berichtheader.module
        question = request.to_json()
        del question["Berichtheader"]
        body = answer.to_json()
        del body["Berichtheader"]
        expected.append((question, body))
        repeated = _question_cells(request) + _answer_cells(body)
        claims = [_claim_cells(conversation, c) for c in body.get("Vorderingen", [])]
        ongematcht = body.get("OngematchteSchulden", {})
        claims += [
            _claim_cells(conversation, c, Ongematcht=JA)
            for c in ongematcht.get("OpenstaandeSchulden", [])
        ]
        if "Totaalvordering" in ongematcht:
            claims.append(
                _claim_cells(
                    conversation, None, Totaalvordering=_amount_cell(ongematcht["Totaalvordering"])
                )
            )
        rows += [repeated + claim for claim in claims or [_claim_cells(conversation, None)]]
    text = _render(rows)
    data = (BOM + text).encode(ENCODING)
    if len(data) > MAX_BYTES:
        raise ValueError(
            f"the answer file would be {len(data)} bytes, over the portal's limit of "
            f"{MAX_BYTES} bytes (4 MB); split the answers over several files"
        )
    # the export must re-import unchanged: read it back as the portal would
    _, table = _table(text, _MIN_ANSWER_COLUMNS, "an answer file")
    reread = _answers(table, lambda c: modules.get(c, "Schuldregeling") if c else "Schuldregeling")
    if reread != expected:
        differing = sorted(
            {
                key
                for got, want in zip(reread, expected, strict=False)
                for part_got, part_want in zip(got, want, strict=True)
                for key in set(part_got) | set(part_want)
                if part_got.get(key) != part_want.get(key)
            }
        )
        raise ValueError(
            "the answer file would not re-import unchanged; differing elements: "
            + (", ".join(differing) or "the number of conversations")
        )
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".portal-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


__all__ = [
    "ADRES_PARTS",
    "ANSWER_COLUMNS",
    "BOM",
    "COLUMNS",
    "DATE_FORMAT",
    "DECIMAL_SEPARATOR",
    "DELIMITER",
    "DOCUMENTED_PARTS",
    "ENCODING",
    "EXTENSION",
    "JA",
    "LINE_TERMINATOR",
    "LIST_SEPARATOR",
    "MAX_BYTES",
    "MAX_LISTED_ERRORS",
    "OWN_COLUMNS",
    "PARTS",
    "PART_SEPARATOR",
    "PERSOON_PARTS",
    "PORTAL_VERZONDEN",
    "QUESTION_COLUMNS",
    "PortalCsvError",
    "PortalRequest",
    "column_letter",
    "read_answer_csv",
    "read_portal_download",
    "saldoverzoek_from_portal",
    "write_answer_csv",
]
