"""Codec benchmark (issue 3): our message codec against raw lxml (the floor) and zeep.

One operation is what the connector does for one Saldoverzoek it answers: decode and
validate the incoming Saldoverzoek bytes, then encode and validate the prepared
SaldoverzoekAntwoord (5 claims). The three contenders:

* ``lxml``: ``etree.fromstring`` + ``etree.tostring`` of the request bytes and of the answer
  bytes, nothing else (no validation, no typing): the floor.
* ``skn-connector``: ``decode_message(request)`` (safe parse, XSD validation, typed pydantic
  model with the catalog's rules) + ``encode_message(answer)`` (model to XML, XSD validation,
  bytes).
* ``zeep``: our XSDs through ``bench/fixtures/skn.wsdl``; zeep's hardened parser, XSD
  validation with the same compiled schema (zeep checks no facets itself), ``Element.parse``
  into zeep's typed objects; ``Element.render`` of a prepared zeep object, the same XSD
  validation, ``etree.tostring``.

Before timing, every contender's output is checked to carry the same data (decoded request,
encoded answer). Nothing about speed is asserted. Run ``python -m bench.codec --help``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from lxml import etree

from skn_connector.messages import (
    Berichtheader,
    Contactpersoon,
    Message,
    OngematchteSchulden,
    OpgegevenVordering,
    OvergedragenAan,
    Saldoverzoek,
    SaldoverzoekAntwoord,
    message_from_json,
)
from skn_connector.wire.profile import LIST_ITEM_NAMES, MESSAGE_NS
from skn_connector.wire.soap import decode_message, encode_message, message_schema
from tests.factories import CREDITOR, SHV, saldoverzoek

WSDL = Path(__file__).parent / "fixtures" / "skn.wsdl"
REQUEST_ELEMENT = f"{{{MESSAGE_NS}}}Saldoverzoek"
ANSWER_ELEMENT = f"{{{MESSAGE_NS}}}SaldoverzoekAntwoord"

#: Fixed identifiers, so that every run measures the same bytes.
CONVERSATIE = uuid.UUID("3f1e9a52-64c7-4d0b-8a5e-2c9d7b1f0e43")
CET = timezone(timedelta(hours=1))
INVOICES = ("2025.004711.01", "2025.004711.02", "2025.005230.01", "2024.019876.03")


# -- the messages -------------------------------------------------------------------------


def request_message() -> Saldoverzoek:
    """A realistic Saldoverzoek: a couple asking about four invoices, one the SE lacks."""
    data = saldoverzoek(
        invoices=INVOICES,
        klantnummer_se="SE-778899",
        Referentienummer="9d2c4b7e-1a3f-4e8d-b6c5-0f7a2e9d1c84",
        ConversatieReferentienummer=str(CONVERSATIE),
    )
    data["Partner"] = {
        "Geslacht": "M",
        "Voorletters": "J.P.",
        "Voornamen": "Jan Pieter",
        "Voorvoegsel": "van der",
        "Achternaam": "Proefpersoon",
        "Geboortedatum": "1978-06-14",
    }
    message = message_from_json(data)
    assert isinstance(message, Saldoverzoek)
    return message


def answer_message(request: Saldoverzoek) -> SaldoverzoekAntwoord:
    """Its answer with 5 claims: three matched (one handed over), one unknown, one unmatched."""
    asked = [v.factuurnummer_se_volgens_shv for v in request.vorderingen]
    return SaldoverzoekAntwoord(
        berichtheader=Berichtheader(
            referentienummer=uuid.UUID("6a0b8c1d-2e3f-4a5b-9c6d-7e8f9a0b1c2d"),
            cross_referentienummer=request.berichtheader.referentienummer,
            conversatie_referentienummer=CONVERSATIE,
            berichttype="SaldoverzoekAntwoord",
            module="Schuldinventarisatie",
            afzender=CREDITOR,
            ontvanger=SHV,
            verzonden=datetime(2026, 11, 30, 14, 5, 12, tzinfo=CET),
        ),
        klantnummer_se="SE-778899",
        contactpersoon=Contactpersoon(
            naam="S. Invordering",
            telefoonnummer="+31 30 1234567",
            emailadres="invordering@gemeente.example",
        ),
        klant_onbekend=False,
        standaard_akkoord=False,
        datum=date(2026, 11, 30),
        vorderingen=(
            OpgegevenVordering(
                schuldtype="openstaande schuld",
                factuurnummer_se_volgens_shv=asked[0],
                factuurnummer_se=asked[0],
                omschrijving="Afvalstoffenheffing 2025",
                ontstaansdatum=date(2025, 2, 28),
                originele_vordering=Decimal("412.80"),
                hoofdsom=Decimal("412.80"),
                rente=Decimal("6.19"),
                kosten=Decimal("48.00"),
                openstaand=Decimal("466.99"),
            ),
            OpgegevenVordering(
                schuldtype="openstaande schuld",
                factuurnummer_se_volgens_shv=asked[1],
                factuurnummer_se=asked[1],
                omschrijving="Rioolheffing 2025",
                ontstaansdatum=date(2025, 2, 28),
                originele_vordering=Decimal("231.45"),
                hoofdsom=Decimal("131.45"),
                rente=Decimal("1.97"),
                kosten=Decimal("0.00"),
                openstaand=Decimal("133.42"),
            ),
            OpgegevenVordering(
                schuldtype="overgedragen schuld",
                factuurnummer_se_volgens_shv=asked[2],
                factuurnummer_se=asked[2],
                omschrijving="Onroerendezaakbelasting 2024",
                ontstaansdatum=date(2024, 3, 1),
                originele_vordering=Decimal("1285.00"),
                hoofdsom=Decimal("1285.00"),
                rente=Decimal("64.25"),
                kosten=Decimal("156.50"),
                openstaand=Decimal("1505.75"),
                overgedragen_aan=OvergedragenAan(
                    naam="Gerechtsdeurwaarders Teststad", contactpersoon="M. de Beslag"
                ),
            ),
            OpgegevenVordering(
                schuldtype="onbekende schuld bij SE", factuurnummer_se_volgens_shv=asked[3]
            ),
        ),
        ongematchte_schulden=OngematchteSchulden(
            openstaande_schulden=(
                OpgegevenVordering(
                    schuldtype="openstaande schuld",
                    factuurnummer_se="2026.000318.01",
                    omschrijving="Hondenbelasting 2026",
                    ontstaansdatum=date(2026, 2, 27),
                    originele_vordering=Decimal("129.60"),
                    hoofdsom=Decimal("129.60"),
                    rente=Decimal("0.00"),
                    kosten=Decimal("0.00"),
                    openstaand=Decimal("129.60"),
                ),
            )
        ),
    )


# -- the contenders -----------------------------------------------------------------------


@dataclass
class Contender:
    """One way to do the operation: ``decode(request)`` then ``encode(answer)``."""

    name: str
    does: str
    decode: Callable[[bytes], Any]
    encode: Callable[[Any], bytes]
    #: The prepared input of ``encode`` (built once, outside the timed loop).
    answer: Any
    #: Our typed model of what ``decode`` returned, to check that the contenders agree.
    as_model: Callable[[Any], Message]
    rates: list[float] = field(default_factory=list)


def _run(contender: Contender, request: bytes, ops: int) -> float:
    """Seconds for ``ops`` operations."""
    decode, encode, answer = contender.decode, contender.encode, contender.answer
    start = time.perf_counter()
    for _ in range(ops):
        decode(request)
        encode(answer)
    return time.perf_counter() - start


def lxml_floor(answer_bytes: bytes) -> Contender:
    def roundtrip(data: bytes) -> bytes:
        return bytes(etree.tostring(etree.fromstring(data)))

    return Contender(
        name="lxml (floor)",
        does="fromstring + tostring of the request and of the answer bytes; no validation",
        decode=roundtrip,
        encode=roundtrip,
        answer=answer_bytes,
        as_model=decode_message,
    )


def ours(answer: SaldoverzoekAntwoord) -> Contender:
    return Contender(
        name="skn-connector",
        does=(
            "decode_message: safe parse, XSD, pydantic model + catalog rules; "
            "encode_message: model to XML, XSD, bytes"
        ),
        decode=decode_message,
        encode=encode_message,
        answer=answer,
        as_model=lambda model: model,
    )


def zeep_document() -> Any:
    """Our WSDL, whose schema import resolves against the package's own XSD directory."""
    from zeep import Settings
    from zeep.transports import Transport
    from zeep.wsdl import Document

    xsd_dir = resources.files("skn_connector.wire") / "xsd"
    with resources.as_file(xsd_dir / "skn.xsd") as skn_xsd, WSDL.open("rb") as wsdl:
        # the WSDL's base is taken to be in the XSD directory: its schemaLocation="skn.xsd"
        # then names the connector's XSDs, with no copy and no network
        # (zeep's own annotations say type[Transport]; it wants an instance)
        return Document(
            wsdl,
            Transport(),  # type: ignore[no-untyped-call, arg-type]
            base=str(skn_xsd.parent / WSDL.name),
            settings=Settings(strict=True, forbid_external=True, forbid_dtd=True),
        )


