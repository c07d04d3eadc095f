"""Fuzzing the portal CSV importers: ``read_portal_download`` and ``read_answer_csv``.

Real files, in a directory of the session's tmp_path_factory. The property: each read
returns valid requests or answer pairs, or raises PortalCsvError whose every error names a
row (or the file, for its name and size), within 2 s. Never another exception, never a hang.
An accepted download row must also make a Saldoverzoek that encodes (its XSD included).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skn_connector.wire.portal_csv import (
    PortalCsvError,
    PortalRequest,
    read_answer_csv,
    read_portal_download,
    saldoverzoek_from_portal,
    write_answer_csv,
)
from skn_connector.wire.soap import decode_message, encode_message

from ..factories import CREDITOR, SHV
from ..test_portal_csv import DOCUMENTED_A_TO_V, example_pairs, good_rows
from .harness import guarded, hostile_settings
from .strategies import (
    csv_rendering,
    csv_rows,
    damaged_bytes,
    mutate_table,
    render_table,
    table_mutation,
)

#: Where an error points: a row (and a column), or the file as a whole (name, size).
LOCATED = re.compile(
    r"^(row \d+|only \.csv files|the file is \d+ bytes|the file is over|and \d+ more errors?$)"
)
PLAIN = {"quoting": "minimal", "newline": "\r\n", "bom": "\ufeff", "encoding": "utf-8"}


@pytest.fixture(scope="session")
def csv_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-csv")


@functools.cache
def download_table() -> tuple[tuple[str, ...], ...]:
    rows = [DOCUMENTED_A_TO_V, *(row + [""] * 11 for row in good_rows())]
    return tuple(tuple(row) for row in rows)


@functools.cache
def answer_file(directory: Path) -> bytes:
    path = directory / "base-answer.csv"
    write_answer_csv(example_pairs(), path)
    return path.read_bytes()


@functools.cache
def download_file() -> bytes:
    rows = [list(row) for row in download_table()]
    return render_table(rows, {**PLAIN, "delimiter": ";", "tail": b""})


def _write(directory: Path, data: bytes, suffix: str = ".csv") -> Path:
    path = directory / f"upload{suffix}"
    path.write_bytes(data)
    return path


def _located(error: BaseException) -> None:
    errors = getattr(error, "errors", [])
    assert all(LOCATED.match(e) for e in errors), errors


def check_download(path: Path) -> None:
    requests, error = guarded(
        "read_portal_download", lambda: read_portal_download(path), (PortalCsvError,)
    )
    if error is not None:
        _located(error)
        return
    assert requests is not None
    for request in requests:
        assert isinstance(request, PortalRequest) and request.row >= 2
        message = saldoverzoek_from_portal(request, ontvanger=CREDITOR, afzender=SHV)
        assert decode_message(encode_message(message)) == message


def check_answers(path: Path) -> None:
    pairs, error = guarded("read_answer_csv", lambda: read_answer_csv(path), (PortalCsvError,))
    if error is not None:
        _located(error)
        return
    assert pairs is not None
    for question, answer in pairs:
        assert isinstance(question, dict) and isinstance(answer, dict)
        assert "Berichtheader" not in question and "Berichtheader" not in answer


@hostile_settings(1.5)
@given(st.lists(table_mutation, min_size=1, max_size=6), csv_rendering)
def test_read_portal_download_survives_mutated_files(
    csv_dir: Path, mutations: list[tuple[Any, ...]], rendering: dict[str, Any]
) -> None:
    rows = mutate_table([list(r) for r in download_table()], mutations)
    check_download(_write(csv_dir, render_table(rows, rendering), rendering["suffix"]))


@hostile_settings(1.5)
@given(st.lists(table_mutation, min_size=1, max_size=6), csv_rendering)
def test_read_answer_csv_survives_mutated_files(
    csv_dir: Path, mutations: list[tuple[Any, ...]], rendering: dict[str, Any]
) -> None:
    rows = mutate_table(csv_rows(answer_file(csv_dir)), mutations)
    check_answers(_write(csv_dir, render_table(rows, rendering), rendering["suffix"]))


@hostile_settings(1.0)
@given(st.data())
def test_the_importers_survive_damaged_bytes(csv_dir: Path, data: st.DataObject) -> None:
    bases = (download_file(), answer_file(csv_dir))
    damaged = data.draw(damaged_bytes(st.sampled_from(bases)))
    path = _write(csv_dir, damaged)
    check_download(path)
    check_answers(path)
