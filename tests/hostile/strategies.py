"""Hypothesis strategies for hostile input: valid documents from tests/factories, mutated.

XML: a valid message (any Berichttype of the catalog) is parsed into a tree and mutated
(elements deleted, duplicated, renamed, moved, wrapped, unwrapped; leaves and attributes
given random text, wrong types, huge numbers, unicode with surrogates, control characters
and RTL marks; namespaces changed and re-prefixed; CDATA, comments, processing instructions,
entity and character references injected), then serialised and given another prolog
(declarations of other encodings, BOMs, transcoding, trailing garbage). Text that lxml will
not hold (control characters, lone surrogates, markup) goes in as raw bytes through
markers replaced after serialisation.

CSV: a valid portal download or answer file as a table of cells, mutated by cell, part,
row and column, then rendered with other quoting, line ends, BOMs and encodings.

Raw bytes: random bytes, truncated valid documents, bit flips and splices.
"""

from __future__ import annotations

import base64
import copy
import csv
import functools
import io
from importlib import resources
from typing import Any

from hypothesis import strategies as st
from lxml import etree

from skn_connector.messages import message_from_json
from skn_connector.wire.profile import MESSAGE_NS, SERVICE_NS, SOAP_ENV_NS
from skn_connector.wire.soap import encode_message

from ..factories import FACTORIES

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XINCLUDE_NS = "http://www.w3.org/2001/XInclude"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
FIXED_IDS = {
    "Referentienummer": "3f1c6a52-8a43-4f8e-9d55-0c2b9a7e6d11",
    "ConversatieReferentienummer": "7d2e9b14-61c0-4a3f-8e27-5b9d0c4a2f33",
}

# -- the valid starting points ------------------------------------------------------------


@functools.cache
def valid_messages() -> dict[str, bytes]:
    """The encoded bytes of one valid message per Berichttype (fixed ids: reproducible)."""
    return {
        name: encode_message(message_from_json(factory(**FIXED_IDS)))
        for name, factory in sorted(FACTORIES.items())
    }


@functools.cache
def element_names() -> tuple[str, ...]:
    """Every element name the XSDs declare: realistic names to rename to."""
    names: set[str] = set()
    xsd_dir = resources.files("skn_connector.wire") / "xsd"
    for entry in xsd_dir.iterdir():
        if entry.name.endswith(".xsd"):
            tree = etree.fromstring(entry.read_bytes())
            names.update(e.get("name") for e in tree.iter("{*}element") if e.get("name"))
    return tuple(sorted(names))


valid_message = st.sampled_from(sorted(valid_messages())).map(lambda n: valid_messages()[n])

# -- text: hostile characters, wrong types, huge numbers ----------------------------------

HOSTILE_CHARACTERS = (
    "\x00",
    "\x01",
    "\x08",
    "\x0b",
    "\x0c",
    "\x1b",
    "\x1f",
    "\x7f",
    "\x85",
    "\xa0",
    "\u200b",
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202e",
    "\u2066",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\ufffe",
    "\uffff",
    "\ud800",
    "\udbff",
    "\udc00",
    "\udfff",
    "\U0001f600",
    "\U0010ffff",
    "\u0301",
    "\uff11",
    "\u0661",
    "\u0966",
    "&",
    "<",
    ">",
    '"',
    "'",
    "]]>",
    "\r",
    "\r\n",
    "\t",
)

WRONG_VALUES = (
    "",
    " ",
    "\n\t ",
    "abc",
    "-1",
    "0",
    "-0",
    "+1",
    "1.5",
    "1,5",
    "1e5",
    "1E+999999",
    "NaN",
    "-INF",
    "Infinity",
    "0x1F",
    "true",
    "false",
    "TRUE",
    "null",
    "None",
    "2026-02-30",
    "2026-13-01",
    "0000-01-01",
    "9999-12-31",
    "-2026-01-01",
    "2026-11-27T25:61:61Z",
    "2026-11-27T09:30:00+25:00",
    "00000000-0000-0000-0000-000000000000",
    "{3f1c6a52-8a43-4f8e-9d55-0c2b9a7e6d11}",
    "urn:uuid:3f1c6a52-8a43-4f8e-9d55-0c2b9a7e6d11",
    "3F1C6A52-8A43-4F8E-9D55-0C2B9A7E6D11",
    "123456789",
    "000000000",
    "1234 AB",
    "0123AB",
    "%s%s%n",
    "${jndi:ldap://127.0.0.1/a}",
    "'; DROP TABLE inbox; --",
    "../../../../etc/passwd",
)

