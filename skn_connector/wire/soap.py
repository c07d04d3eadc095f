"""SOAP 1.1 envelopes and the message codec: bytes <-> typed messages.

Every byte from outside goes through ``parse_xml``: no DTDs, no entity
resolution, no network, a size limit. Outgoing messages are validated against
the XSDs in ``wire/xsd`` before they leave this module.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any, Final

from lxml import etree

from ..messages import CATALOG, Message, MessageError, message_from_json
from .profile import (
    LIST_ITEM_NAMES,
    MAX_ENVELOPE_BYTES,
    MAX_MESSAGE_BYTES,
    MESSAGE_NS,
    SOAP_ENV_NS,
)


class WireError(ValueError):
    """Bytes that cannot be read as what they claim to be; the text names the problem."""


class DecodeError(WireError):
    """An incoming message that cannot be accepted; ``errors`` name each problem."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


class SoapFault(Exception):
    """A SOAP Fault answered by the peer."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"{code}: {reason}")


def _new_parser(*, huge_text: bool) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        # an envelope carries a whole message as one base64 text node, which may pass
        # libxml2's 10 MB text limit; its size is capped before parsing (MAX_ENVELOPE_BYTES)
        huge_tree=huge_text,
        remove_comments=True,
        remove_pis=True,
    )


#: The parsers of this thread, by huge_text. A parser is built once per thread and reused
#: (lxml parsers must not be shared between threads; building one costs about as much as
#: parsing a small message). A parser keeps no state from one document to the next.
_PARSERS = threading.local()


def _parser(*, huge_text: bool = False) -> etree.XMLParser:
    cached: dict[bool, etree.XMLParser] | None = getattr(_PARSERS, "by_huge_text", None)
    if cached is None:
        cached = _PARSERS.by_huge_text = {}
    parser = cached.get(huge_text)
    if parser is None:
        parser = cached[huge_text] = _new_parser(huge_text=huge_text)
    return parser


#: '<!DOCTYPE' and '<!ENTITY' in each encoding the parser is let read (see _ACCEPTED): the
#: byte check must see a DTD in UTF-16 and UTF-32 too, not only in ASCII-compatible bytes.
_DTD_MARKS: Final = tuple(
    mark.encode(codec)
    for mark in ("<!DOCTYPE", "<!ENTITY")
    for codec in ("ascii", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)
#: Every mark holds the byte of '!' in each of these encodings: bytes without it hold no mark,
#: and the ten searches for the marks are skipped (one memchr instead of ten scans).
_DTD_MARK_BYTE: Final = b"!"
assert all(_DTD_MARK_BYTE in mark for mark in _DTD_MARKS)
#: Byte-order marks, the longer first (the UTF-32 LE mark starts with the UTF-16 LE one).
_BOMS: Final = (
    (b"\x00\x00\xfe\xff", "utf-32-be", "UTF-32"),
    (b"\xff\xfe\x00\x00", "utf-32-le", "UTF-32"),
    (b"\xef\xbb\xbf", "utf-8", "UTF-8"),
    (b"\xfe\xff", "utf-16-be", "UTF-16"),
    (b"\xff\xfe", "utf-16-le", "UTF-16"),
)
#: Without a mark, the bytes of '<?' show the character width (XML 1.0, appendix F.1).
_SIGNATURES: Final = (
    (b"\x00\x00\x00<", "utf-32-be", "UTF-32"),
    (b"<\x00\x00\x00", "utf-32-le", "UTF-32"),
    (b"\x00<\x00?", "utf-16-be", "UTF-16"),
    (b"<\x00?\x00", "utf-16-le", "UTF-16"),
)
#: The encodings a document may declare: UTF-8, -16 and -32, and the single-byte encodings
#: that keep ASCII as it is. libxml2 (through iconv) reads many more, among them UTF-7, HZ,
#: ISO-2022 and JAVA, in which '<!DOCTYPE' need not be those bytes: they would pass the
#: byte check above.
_ACCEPTED: Final = (
    ("UTF-8", re.compile(r"utf8")),
    ("UTF-16", re.compile(r"utf16(le|be)?|ucs2")),
    ("UTF-32", re.compile(r"utf32(le|be)?|ucs4")),
    ("", re.compile(r"(us)?ascii|iso8859\d{1,2}|latin\d{1,2}|(windows|cp)125\d")),
)
#: The declaration must end within this many bytes (a real one takes fewer than 60).
_PROLOG_BYTES: Final = 1024
_DECLARATION = re.compile(r"<\?xml\s[^>]*")
_DECLARED_ENCODING = re.compile(r"""\sencoding\s*=\s*(["'])(.*?)\1""", re.DOTALL)
#: The declarations that lxml and most peers write: no mark, ASCII bytes, UTF-8 declared, so
#: nothing to object to. Bytes that start with one skip the regular expressions below.
_PLAIN_DECLARATIONS: Final = (
    b"<?xml version='1.0' encoding='UTF-8'?>",
    b'<?xml version="1.0" encoding="UTF-8"?>',
)


def _encoding_family(name: str) -> str | None:
    """UTF-8, UTF-16, UTF-32, '' for an accepted single-byte encoding; None: not accepted."""
    plain = re.sub(r"[-_.\s]", "", name.lower())
    for family, names in _ACCEPTED:
        if names.fullmatch(plain):
            return family
    return None


def _encoding_problem(head: bytes) -> str | None:
    """Why the declared encoding is not accepted or contradicts the byte-order mark or the
    character width (a fatal error in XML 1.0, section 4.3.3, libxml2 passes over), or None."""
    if head.startswith(_PLAIN_DECLARATIONS):
        return None
    how, codec, actual, skip = "", "latin-1", "", 0
    for mark, mark_codec, family in _BOMS:
        if head.startswith(mark):
            how, codec, actual, skip = "byte-order mark shows", mark_codec, family, len(mark)
            break
    else:
        for signature, signature_codec, family in _SIGNATURES:
            if head.startswith(signature):
                how, codec, actual = "first bytes show", signature_codec, family
                break
    text = head[skip:].decode(codec, "replace")
    declaration = _DECLARATION.match(text)
    if declaration is None:
        return None
    if declaration.end() == len(text) and len(head) >= _PROLOG_BYTES:
        return f"has an XML declaration that does not end within {_PROLOG_BYTES} bytes"
    found = _DECLARED_ENCODING.search(declaration.group())
    if found is None:
        return None
    name = found.group(2)
    shown = name if re.fullmatch(r"[A-Za-z0-9._:-]{1,40}", name) else "(an invalid name)"
    declared = _encoding_family(name)
    if declared is None:
        return (
            f"declares encoding {shown}; accepted are UTF-8, UTF-16, UTF-32, US-ASCII, "
            "ISO-8859-n and windows-125n"
        )
    if actual and declared != actual:
        return f"declares encoding {shown}, but its {how} {actual}"
    if not actual and declared in ("UTF-16", "UTF-32"):
        return f"declares encoding {shown}, but its bytes are not {declared}"
    return None


def parse_xml(data: bytes, *, limit: int = MAX_MESSAGE_BYTES, what: str = "message") -> Any:
    """Parse untrusted XML safely; raise WireError with one clear reason."""
    if not isinstance(data, bytes | bytearray):
        raise WireError(f"the {what} is not bytes")
    if len(data) > limit:
        raise WireError(f"the {what} is {len(data)} bytes, over the limit of {limit} bytes")
    if not data or data.isspace():
        raise WireError(f"the {what} is empty")
    if _DTD_MARK_BYTE in data and any(mark in data for mark in _DTD_MARKS):
        raise WireError(f"the {what} has a DTD (document type declaration); DTDs are not allowed")
    problem = _encoding_problem(bytes(data[:_PROLOG_BYTES]))
    if problem:
        raise WireError(f"the {what} {problem}")
    try:
        root = etree.fromstring(bytes(data), parser=_parser(huge_text=limit > MAX_MESSAGE_BYTES))
    except etree.XMLSyntaxError as exc:
        reason = str(exc.msg or exc).split(", line")[0].strip()
        raise WireError(f"the {what} is not well-formed XML: {reason}") from None
    except (ValueError, UnicodeError) as exc:
        raise WireError(f"the {what} cannot be decoded: {exc}") from None
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise WireError(f"the {what} has a DTD (document type declaration); DTDs are not allowed")
    return root


_SCHEMAS = threading.local()
_COMPILING = threading.Lock()


def message_schema() -> etree.XMLSchema:
    """The XSD of every catalog message, compiled once per thread (about 2 ms, 0.4 MiB).

    Not one for every thread: libxml2's schema compiler is not safe in two threads at once
    (a creditor's worker and another, or the receive endpoint's, each decoding its first
    message: "the given type is not a built-in type", and a good message quarantined), and
    a schema keeps the errors of its last validation in its own log, which two threads
    validating at once would mix. Compiling takes a lock."""
    schema: etree.XMLSchema | None = getattr(_SCHEMAS, "schema", None)
    if schema is None:
        with _COMPILING:
            schema = _SCHEMAS.schema = _compile_schema()
    return schema


def _compile_schema() -> etree.XMLSchema:
    xsd_dir = resources.files("skn_connector.wire") / "xsd"
    with resources.as_file(xsd_dir / "skn.xsd") as path:
        doc = etree.parse(
            str(path), parser=etree.XMLParser(no_network=True, resolve_entities=False)
        )
        return etree.XMLSchema(doc)


def _local(tag: Any) -> str:
    # "{namespace}name" -> "name"; str.rpartition is several times faster than etree.QName
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


_ELEMENT_PREFIX = re.compile(r"^Element '[^']*': ")
_THE_VALUE = re.compile(r"The value '[^']*'")
_LEADING_VALUE = re.compile(r"^'[^']*' is not")


def _element_path(root: Any, xpath: str | None) -> str:
    """'Saldoverzoek/Klant/Bsn' for libxml2's '/*/*[7]/*[6]' (namespaces make it opaque)."""
    if not xpath:
        return ""
    try:
        found = root.getroottree().xpath(xpath)
    except etree.XPathError:
        return ""
    if not found or not isinstance(found, list) or not hasattr(found[0], "tag"):
        return ""
    names = [_local(e.tag) for e in (*reversed(list(found[0].iterancestors())), found[0])]
    return "/".join(names)


#: The most XSD errors one refusal lists: a hostile message can carry hundreds of thousands,
#: and naming each costs time and makes a reason of megabytes. The rest are counted.
MAX_LISTED_ERRORS: Final = 20


def _schema_errors(schema: etree.XMLSchema, root: Any) -> list[str]:
    lines: list[str] = []
    error_log: Any = schema.error_log
    for error in error_log:
        if len(lines) == MAX_LISTED_ERRORS:
            lines.append(f"and {len(error_log) - MAX_LISTED_ERRORS} more XSD errors")
            break
        path = _element_path(root, error.path)
        # libxml2 names elements with their namespace in braces; keep the local name only,
        # and never repeat a value from the message (it may be personal data)
        message = error.message.replace("{" + MESSAGE_NS + "}", "")
        if path:
            message = _ELEMENT_PREFIX.sub("", message)
        message = _LEADING_VALUE.sub("the value is not", _THE_VALUE.sub("The value", message))
        lines.append(f"{path}: {message}" if path else message)
    return lines or ["the message does not validate against its XSD"]


def _element_to_value(element: Any) -> Any:
    name = _local(element.tag)
    children = [child for child in element if isinstance(child.tag, str)]
    if name in LIST_ITEM_NAMES:
        return [_element_to_value(child) for child in children]
    if children:
        return {_local(child.tag): _element_to_value(child) for child in children}
    return element.text if element.text is not None else ""


#: Local name of each qualified tag seen, e.g. "{urn:...}Bsn" -> "Bsn": a dict lookup is
#: several times faster than cutting the namespace off each tag. At most _MAX_LOCAL_NAMES
#: entries (an unvalidated tree may hold any names); past that, names are cut as before.
_LOCAL_NAMES: dict[str, str] = {}
_MAX_LOCAL_NAMES: Final = 4096


class _NotPlain(Exception):
    """A tree the one-pass conversion does not take on (a node that is not an element)."""


def _walk(root: Any) -> dict[str, Any]:
    """``_element_to_value(root)`` for a root with element children, in one pass.

    ``root.iter()`` gives the elements in document order and ``len()`` the number of
    children of each, which is enough to rebuild the nesting with a stack: no recursion, no
    list of children per element, one dict lookup per tag. This takes 40 % of the time of
    the recursive conversion, which is kept for what this one does not take on.
    """
    names, lists = _LOCAL_NAMES, LIST_ITEM_NAMES
    top: dict[str, Any] = {}
    # the container being filled (dict or list), whether it is a dict, and how many of its
    # children are still to come; the stack holds the same for each enclosing container
    container: Any = top
    is_dict = True
    left = len(root)
    stack: list[tuple[Any, bool, int]] = []
    elements = root.iter()
    next(elements)  # the root itself
    for element in elements:
        tag = element.tag
        name = names.get(tag)
        if name is None:
            if not isinstance(tag, str):  # a comment, PI or entity (the parser drops these)
                raise _NotPlain
            name = _local(tag)
            if len(names) < _MAX_LOCAL_NAMES:
                names[tag] = name
        children = len(element)
        value: Any
        if name in lists:
            value = []
        elif children:
            value = {}
        else:
            text = element.text
            value = text if text is not None else ""
        if is_dict:
            container[name] = value
        else:
            container.append(value)
        left -= 1
        if children:
            stack.append((container, is_dict, left))
            container, is_dict, left = value, name not in lists, children
        else:
            while not left and stack:
                container, is_dict, left = stack.pop()
    return top


def xml_to_json(root: Any) -> dict[str, Any]:
    """The JSON form of a message element (values as text; the model types them)."""
    if len(root) and _local(root.tag) not in LIST_ITEM_NAMES:
        try:
            return _walk(root)
        except _NotPlain:
            pass
    value = _element_to_value(root)
    if not isinstance(value, dict):
        raise DecodeError([f"{_local(root.tag)}: the message has no elements"])
    return value


def _append(parent: Any, name: str, value: Any) -> None:
    element = etree.SubElement(parent, f"{{{MESSAGE_NS}}}{name}")
    if name in LIST_ITEM_NAMES:
        item_name = LIST_ITEM_NAMES[name]
        for item in value:
            _append(element, item_name, item)
    elif isinstance(value, str):  # most values; spares the (slow) ABC check for Mapping
        element.text = value
    elif isinstance(value, Mapping):
        for key, sub in value.items():
            _append(element, key, sub)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = str(value)


def json_to_xml(berichttype: str, data: Mapping[str, Any]) -> Any:
    nsmap: Any = {None: MESSAGE_NS}
    root = etree.Element(f"{{{MESSAGE_NS}}}{berichttype}", nsmap=nsmap)
    for key, value in data.items():
        _append(root, key, value)
    return root


def _escape(text: str) -> str:
    """Text content as lxml writes it: &, <, > and carriage return escaped."""
    if "&" in text or "<" in text or ">" in text or "\r" in text:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return text.replace("\r", "&#13;")
    return text


def _write(out: list[str], fields: Mapping[str, Any]) -> None:
    """Append the XML of each field of a message (or structure) in its JSON form.

    Leaves are written in the loop, not by a call each, and dicts are recognised by their
    type before the (slow) ABC check for Mapping: an answer has some 70 elements.
    """
    append = out.append
    for name, value in fields.items():
        if name in LIST_ITEM_NAMES:
            item_name = LIST_ITEM_NAMES[name]
            append(f"<{name}>")
            for item in value:
                _write(out, {item_name: item})
            append(f"</{name}>")
        elif type(value) is str or isinstance(value, str):  # most values
            # _escape's test written out: most values need no escaping, and this spares a call
            if "&" in value or "<" in value or ">" in value or "\r" in value:
                value = _escape(value)
            append(f"<{name}>{value}</{name}>")
        elif type(value) is dict or isinstance(value, Mapping):
            append(f"<{name}>")
            _write(out, value)
            append(f"</{name}>")
        elif isinstance(value, bool):
            append(f"<{name}>{'true' if value else 'false'}</{name}>")
        else:
            append(f"<{name}>{_escape(str(value))}</{name}>")


def json_to_bytes(berichttype: str, data: Mapping[str, Any]) -> bytes:
    """The XML bytes of a message in its JSON form: the document ``json_to_xml`` builds,
    written directly (a third of the time of building the tree element by element)."""
    out = [f"<?xml version='1.0' encoding='UTF-8'?>\n<{berichttype} xmlns=\"{MESSAGE_NS}\">"]
    _write(out, data)
    out.append(f"</{berichttype}>")
    return "".join(out).encode("utf-8")


#: Characters XML 1.0 cannot carry: controls but tab and line ends, lone surrogates, U+FFFE/F.
#: A text holding one makes a message that cannot be encoded.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _unwritable(value: Any, path: str = "") -> tuple[str, str] | None:
    """The element path of the first text XML cannot carry, and the character, or None."""
    if isinstance(value, str):
        bad = NOT_XML.search(value)
        return (path, bad.group()) if bad else None
    if isinstance(value, list):
        items: Iterable[tuple[str, Any]] = (
            (f"{path}[{index + 1}]", item) for index, item in enumerate(value)
        )
    elif isinstance(value, Mapping):
        items = ((f"{path}/{name}" if path else name, item) for name, item in value.items())
    else:
        return None
    for where, item in items:
        found = _unwritable(item, where)
        if found is not None:
            return found
    return None


def encode_message(message: Message) -> bytes:
    """Serialise a message to its XML bytes, validated against its XSD.

    The bytes are written directly, then parsed and validated: what is validated is
    exactly what leaves this module.
    """
    document = message.to_json()
    data = json_to_bytes(message.BERICHTTYPE, document)
    try:
        root = parse_xml(data, what=f"outgoing {message.BERICHTTYPE}")
    except WireError:
        where = _unwritable(document)
        if where is None:
            raise
        path, character = where
        raise WireError(
            f"{message.BERICHTTYPE}/{path} holds a character that XML cannot carry "
            f"(U+{ord(character):04X}); the message cannot be sent"
        ) from None
    schema = message_schema()
    if not schema.validate(root):
        raise WireError(
            f"{message.BERICHTTYPE} does not validate against its XSD: "
            + "; ".join(_schema_errors(schema, root))
        )
    return data


#: The most child elements one element of a message may have (a list of claims is far
#: shorter): libxml2's XSD validation slows down with the square of the number of invalid
#: siblings (32,000 took seconds, 100,000 minutes), so a message past it is refused unread.
MAX_CHILD_ELEMENTS: Final = 5_000
#: The most elements one message may have.
MAX_ELEMENTS: Final = 100_000
#: The fewest bytes an element takes (``<a/>``): a message shorter than this many times
#: MAX_CHILD_ELEMENTS cannot pass either limit, so it is not counted.
_SMALLEST_ELEMENT: Final = 4


def _too_many_elements(root: Any) -> str | None:
    """Why a parsed message has too many elements to validate, or None."""
    for count, element in enumerate(root.iter(), start=1):
        if count > MAX_ELEMENTS:
            return f"the message has more than {MAX_ELEMENTS} elements"
        if len(element) > MAX_CHILD_ELEMENTS:
            return (
                f"{_local(element.tag)} has {len(element)} child elements; "
                f"at most {MAX_CHILD_ELEMENTS} are read"
            )
    return None


def _strip_leaves(root: Any) -> None:
    """Strip the whitespace around each text as the model does, before the XSD judges it.

    The model keeps every text stripped (``str_strip_whitespace``); the XSD's string types
    keep whitespace. Judged as it came, a value could pass the XSD only because of its
    whitespace (a Versie of one space has length 1) and, stripped, be one the encoder's XSD
    check refuses: the connector would accept a message it cannot write back. Stripped
    first, the XSD judges exactly the values the model keeps. (Python's ``str.strip`` and
    the model's take the same characters of those XML can carry.)
    """
    for element in root.iter():
        text = element.text
        if text and (text[0].isspace() or text[-1].isspace()) and not len(element):
            element.text = text.strip()


def decode_message(data: bytes) -> Message:
    """Read, validate (XSD, then the catalog's rules) and type one incoming message."""
    try:
        root = parse_xml(data)
    except WireError as exc:
        raise DecodeError([str(exc)]) from None
    namespace = etree.QName(root.tag).namespace
    name = _local(root.tag)
    if namespace != MESSAGE_NS:
        raise DecodeError(
            [
                f"the root element {name} is in namespace {namespace or '(none)'!r}, "
                f"expected {MESSAGE_NS!r}"
            ]
        )
    if name not in CATALOG:
        raise DecodeError([f"{name} is not a message type of the catalog"])
    if len(data) > _SMALLEST_ELEMENT * MAX_CHILD_ELEMENTS:
        too_many = _too_many_elements(root)
        if too_many:
            raise DecodeError([too_many])
    _strip_leaves(root)
    schema = message_schema()
    if not schema.validate(root):
        raise DecodeError(_schema_errors(schema, root))
    try:
        return message_from_json(xml_to_json(root))
    except MessageError as exc:
        raise DecodeError(exc.errors) from None


# -- SOAP 1.1 envelopes -------------------------------------------------------------------


def envelope(body: Any) -> bytes:
    """Wrap one body element in a SOAP 1.1 envelope."""
    env = etree.Element(f"{{{SOAP_ENV_NS}}}Envelope", nsmap={"soap": SOAP_ENV_NS})
    etree.SubElement(env, f"{{{SOAP_ENV_NS}}}Body").append(body)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def fault(code: str, reason: str) -> bytes:
    """A SOAP 1.1 Fault; ``code`` is Client or Server."""
    body = etree.Element(f"{{{SOAP_ENV_NS}}}Fault")
    etree.SubElement(body, "faultcode").text = f"soap:{code}"
    etree.SubElement(body, "faultstring").text = reason
    return envelope(body)


def open_envelope(data: bytes) -> Any:
    """The body element of a SOAP envelope; a Fault is raised as SoapFault."""
    root = parse_xml(data, limit=MAX_ENVELOPE_BYTES, what="SOAP envelope")
    if root.tag != f"{{{SOAP_ENV_NS}}}Envelope":
        raise WireError("the SOAP envelope has no soap:Envelope root element")
    bodies = root.findall(f"{{{SOAP_ENV_NS}}}Body")
    if len(bodies) > 1:
        raise WireError(f"the SOAP envelope holds {len(bodies)} soap:Body elements; one is allowed")
    children = [c for c in bodies[0] if isinstance(c.tag, str)] if bodies else []
    if len(children) != 1:
        raise WireError("the SOAP body must hold exactly one element")
    content = children[0]
    if content.tag == f"{{{SOAP_ENV_NS}}}Fault":
        raise SoapFault(
            (content.findtext("faultcode") or "soap:Server").split(":")[-1],
            content.findtext("faultstring") or "no reason given",
        )
    return content


def element(namespace: str, name: str, children: Iterable[tuple[str, str]] = ()) -> Any:
    """A service element with simple text children, in ``namespace``."""
    root = etree.Element(f"{{{namespace}}}{name}", nsmap={"b": namespace})
    for child, text in children:
        etree.SubElement(root, f"{{{namespace}}}{child}").text = text
    return root


def encode_payload(payload: bytes) -> str:
    return base64.b64encode(payload).decode("ascii")


def decode_payload(text: str | None) -> bytes:
    try:
        return base64.b64decode((text or "").encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise WireError("the message content is not valid base64") from None
