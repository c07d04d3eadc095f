"""The codec's fast paths (issue 3) give what the plain ways give.

Each shortcut taken for speed is checked against the slower, obvious way it replaces:
the one-pass tree-to-dict conversion against the recursive one, the written XML against
the tree json_to_xml builds of the same JSON, the elfproef against python-stdnum, the
amount text against '.2f', and the parser's byte checks with and without their shortcuts.
"""

from __future__ import annotations

import random
import threading
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from stdnum.nl import bsn as stdnum_bsn

from skn_connector.messages.common import elfproef, format_amount
from skn_connector.wire import soap
from skn_connector.wire.profile import LIST_ITEM_NAMES, MESSAGE_NS

from .factories import elfproef_bsn

# -- the elfproef and the amounts ---------------------------------------------------------------


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_elfproef_agrees_with_stdnum(number: str) -> None:
    assert elfproef(number) == stdnum_bsn.is_valid(number)


@pytest.mark.parametrize(
    "number",
    ["000000000", "123456782", "111222333", "١٢٣٤٥٦٧٨٢", "12345678", "1234567890", " 23456782"],
)
def test_elfproef_edge_cases_agree_with_stdnum(number: str) -> None:
    # stdnum cleans spaces and pads short numbers; the catalog's rule asks for 9 digits first
    expected = stdnum_bsn.is_valid(number) and len(number) == 9 and number.isdigit()
    assert elfproef(number) == expected


def test_elfproef_accepts_every_synthetic_bsn_and_agrees_on_a_sample() -> None:
    assert all(elfproef(elfproef_bsn(seed)) for seed in range(200))
    draw = random.Random(3)
    for _ in range(20_000):
        number = f"{draw.randrange(10**9):09d}"
        assert elfproef(number) == stdnum_bsn.is_valid(number), number


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_format_amount_writes_what_two_decimal_formatting_writes(value: Decimal) -> None:
    assert format_amount(value) == f"{value:.2f}"


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=2))
def test_format_amount_of_validated_amounts(value: Decimal) -> None:
    quantized = value.quantize(Decimal("0.01"))
    assert format_amount(quantized) == f"{quantized:.2f}" == str(quantized)


# -- tree to dict ---------------------------------------------------------------------------------

_NAMES = ("Naam", "Vorderingen", "Vordering", "Factuurnummers", "Factuurnummer", "Bedrag")
_NAMESPACES = (MESSAGE_NS, MESSAGE_NS, "urn:other", None)
_TEXTS = (None, "", " ", "x", "a & b", "\n  ")


def _tree(draw: st.DrawFn, parent: Any, depth: int) -> None:
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.integers(0, 19))
        if kind == 0:
            parent.append(etree.Comment("c"))
            continue
        if kind == 1:
            parent.append(etree.ProcessingInstruction("pi", "x"))
            continue
        namespace = draw(st.sampled_from(_NAMESPACES))
        name = draw(st.sampled_from(_NAMES))
        child = etree.SubElement(parent, f"{{{namespace}}}{name}" if namespace else name)
        child.text = draw(st.sampled_from(_TEXTS))
        if depth < 4 and draw(st.booleans()):
            _tree(draw, child, depth + 1)
        child.tail = draw(st.sampled_from((None, "\n")))


@st.composite
def trees(draw: st.DrawFn) -> Any:
    root = etree.Element(f"{{{MESSAGE_NS}}}{draw(st.sampled_from(('Bericht', 'Vorderingen')))}")
    _tree(draw, root, 0)
    return root


@settings(max_examples=400)
@given(trees())
def test_xml_to_json_gives_what_the_recursive_conversion_gives(root: Any) -> None:
    expected = soap._element_to_value(root)
    if isinstance(expected, dict):
        assert soap.xml_to_json(root) == expected
    else:
        with pytest.raises(soap.DecodeError, match="the message has no elements"):
            soap.xml_to_json(root)