characters = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
hostile_text = st.one_of(
    st.sampled_from(WRONG_VALUES),
    st.lists(st.sampled_from(HOSTILE_CHARACTERS), min_size=1, max_size=6).map("".join),
    st.text(characters, max_size=40),
    st.integers(min_value=-(10**400), max_value=10**400).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.builds(lambda n, c: c * n, st.sampled_from([65, 256, 1001, 5000, 70_000]), st.just("x")),
    st.builds(lambda n: "9" * n, st.sampled_from([15, 29, 400, 4301, 10_000])),
)


def _escape(text: str, attribute: bool = False) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;") if attribute else text


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


SNIPPETS = (
    b"<![CDATA[x]]>",
    b"<![CDATA[<Klant>&amp;]]>",
    b"<![CDATA[",
    b"]]>",
    b"<!-- a comment -->",
    b"<!-- -- -->",
    b"<!--",
    b"<?pi data?>",
    b"<?xml version='1.0'?>",
    b"<?xml-stylesheet href='http://127.0.0.1:9/x.xsl'?>",
    b"&amp;",
    b"&lt;&gt;&quot;&apos;",
    b"&xxe;",
    b"&#0;",
    b"&#x1;",
    b"&#xD800;",
    b"&#x110000;",
    b"&#xFFFE;",
    b"&#65;",
    b"&#x202E;",
    b"&#99999999999999999999;",
    b"<x/>",
    b"</Klant>",
    b"<Klant>",
    b"<a:b/>",
    b"<!DOCTYPE x>",
    b"<!ENTITY a 'b'>",
    b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" '
    b'parse="text"/>',
    b"\x00",
    b"\xff\xfe",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xc0\xaf",
    b"\xef\xbb\xbf",
)

#: Raw bytes for the text of an element: escaped text, unescaped text, snippets, raw bytes.
leaf_bytes = st.one_of(
    hostile_text.map(lambda t: _raw(_escape(t))),
    hostile_text.map(_raw),
    st.sampled_from(SNIPPETS),
    st.lists(st.sampled_from(SNIPPETS), min_size=2, max_size=4).map(b"".join),
    st.integers(0, 0x11_0000).map(lambda cp: b"&#x%X;" % cp),
    st.binary(max_size=24),
)
attribute_bytes = st.one_of(
    hostile_text.map(lambda t: _raw(_escape(t, attribute=True))),
    st.sampled_from((b"", b"true", b"1", b"<", b"&xxe;", b'"', b"\x00", b"\xff")),
)
RAW_ATTRIBUTES = (
    b'xmlns=""',
    b'xmlns="urn:example:other"',
    b'xmlns="' + MESSAGE_NS.encode() + b'"',
    b'xmlns:p="urn:example:other"',
    b'xmlns:xsi="' + XSI_NS.encode() + b'" xsi:nil="true"',
    b'xmlns:xsi="' + XSI_NS.encode() + b'" xsi:type="xs:string"',
    b'xmlns:xsi="' + XSI_NS.encode() + b'" xsi:schemaLocation="urn:x http://127.0.0.1:9/x.xsd"',
    b'xml:lang="nl"',
    b'xml:space="preserve"',
    b'xml:base="file:///etc/"',
    b'a="1" a="2"',
    b'p:a="1"',
    b"a=unquoted",
    b'xmlns:p=""',
    b'xmlns:xml="urn:wrong"',
)

