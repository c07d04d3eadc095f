"""Targeted hostile portal files: each refused whole with a reason naming the row and the
column, never a crash, never a hang."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from skn_connector.wire.portal_csv import (
    MAX_BYTES,
    PortalCsvError,
    read_answer_csv,
    read_portal_download,
    write_answer_csv,
)

from ..test_portal_csv import DOCUMENTED_A_TO_V, example_pairs, good_rows
from .harness import guarded


def _download(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(DOCUMENTED_A_TO_V)
    writer.writerows(row + [""] * 11 for row in rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _with_cell(row: int, column: int, value: str) -> bytes:
    rows = good_rows()
    rows[row][column] = value
    return _download(rows)


def _answers(tmp_path: Path) -> bytes:
    path = tmp_path / "base.csv"
    write_answer_csv(example_pairs(), path)
    return path.read_bytes()


DOWNLOADS = {
    "a backspace in a Referentienummer": (
        _with_cell(0, 1, "KB\x08-1"),
        "row 2, column B",
        "U+0008",
    ),
    "an escape in a name": (
        _with_cell(1, 7, "V|T.|T\x1bssa||Test|01-01-1980"),
        "row 3, column H",
        "U+001B",
    ),
    "U+FFFF in an address": (_with_cell(0, 9, "Straat\uffff|1||||1234AB|Stad||"), "row 2", "FFFF"),
    "a NUL byte": (_with_cell(0, 2, "Krediet\x00bank"), "row 2, column C", "NUL"),
    "Latin-1 bytes": (
        _download(good_rows()).replace(b"Teststad", "Tëststad".encode("latin-1")),
        "row 2",
        "not UTF-8",
    ),
    "UTF-16": (_download(good_rows()).decode("utf-8").encode("utf-16"), "row 1", "not UTF-8"),
    "a quote that never closes": (
        _download(good_rows()) + b'"' + b"x" * 200_000,
        "row 5",
        "not valid CSV",
    ),
    "a cell over the csv module's limit": (
        _download(good_rows()) + b'"' + b"x" * 200_000 + b'"\r\n',
        "row 5",
        "field larger than field limit",
    ),
    "a huge house number": (
        _with_cell(0, 9, "Proefstraat|" + "9" * 5000 + "||||1234AB|Teststad||"),
        "row 2, column J",
        "Huisnummer",
    ),
    "the header only, in commas": (
        b"ConversatieReferentienummer,Referentienummer\r\n",
        "row 1, column A",
        "semicolon",
    ),
}


@pytest.mark.parametrize("name", sorted(DOWNLOADS))
def test_a_hostile_download_is_refused_naming_row_and_column(tmp_path: Path, name: str) -> None:
    data, where, why = DOWNLOADS[name]
    path = tmp_path / "download.csv"
    path.write_bytes(data)
    _, error = guarded(
        "read_portal_download", lambda: read_portal_download(path), (PortalCsvError,)
    )
    assert isinstance(error, PortalCsvError), f"{name} was accepted"
    assert any(e.startswith(where) and why in e for e in error.errors), error.errors


@pytest.mark.parametrize(
    ("amount", "why"),
    [
        ("9" * 13 + ",00", "at most 12 digits"),
        ("1" + "0" * 5000 + ",50", "at most 12 digits"),
        ("-" + "9" * 40, "at most 12 digits"),
        ("1E+999999", "decimal comma"),
        ("1.234,50", "decimal comma"),
    ],
)
def test_an_absurd_amount_is_refused_not_a_crash(tmp_path: Path, amount: str, why: str) -> None:
    """An amount of 27 digits or more once escaped as decimal.InvalidOperation."""
    path = tmp_path / "answers.csv"
    path.write_bytes(_answers(tmp_path).replace(b"1234,50", amount.encode(), 1))
    _, error = guarded("read_answer_csv", lambda: read_answer_csv(path), (PortalCsvError,))
    assert isinstance(error, PortalCsvError)
    assert any(e.startswith("row 2, column V") and why in e for e in error.errors), error.errors


def test_an_oversize_file_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "download.csv"
    with path.open("wb") as stream:
        stream.truncate(MAX_BYTES + 1)

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was opened")

    monkeypatch.setattr(Path, "open", no_reading)
    _, error = guarded(
        "read_portal_download", lambda: read_portal_download(path), (PortalCsvError,)
    )
    assert error is not None and "the limit is" in str(error)
    _, error = guarded("read_answer_csv", lambda: read_answer_csv(path), (PortalCsvError,))
    assert error is not None and "the limit is" in str(error)


@pytest.mark.parametrize("name", ["download.txt", "download.csv.exe", "download", ".csv"])
def test_a_file_that_is_not_csv_by_name_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(_download(good_rows()))
    _, error = guarded(
        "read_portal_download", lambda: read_portal_download(path), (PortalCsvError,)
    )
    assert error is not None and "only .csv files" in str(error)