def test_xml_to_json_takes_a_parsed_message_in_one_pass() -> None:
    data = (
        f'<Bericht xmlns="{MESSAGE_NS}"><Kop><Id>1</Id></Kop><Vorderingen>'
        "<Vordering><Nr>A</Nr></Vordering><Vordering><Nr>B</Nr></Vordering></Vorderingen>"
        "<Factuurnummers/><Leeg/></Bericht>"
    )
    root = soap.parse_xml(data.encode())
    assert soap._walk(root) == {
        "Kop": {"Id": "1"},
        "Vorderingen": [{"Nr": "A"}, {"Nr": "B"}],
        "Factuurnummers": [],
        "Leeg": "",
    }
    assert soap.xml_to_json(root) == soap._element_to_value(root)


# -- JSON to bytes --------------------------------------------------------------------------------

_SCALARS = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn")), max_size=8),
    st.sampled_from(("a & b < c > d", "carriage\rreturn", "tab\tand\nnewline")),
    st.booleans(),
    st.integers(-5, 5),
    st.decimals(places=2, allow_nan=False, allow_infinity=False),
)
_KEYS = st.sampled_from(("Naam", "Bedrag", "Vorderingen", "Factuurnummers", "Adres", "Status"))


def _json(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts nested ``depth`` deep; the list names (Vorderingen, ...) hold lists of items."""
    value: st.SearchStrategy[Any] = (
        _SCALARS if depth == 0 else st.one_of(_SCALARS, _json(depth - 1))
    )
    items = st.lists(value, max_size=3)
    return st.dictionaries(_KEYS, value, max_size=4).flatmap(
        lambda fields: st.fixed_dictionaries(
            {key: items if key in LIST_ITEM_NAMES else st.just(sub) for key, sub in fields.items()}
        )
    )


@settings(max_examples=300)
@given(_json(3))
def test_json_to_bytes_writes_the_document_json_to_xml_builds(data: dict[str, Any]) -> None:
    written = soap.json_to_bytes("Bericht", data)
    assert written.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n")
    # the same document (canonical XML: lxml may write an empty element as <X/>)
    built = soap.json_to_xml("Bericht", data)
    assert etree.tostring(etree.fromstring(written), method="c14n") == etree.tostring(
        built, method="c14n"
    )


# -- the parser's byte checks and the reused parsers ----------------------------------------------


@pytest.mark.parametrize("declaration", soap._PLAIN_DECLARATIONS)
def test_the_plain_declarations_pass_the_full_encoding_check(
    declaration: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = declaration + b"\n<Bericht/>"
    assert soap._encoding_problem(head) is None
    monkeypatch.setattr(soap, "_PLAIN_DECLARATIONS", ())
    assert soap._encoding_problem(head) is None


@pytest.mark.parametrize("codec", ["utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize("mark", ["<!DOCTYPE a>", '<!ENTITY e "x">'])
def test_a_dtd_mark_is_refused_in_each_width(codec: str, mark: str) -> None:
    data = f"{mark}<a>text</a>".encode(codec)
    assert soap._DTD_MARK_BYTE in data
    with pytest.raises(soap.WireError, match="DTD"):
        soap.parse_xml(data)


def test_bytes_with_an_exclamation_mark_but_no_dtd_still_parse() -> None:
    root = soap.parse_xml(b"<?xml version='1.0' encoding='UTF-8'?>\n<a>Hallo!<!-- c --></a>")
    assert root.text == "Hallo!"


def test_a_parser_is_reused_within_a_thread_and_survives_a_refused_document() -> None:
    assert soap._parser() is soap._parser()
    assert soap._parser(huge_text=True) is not soap._parser()
    with pytest.raises(soap.WireError, match="not well-formed"):
        soap.parse_xml(b"<a><b></a>")
    assert soap.parse_xml(b"<a><b>ok</b></a>")[0].text == "ok"


def test_each_thread_has_its_own_parsers_and_parses_correctly() -> None:
    parsers: list[Any] = []
    failures: list[str] = []

    def work(index: int) -> None:
        parsers.append(soap._parser())
        for round_ in range(200):
            text = f"t{index}-{round_}"
            root = soap.parse_xml(f"<a><b>{text}</b></a>".encode())
            if root[0].text != text:
                failures.append(text)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert len({id(parser) for parser in parsers}) == 4