def _zeep_value(value: Any) -> Any:
    """A zeep value from a python-mode model dump: list wrappers get their item element."""
    if isinstance(value, Mapping):
        return {
            key: {LIST_ITEM_NAMES[key]: [_zeep_value(v) for v in sub]}
            if key in LIST_ITEM_NAMES
            else _zeep_value(sub)
            for key, sub in value.items()
        }
    return value


def _from_zeep(value: Any) -> Any:
    """Our JSON form (typed values) from zeep's serialised object: no Nones, lists unwrapped."""
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, sub in value.items():
            if sub is None:
                continue
            if key in LIST_ITEM_NAMES and isinstance(sub, Mapping):
                sub = sub.get(LIST_ITEM_NAMES[key]) or []
            result[key] = _from_zeep(sub)
        return result
    if isinstance(value, list):
        return [_from_zeep(v) for v in value]
    return value


def zeep_contender(answer: SaldoverzoekAntwoord, document: Any | None = None) -> Contender:
    from zeep import __version__ as zeep_version
    from zeep.helpers import serialize_object
    from zeep.loader import parse_xml as zeep_parse_xml

    document = document if document is not None else zeep_document()
    types = document.types
    request_element = types.get_element(REQUEST_ELEMENT)
    answer_element = types.get_element(ANSWER_ELEMENT)
    schema = message_schema()

    def decode(data: bytes) -> Any:
        # what zeep does with a SOAP reply's bytes: its own parser (no entities, DTD check);
        # zeep annotates the content as str, and passes it bytes itself
        root = zeep_parse_xml(data, document.transport, settings=document.settings)  # type: ignore[arg-type]
        if not schema.validate(root):
            raise ValueError(f"the request does not validate: {schema.error_log}")
        return request_element.parse(root, types)

    def encode(value: Any) -> bytes:
        parent = etree.Element("body")
        answer_element.render(parent, value)
        node = parent[0]
        if not schema.validate(node):
            raise ValueError(f"the answer does not validate: {schema.error_log}")
        return bytes(etree.tostring(node, xml_declaration=True, encoding="UTF-8"))

    def as_model(value: Any) -> Message:
        plain = serialize_object(value, target_cls=dict)  # type: ignore[no-untyped-call]
        return message_from_json(_from_zeep(plain))

    dump = answer.model_dump(mode="python", by_alias=True, exclude_none=True)
    return Contender(
        name=f"zeep {zeep_version}",
        does=(
            "zeep's parser, XSD (same compiled schema), Element.parse to zeep objects; "
            "Element.render of a prepared zeep object, XSD, tostring"
        ),
        decode=decode,
        encode=encode,
        answer=answer_element(**_zeep_value(dump)),
        as_model=as_model,
    )