name_strategy = st.one_of(
    st.sampled_from(element_names()),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,15}", fullmatch=True),
    st.sampled_from(("Envelope", "Body", "Fault", "include", "Berichtheader", "x")),
)
namespace_strategy = st.sampled_from(
    (
        MESSAGE_NS,
        "",
        "urn:example:other",
        MESSAGE_NS.upper(),
        MESSAGE_NS + " ",
        "urn:skn-connector:berichten:1.0",
        SOAP_ENV_NS,
        SERVICE_NS,
        XSI_NS,
        XINCLUDE_NS,
    )
)
ENCODINGS = (
    "UTF-8",
    "utf-8",
    "UTF-16",
    "UTF-16LE",
    "UTF-16BE",
    "UTF-32",
    "ISO-8859-1",
    "latin-1",
    "windows-1252",
    "US-ASCII",
    "IBM037",
    "UCS-2",
    "x-bogus",
    "",
    "UTF-7",
    "HZ",
    "ISO-2022-JP",
    "JAVA",
    "Shift_JIS",
)
BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")

# -- tree mutations -----------------------------------------------------------------------

index = st.integers(min_value=0, max_value=10_000)
tree_mutation = st.one_of(
    st.tuples(st.just("delete"), index),
    st.tuples(st.just("duplicate"), index),
    st.tuples(st.just("rename"), index, name_strategy, st.booleans()),
    st.tuples(st.just("namespace"), index, namespace_strategy),
    st.tuples(st.just("text"), index, leaf_bytes, st.booleans()),
    st.tuples(st.just("tail"), index, leaf_bytes),
    st.tuples(st.just("attribute"), index, name_strategy, attribute_bytes),
    st.tuples(st.just("raw_attribute"), index, st.sampled_from(RAW_ATTRIBUTES)),
    st.tuples(st.just("move"), index, index),
    st.tuples(st.just("swap"), index, index),
    st.tuples(st.just("wrap"), index, name_strategy),
    st.tuples(st.just("unwrap"), index),
    st.tuples(st.just("cdata"), index),
    st.tuples(st.just("reprefix"), st.sampled_from(("p", "skn", "xsi", "soap", "a1"))),
)
prolog = st.one_of(
    st.just(("keep",)),
    st.just(("strip",)),
    st.tuples(st.just("declare"), st.sampled_from(ENCODINGS), st.sampled_from(("1.0", "1.1"))),
    st.tuples(st.just("transcode"), st.sampled_from(ENCODINGS[:12]), st.booleans()),
    st.tuples(st.just("bom"), st.sampled_from(BOMS)),
    st.tuples(
        st.just("prefix"),
        st.sampled_from((b" ", b"\n\n", b"x", b"\x00", b"<?xml version='1.0'?>", b"<!---->")),
    ),
    st.tuples(
        st.just("suffix"),
        st.sampled_from((b"\n", b"<x/>", b"text", b"\x00", b"<!---->", b"<?pi?>", b"]]>")),
    ),
)