# -- checking and timing ------------------------------------------------------------------


@dataclass
class Bench:
    """The two messages, their bytes, and the three contenders."""

    request: Saldoverzoek
    answer: SaldoverzoekAntwoord
    request_bytes: bytes
    answer_bytes: bytes
    floor: Contender
    ours: Contender
    zeep: Contender

    @property
    def contenders(self) -> list[Contender]:
        return [self.floor, self.ours, self.zeep]


def setup(document: Any | None = None) -> Bench:
    """Build the messages once; ``document`` is a loaded zeep WSDL (loaded here if None)."""
    request = request_message()
    answer = answer_message(request)
    request_bytes = encode_message(request)
    answer_bytes = encode_message(answer)
    return Bench(
        request=request,
        answer=answer,
        request_bytes=request_bytes,
        answer_bytes=answer_bytes,
        floor=lxml_floor(answer_bytes),
        ours=ours(answer),
        zeep=zeep_contender(answer, document),
    )


def check(bench: Bench) -> None:
    """Every contender decodes the same request and encodes the same answer; else raise."""
    for contender in bench.contenders:
        decoded = contender.as_model(contender.decode(bench.request_bytes))
        if decoded != bench.request:
            raise AssertionError(f"{contender.name} decoded another Saldoverzoek")
        encoded = contender.encode(contender.answer)
        if decode_message(encoded) != bench.answer:
            raise AssertionError(f"{contender.name} encoded another SaldoverzoekAntwoord")


def calibrate(contender: Contender, request: bytes, seconds: float) -> int:
    """Warm up (untimed), and return the number of operations that take about ``seconds``."""
    ops = 1
    while True:
        elapsed = _run(contender, request, ops)
        if elapsed >= min(0.2, seconds / 2):
            return max(1, round(ops * seconds / elapsed))
        ops *= 2


#: Each round is cut into slices of about this many seconds per contender, interleaved, so
#: that a change of load on the machine hits every contender alike.
SLICE_SECONDS = 0.1


def measure(bench: Bench, *, rounds: int, seconds: float) -> None:
    """A warm-up round, then ``rounds`` rounds of interleaved slices; one rate per round."""
    slices = max(1, round(seconds / SLICE_SECONDS))
    plan = [
        (c, max(1, calibrate(c, bench.request_bytes, seconds) // slices)) for c in bench.contenders
    ]
    for contender, _ in plan:
        contender.rates.clear()
    for index in range(rounds):
        shift = index % len(plan)
        order = plan[shift:] + plan[:shift]
        elapsed = dict.fromkeys((c.name for c, _ in plan), 0.0)
        for _ in range(slices):
            for contender, ops in order:
                elapsed[contender.name] += _run(contender, bench.request_bytes, ops)
        for contender, ops in plan:
            contender.rates.append(ops * slices / elapsed[contender.name])


# -- report -------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> list[str]:
    def dotted(version: Sequence[int]) -> str:
        return ".".join(str(part) for part in version)

    return [
        f"platform: {platform.platform()}",
        f"cpu: {_cpu_model()}, {os.cpu_count()} logical cores",
        f"python: {platform.python_implementation()} {platform.python_version()}",
        f"lxml {dotted(etree.LXML_VERSION)}, libxml2 {dotted(etree.LIBXML_VERSION)}, "
        f"pydantic {metadata.version('pydantic')}, zeep {metadata.version('zeep')}",
    ]


def _ratio(name: str, top: Contender, bottom: Contender, target: str) -> str:
    """The ratio of the medians, and the range of the per-round ratios (same round, same load)."""
    median = statistics.median(top.rates) / statistics.median(bottom.rates)
    per_round = [t / b for t, b in zip(top.rates, bottom.rates, strict=True)]
    return (
        f"{name} = {median:.2f}x  (per round {min(per_round):.2f}..{max(per_round):.2f}; "
        f"target: {target})"
    )


def report(bench: Bench, *, rounds: int, seconds: float) -> list[str]:
    lines = [
        "Codec benchmark: 1 op = decode+validate a Saldoverzoek "
        f"({len(bench.request_bytes)} bytes, {len(bench.request.vorderingen)} invoices) "
        "+ encode+validate its SaldoverzoekAntwoord "
        f"({len(bench.answer_bytes)} bytes, 5 claims) = 2 messages",
        f"{rounds} rounds of about {seconds:g} s per contender, interleaved in slices of "
        f"{SLICE_SECONDS:g} s, after a warm-up; median of the rounds",
        *machine(),
        "",
        f"{'contender':<16}{'ops/s':>9}{'messages/s':>12}{'us/op':>9}   rounds (ops/s)",
    ]
    for contender in bench.contenders:
        rate = statistics.median(contender.rates)
        spread = " ".join(f"{r:.0f}" for r in contender.rates)
        lines.append(
            f"{contender.name:<16}{rate:>9.0f}{2 * rate:>12.0f}{1e6 / rate:>9.1f}   {spread}"
        )
    lines += [
        "",
        _ratio("ours/zeep", bench.ours, bench.zeep, "at least 3x"),
        _ratio("lxml/ours", bench.floor, bench.ours, "at most 4x"),
        "",
        "what each contender does per op:",
        *(f"  {c.name}: {c.does}" for c in bench.contenders),
    ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.codec",
        description="Codec benchmark: skn-connector against raw lxml and zeep (issue 3).",
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=1.0,
        help="seconds per contender per round (default 1.0)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0:
        parser.error("--rounds must be at least 1 and --seconds positive")
    bench = setup()
    check(bench)
    measure(bench, rounds=args.rounds, seconds=args.seconds)
    print("\n".join(report(bench, rounds=args.rounds, seconds=args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