def _safe_parser() -> etree.XMLParser:
    """The strategies' own parser: no entities, no network, no DTD."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


class _Markers:
    """Raw bytes to put in place of ASCII markers once the tree is serialised."""

    def __init__(self) -> None:
        self.raw: dict[bytes, bytes] = {}

    def new(self, raw: bytes) -> str:
        marker = f"HOSTILEMARK{len(self.raw)}X"
        self.raw[marker.encode()] = raw
        return marker

    def apply(self, data: bytes) -> bytes:
        for marker, raw in self.raw.items():
            data = data.replace(marker, raw)
        return data


def _elements(root: Any) -> list[Any]:
    return [e for e in root.iter() if isinstance(e.tag, str)]


def _tag(element: Any, name: str, keep_namespace: bool) -> str:
    namespace = etree.QName(element).namespace if keep_namespace else None
    return f"{{{namespace}}}{name}" if namespace else name


def _mutate(root: Any, mutation: tuple[Any, ...], markers: _Markers) -> Any:
    """Apply one mutation; returns the (possibly new) root."""
    kind = mutation[0]
    if kind == "reprefix":
        namespace = etree.QName(root).namespace or MESSAGE_NS
        nsmap = {mutation[1]: namespace, "o": "urn:example:unused"}
        new = etree.Element(root.tag, nsmap=nsmap)
        new.text = root.text
        for key, value in root.attrib.items():
            new.set(key, value)
        new.extend(list(root))
        return new
    elements = _elements(root)
    target = elements[mutation[1] % len(elements)]
    parent = target.getparent()
    if kind == "delete" and parent is not None:
        parent.remove(target)
    elif kind == "duplicate" and parent is not None:
        target.addnext(copy.deepcopy(target))
    elif kind == "rename":
        target.tag = _tag(target, mutation[2], mutation[3])
    elif kind == "namespace":
        name = etree.QName(target).localname
        target.tag = f"{{{mutation[2]}}}{name}" if mutation[2] else name
    elif kind == "text":
        if mutation[3]:
            for child in list(target):
                target.remove(child)
        target.text = markers.new(mutation[2])
    elif kind == "tail" and parent is not None:
        target.tail = markers.new(mutation[2])
    elif kind == "attribute":
        target.set(mutation[2], markers.new(mutation[3]))
    elif kind == "raw_attribute":
        marker = markers.new(mutation[2])
        target.set(marker, "")
        markers.raw[f'{marker}=""'.encode()] = markers.raw.pop(marker.encode())
    elif kind == "move":
        destination = elements[mutation[2] % len(elements)]
        if parent is not None and target not in [*destination.iterancestors(), destination]:
            destination.append(target)
    elif kind == "swap":
        other = elements[mutation[2] % len(elements)]
        target.text, other.text = other.text, target.text
        if parent is not None and other.getparent() is parent and other is not target:
            a, b = parent.index(target), parent.index(other)
            parent[a], parent[b] = copy.deepcopy(other), copy.deepcopy(target)
    elif kind == "wrap" and parent is not None:
        wrapper = etree.Element(_tag(target, mutation[2], True))
        target.addprevious(wrapper)
        wrapper.append(target)
    elif kind == "unwrap" and parent is not None:
        position = parent.index(target)
        for offset, child in enumerate(list(target)):
            parent.insert(position + 1 + offset, child)
        parent.remove(target)
    elif kind == "cdata" and len(target) == 0 and target.text:
        target.text = etree.CDATA(target.text)
    return root


def _apply_prolog(data: bytes, choice: tuple[Any, ...]) -> bytes:
    body = data.split(b"?>", 1)[1].lstrip() if data.startswith(b"<?xml") else data
    kind = choice[0]
    if kind == "strip":
        return body
    if kind == "declare":
        encoding = f" encoding='{choice[1]}'" if choice[1] else ""
        return f"<?xml version='{choice[2]}'{encoding}?>\n".encode() + body
    if kind == "transcode":
        codec = {"UCS-2": "utf-16", "IBM037": "cp037", "US-ASCII": "ascii"}.get(
            choice[1], choice[1]
        )
        declared = f"<?xml version='1.0' encoding='{choice[1]}'?>\n" if choice[2] else ""
        text = declared + body.decode("utf-8", "surrogateescape")
        try:
            return text.encode(codec, "surrogateescape")
        except UnicodeError:
            return text.encode(codec, "replace")
    if kind == "bom":
        return choice[1] + data
    if kind == "prefix":
        return choice[1] + data
    if kind == "suffix":
        return data + choice[1]
    return data


def mutate_document(
    data: bytes, mutations: list[tuple[Any, ...]], choice: tuple[Any, ...]
) -> bytes:
    """Parse ``data`` (built by these strategies), mutate, serialise, re-prolog."""
    root = etree.fromstring(data, parser=_safe_parser())
    markers = _Markers()
    for mutation in mutations:
        try:
            root = _mutate(root, mutation, markers)
        except (ValueError, TypeError):
            continue  # lxml refused to build this (an invalid name, say): not a case
    out = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return _apply_prolog(markers.apply(out), choice)


@st.composite
def mutated_message(draw: st.DrawFn) -> bytes:
    """A valid message with 1 to 6 mutations and a prolog change."""
    base = draw(valid_message)
    mutations = draw(st.lists(tree_mutation, min_size=1, max_size=6))
    return mutate_document(base, mutations, draw(prolog))


# -- raw bytes ------------------------------------------------------------------------------


@st.composite
def damaged_bytes(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    """Random bytes, or ``base`` truncated, bit-flipped or spliced."""
    kind = draw(st.sampled_from(("random", "truncate", "flip", "splice", "text")))
    if kind == "random":
        return draw(st.binary(max_size=2048))
    if kind == "text":
        return _raw(draw(st.text(characters, max_size=300)))
    data = bytearray(draw(base))
    if kind == "truncate":
        return bytes(data[: draw(st.integers(0, max(0, len(data) - 1)))])
    if kind == "flip":
        for position in draw(st.lists(st.integers(0, len(data) * 8 - 1), min_size=1, max_size=8)):
            data[position // 8] ^= 1 << (position % 8)
        return bytes(data)
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(data)))
        end = draw(st.integers(start, min(len(data), start + 64)))
        action = draw(st.sampled_from(("delete", "duplicate", "insert")))
        if action == "delete":
            del data[start:end]
        elif action == "duplicate":
            data[start:start] = data[start:end]
        else:
            data[start:start] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


# -- SOAP envelopes -------------------------------------------------------------------------


def _strip_declaration(data: bytes) -> bytes:
    return data.split(b"?>", 1)[1].lstrip() if data.startswith(b"<?xml") else data


fault_part = st.one_of(
    st.none(),
    leaf_bytes,
    st.sampled_from((b"soap:Client", b"soap:Server", b"Client", b":", b"soap:", b"a:b:c", b"")),
)


@st.composite
def body_child(draw: st.DrawFn) -> bytes:
    kind = draw(
        st.sampled_from(("message", "mutated", "answer", "fault", "empty", "text", "snippet"))
    )
    if kind == "message":
        return _strip_declaration(draw(valid_message))
    if kind == "mutated":
        return _strip_declaration(draw(mutated_message()))
    if kind == "answer":
        content = draw(
            st.one_of(
                valid_message.map(lambda d: base64.b64encode(d)),
                st.binary(max_size=64).map(base64.b64encode),
                leaf_bytes,
            )
        )
        return (
            b'<b:BerichtAntwoord xmlns:b="'
            + SERVICE_NS.encode()
            + b'"><b:Id>'
            + str(draw(st.uuids())).encode()
            + b"</b:Id><b:Inhoud>"
            + content
            + b"</b:Inhoud></b:BerichtAntwoord>"
        )
    if kind == "fault":
        prefix = draw(st.sampled_from((b"soap:", b"s12:", b"")))
        code, reason, detail = draw(fault_part), draw(fault_part), draw(fault_part)
        parts = b""
        if code is not None:
            parts += b"<faultcode>" + code + b"</faultcode>"
        if reason is not None:
            parts += b"<faultstring>" + reason + b"</faultstring>"
        if detail is not None:
            parts += b"<detail>" + detail + b"</detail>"
        return (
            b"<"
            + prefix
            + b"Fault"
            + b' xmlns:s12="'
            + SOAP12_NS.encode()
            + b'">'
            + parts
            + b"</"
            + prefix
            + b"Fault>"
        )
    if kind == "empty":
        return b"<x/>"
    if kind == "text":
        return draw(leaf_bytes)
    return draw(st.sampled_from(SNIPPETS))


@st.composite
def envelope_document(draw: st.DrawFn) -> bytes:
    """A SOAP envelope of any shape: namespaces, prefixes, 0–3 bodies of 0–3 children."""
    namespace = draw(st.sampled_from((SOAP_ENV_NS, SOAP_ENV_NS, SOAP12_NS, "", "urn:other")))
    prefix = draw(st.sampled_from(("soap", "s", "SOAP-ENV", "")))
    p = f"{prefix}:" if prefix else ""
    declaration = f' xmlns:{prefix}="{namespace}"' if prefix else f' xmlns="{namespace}"'
    if not namespace and not prefix:
        declaration = ""
    elif not namespace:
        declaration = ""
        p = ""
    header = b""
    if draw(st.booleans()):
        header = (
            f"<{p}Header>".encode()
            + draw(st.sampled_from((b"", b"<x/>")))
            + (f"</{p}Header>".encode())
        )
    bodies = []
    counts = draw(st.lists(st.integers(0, 3), min_size=0, max_size=3))
    for count in counts or [1]:
        children = b"".join(draw(body_child()) for _ in range(count))
        bodies.append(f"<{p}Body>".encode() + children + f"</{p}Body>".encode())
    if not counts and draw(st.booleans()):
        bodies = []
    trailer = draw(st.sampled_from((b"", b"<x/>", b"text")))
    data = (
        b"<?xml version='1.0' encoding='UTF-8'?>"
        + f"<{p}Envelope{declaration}>".encode()
        + header
        + b"".join(bodies)
        + trailer
        + f"</{p}Envelope>".encode()
    )
    if draw(st.booleans()):
        try:
            etree.fromstring(data, parser=_safe_parser())
        except etree.XMLSyntaxError:
            return data
        mutations = draw(st.lists(tree_mutation, min_size=1, max_size=4))
        return mutate_document(data, mutations, draw(prolog))
    return data


# -- CSV --------------------------------------------------------------------------------------

CSV_VALUES = (
    "",
    " ",
    "Ja",
    "ja",
    "JA",
    "Ja ",
    "Nee",
    "x",
    "|",
    "||||||||||",
    "a|b|c|d|e|f|g|h|i|j|k",
    ";",
    '"',
    '""',
    '"a"b',
    "\n",
    "\r",
    "\x00",
    "=1+1",
    "@SUM(A1)",
    "+31",
    "-0",
    "1.234,50",
    "1,234.50",
    "0,001",
    ",5",
    "5,",
    "1e5",
    "١٢٣٤,٥٠",
    "１２３",
    "9" * 27,
    "9" * 40 + ",99",
    "-" + "9" * 30,
    "31-02-2026",
    "29-02-2100",
    "00-00-0000",
    "1-1-0",
    "99-99-99999",
    "٢٩-٠٢-١٩٨٠",
    "2026-11-30",
    "30-11-2026 10:00",
    "00000000-0000-0000-0000-000000000000",
    "{7d2e9b14-61c0-4a3f-8e27-5b9d0c4a2f33}",
    "7D2E9B14-61C0-4A3F-8E27-5B9D0C4A2F33",
    "V|T.|Tessa||Testpersoon|29-02-1980|123456789",
    "V|T.|Tessa||Testpersoon|29-02-1980|111222333|extra",
    "Proefstraat|0|||||0000AA|Teststad||",
    "Proefstraat|" + "9" * 5000 + "||||1234AB|Teststad||",
    "openstaande schuld",
    "onbekende schuld bij SE",
    "overgedragen schuld",
    "SK",
    "SB",
    "WSNP",
)
csv_cell = st.one_of(
    st.sampled_from(CSV_VALUES),
    hostile_text,
    st.text(characters.filter(lambda c: not 0xD800 <= ord(c) <= 0xDFFF), max_size=30),
)
row_index = st.integers(min_value=0, max_value=10_000)
col_index = st.integers(min_value=0, max_value=40)
table_mutation = st.one_of(
    st.tuples(st.just("cell"), row_index, col_index, csv_cell),
    st.tuples(st.just("cell"), row_index, col_index, csv_cell),
    st.tuples(st.just("part"), row_index, col_index, st.integers(0, 10), csv_cell),
    st.tuples(st.just("delete_row"), row_index),
    st.tuples(st.just("duplicate_row"), row_index),
    st.tuples(st.just("blank_row"), row_index),
    st.tuples(st.just("delete_cell"), row_index, col_index),
    st.tuples(st.just("insert_cell"), row_index, col_index, csv_cell),
    st.tuples(st.just("truncate_row"), row_index, col_index),
    st.tuples(st.just("extend_row"), row_index, st.integers(1, 40), csv_cell),
    st.tuples(st.just("copy_cell"), row_index, row_index, col_index),
    st.tuples(st.just("swap_rows"), row_index, row_index),
)
csv_rendering = st.fixed_dictionaries(
    {
        "quoting": st.sampled_from(("minimal", "all", "none")),
        "newline": st.sampled_from(("\r\n", "\n", "\r")),
        "bom": st.sampled_from(("", "\ufeff", "\ufeff\ufeff")),
        "encoding": st.sampled_from(
            ("utf-8", "utf-8", "utf-8", "utf-16", "latin-1", "cp1252", "utf-8-surrogates")
        ),
        "delimiter": st.sampled_from((";", ";", ";", ",", "\t")),
        "suffix": st.sampled_from((".csv", ".csv", ".csv", ".CSV", ".txt", ".csv.bak", "")),
        "tail": st.sampled_from((b"", b"", b"\x00", b'"', b"\xff", b"\r\n\r\n")),
    }
)


def mutate_table(table: list[list[str]], mutations: list[tuple[Any, ...]]) -> list[list[str]]:
    rows = [list(row) for row in table]
    for mutation in mutations:
        if not rows:
            rows.append([])
        kind, r = mutation[0], mutation[1] % len(rows)
        row = rows[r]
        if kind == "cell":
            column = mutation[2]
            row.extend([""] * (column + 1 - len(row)))
            row[column] = mutation[3]
        elif kind == "part" and row:
            column = mutation[2] % len(row)
            parts = row[column].split("|")
            parts.extend([""] * (mutation[3] + 1 - len(parts)))
            parts[mutation[3]] = mutation[4]
            row[column] = "|".join(parts)
        elif kind == "delete_row":
            del rows[r]
        elif kind == "duplicate_row":
            rows.insert(r, list(row))
        elif kind == "blank_row":
            rows.insert(r, [])
        elif kind == "delete_cell" and row:
            del row[mutation[2] % len(row)]
        elif kind == "insert_cell":
            row.insert(mutation[2], mutation[3])
        elif kind == "truncate_row":
            del row[mutation[2] :]
        elif kind == "extend_row":
            row.extend([mutation[3]] * mutation[2])
        elif kind == "copy_cell":
            source = rows[mutation[2] % len(rows)]
            column = mutation[3]
            if column < len(source):
                row.extend([""] * (column + 1 - len(row)))
                row[column] = source[column]
        elif kind == "swap_rows":
            other = mutation[2] % len(rows)
            rows[r], rows[other] = rows[other], rows[r]
    return rows


def render_table(rows: list[list[str]], rendering: dict[str, Any]) -> bytes:
    """The bytes of a CSV file: quoting, line ends, BOM, encoding and a tail as drawn."""
    try:
        text = _render_text(rows, rendering)
    except csv.Error:
        text = _render_text(rows, {**rendering, "quoting": "none"})
    text = rendering["bom"] + text
    encoding = rendering["encoding"]
    if encoding == "utf-8-surrogates":
        data = text.encode("utf-8", "surrogatepass")
    else:
        data = text.encode(encoding, "replace")
    return bytes(data + rendering["tail"])


def _render_text(rows: list[list[str]], rendering: dict[str, Any]) -> str:
    if rendering["quoting"] == "none":
        text = rendering["newline"].join(rendering["delimiter"].join(r) for r in rows)
        text += rendering["newline"]
    else:
        buffer = io.StringIO(newline="")
        quoting = csv.QUOTE_ALL if rendering["quoting"] == "all" else csv.QUOTE_MINIMAL
        csv.writer(
            buffer,
            delimiter=rendering["delimiter"],
            lineterminator=rendering["newline"],
            quoting=quoting,
        ).writerows(rows)
        text = buffer.getvalue()
    return text


def csv_rows(data: bytes) -> list[list[str]]:
    """The table of a CSV file we wrote ourselves (trusted)."""
    text = data.decode("utf-8-sig")
    return [list(row) for row in csv.reader(io.StringIO(text, newline=""), delimiter=";")]
