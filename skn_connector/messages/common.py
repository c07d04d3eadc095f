"""Shared SKN structures: the header, Klant, Adres, Contactpersoon and the field types.

Field names on the wire and in the JSON form are the SKN element names (pydantic
aliases); Python attributes are snake_case.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)
from stdnum.nl import bsn as stdnum_bsn

from . import provisional

TWO_PLACES = Decimal("0.01")


def _check_bedrag(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("an amount must be a finite number")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError("an amount has at most two decimals")
    if value.adjusted() >= 12:
        # the XSD's Bedrag has 14 digits in all, two of them decimals
        raise ValueError("an amount has at most 12 digits before the decimal point")
    return value.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def _check_non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("an amount here may not be negative")
    return value


_NINE_DIGITS = re.compile(r"\d{9}")


def elfproef(value: str) -> bool:
    """Whether nine ASCII digits pass the BSN's elfproef (as python-stdnum's ``bsn.is_valid``:
    the weighted sum is a multiple of 11 and the number is not zero).

    stdnum's own checksum, without ``is_valid``'s cleaning of the input (we accept exactly
    nine ASCII digits, so there is nothing to clean): the cleaning took a quarter of the time
    of validating a whole Saldoverzoek. tests/test_codec_fast_paths.py checks the two agree.
    """
    if len(value) != 9 or not value.isascii() or not value.isdigit():
        return False
    return value != "000000000" and stdnum_bsn.checksum(value) == 0


def _check_bsn(value: str) -> str:
    if not _NINE_DIGITS.fullmatch(value):
        raise ValueError("a BSN has exactly 9 digits")
    if not elfproef(value):
        raise ValueError("the BSN fails the elfproef")
    return value


_POSTCODE = re.compile(r"[1-9]\d{3}[A-Z]{2}")


def _check_postcode(value: str) -> str:
    normalised = value.replace(" ", "").upper()
    if not _POSTCODE.fullmatch(normalised) or normalised[4:] in {"SA", "SD", "SS"}:
        raise ValueError(
            "a postcode is four digits (not starting with 0) and two letters, e.g. 1234AB"
        )
    return normalised


def _check_percentage(value: Decimal) -> Decimal:
    value = _check_bedrag(value)
    if value < 0 or value > 100:
        raise ValueError("a percentage lies between 0 and 100")
    return value


#: Dates of the debt-help process (DatumAkkoord, DatumBeeindiging, ...) lie in this range:
#: an earlier or later date is a typing error, not a fact.
EERSTE_DATUM = date(2000, 1, 1)
LAATSTE_DATUM = date(2099, 12, 31)


def _check_datum(value: date) -> date:
    if not EERSTE_DATUM <= value <= LAATSTE_DATUM:
        raise ValueError(
            f"a date here lies between {EERSTE_DATUM.isoformat()} and {LAATSTE_DATUM.isoformat()}"
        )
    return value


def format_amount(value: Decimal) -> str:
    """An amount's text in the JSON form and on the wire: "1234.50"."""
    text = str(value)
    # A validated amount has two decimals (_check_bedrag quantizes it), and then str() writes
    # what '.2f' does, in a third of the time. A '.' third from the end means two decimals
    # and no exponent; anything else (a model built without validation) is formatted.
    return text if text[-3:-2] == "." else f"{value:.2f}"


#: An amount in euros: Decimal, at most two decimals, serialised as "1234.50".
Bedrag = Annotated[
    Decimal,
    AfterValidator(_check_bedrag),
    PlainSerializer(format_amount, return_type=str, when_used="json"),
]
#: An amount that may not be negative (claims, balances).
PositiefBedrag = Annotated[
    Decimal,
    AfterValidator(_check_bedrag),
    AfterValidator(_check_non_negative),
    PlainSerializer(format_amount, return_type=str, when_used="json"),
]
Percentage = Annotated[
    Decimal,
    AfterValidator(_check_percentage),
    PlainSerializer(format_amount, return_type=str, when_used="json"),
]
Bsn = Annotated[str, AfterValidator(_check_bsn)]
Postcode = Annotated[str, AfterValidator(_check_postcode)]
Tekst = Annotated[str, Field(min_length=1, max_length=200)]
LangeTekst = Annotated[str, Field(min_length=1, max_length=2000)]
#: A date of the process (not of birth): 2000-01-01 up to 2099-12-31.
ProcesDatum = Annotated[date, AfterValidator(_check_datum)]
#: The duration of a payment arrangement in months.
Looptijd = Annotated[int, Field(ge=1, le=120)]

Module = Literal[
    "Schuldinventarisatie", "Betalingsregeling", "MeldingenBewindvoering", "Schuldregeling"
]
Geslacht = Literal["M", "V", "X"]
TypeSchuldregeling = Literal["BR", "HF", "SK", "SB", "SA"]

#: The TypeSchuldregeling values each module allows [SKN-BRHF-SALDOVERZOEK-2.0]
#: [SKN-SBENSK-REGELING-GEACCORDEERD-2.0].
TYPES_PER_MODULE: dict[str, frozenset[str]] = {
    "Betalingsregeling": frozenset({"BR", "HF"}),
    "Schuldregeling": frozenset({"SK", "SB", "SA"}),
}


def check_type_fits_module(module: str, chosen: str | None) -> None:
    """Raise ValueError when ``TypeSchuldregeling`` does not belong to the message's module.

    A module without its own types (Schuldinventarisatie) accepts any value.
    """
    allowed = TYPES_PER_MODULE.get(module)
    if chosen is not None and allowed is not None and chosen not in allowed:
        raise ValueError(
            f"TypeSchuldregeling: TypeSchuldregeling {chosen} does not belong to module "
            f"{module}; allowed: {', '.join(sorted(allowed))}"
        )


class SknModel(BaseModel):
    """Base of every SKN structure: aliases are the SKN element names, unknown keys refused."""

    model_config = ConfigDict(
        populate_by_name=True,
        extra="forbid",
        str_strip_whitespace=True,
        frozen=True,
    )


class Toestemmingsverklaring(SknModel):
    soort: Literal["TOESTEMMINGSVERKLARING", "BESCHIKKING_BEWIND"] = Field(alias="Soort")
    datum: date = Field(alias="Datum")
    document: str | None = Field(default=None, alias="Document", max_length=8_000_000)


#: ``Berichtheader/Versie``: ``<major>.<minor>`` ("Bericht header voor SE-Service").
VERSIE_PATTERN = r"^[0-9]{1,4}\.[0-9]{1,4}$"
Versie = Annotated[str, Field(pattern=VERSIE_PATTERN)]


class Berichtheader(SknModel):
    """The header of every SE-Service message (group Stuurgegevens, after StUF-Envelop 2.1).

    ``Referentienummer`` identifies this message: the sending application makes it, and it
    is the idempotency key. An answer carries the Referentienummer of the message it answers
    as its ``CrossReferentienummer``. The fields are in the order of the XSD's sequence.
    """

    referentienummer: uuid.UUID = Field(alias="Referentienummer")
    cross_referentienummer: uuid.UUID | None = Field(default=None, alias="CrossReferentienummer")
    conversatie_referentienummer: uuid.UUID = Field(alias="ConversatieReferentienummer")
    versie: Versie = Field(alias="Versie", default=provisional.PROFILE_VERSION)
    berichttype: str = Field(alias="Berichttype")
    module: Module = Field(alias="Module")
    afzender: uuid.UUID = Field(alias="Afzender")
    ontvanger: uuid.UUID = Field(alias="Ontvanger")
    verzonden: datetime = Field(alias="Verzonden")
    toestemmingsverklaring: Toestemmingsverklaring | None = Field(
        default=None, alias="Toestemmingsverklaring"
    )


class Persoon(SknModel):
    geslacht: Geslacht = Field(alias="Geslacht")
    voorletters: Tekst = Field(alias="Voorletters")
    voornamen: Tekst = Field(alias="Voornamen")
    voorvoegsel: Tekst | None = Field(default=None, alias="Voorvoegsel")
    achternaam: Tekst = Field(alias="Achternaam")
    geboortedatum: date = Field(alias="Geboortedatum")
    bsn: Bsn | None = Field(default=None, alias="Bsn")


class Klant(Persoon):
    pass


class Partner(Persoon):
    pass


class KlantMetBsn(Klant):
    """A Klant whose BSN is required (KennisgevingPubliek, MeldingBewind)."""

    bsn: Bsn = Field(alias="Bsn")


class Adres(SknModel):
    straatnaam: Tekst = Field(alias="Straatnaam")
    huisnummer: int = Field(alias="Huisnummer", ge=1, le=99999)
    huisletter: Annotated[str, Field(pattern=r"^[A-Za-z]$")] | None = Field(
        default=None, alias="Huisletter"
    )
    huisnummertoevoeging: Annotated[str, Field(max_length=4)] | None = Field(
        default=None, alias="Huisnummertoevoeging"
    )
    aanduiding_bij_huisnummer: Literal["by", "to"] | None = Field(
        default=None, alias="AanduidingBijHuisnummer"
    )
    postcode: Postcode = Field(alias="Postcode")
    woonplaats: Tekst = Field(alias="Woonplaats")
    woonbootverwijzing: Tekst | None = Field(default=None, alias="Woonbootverwijzing")
    woonwagenverwijzing: Tekst | None = Field(default=None, alias="Woonwagenverwijzing")


class Contactpersoon(SknModel):
    naam: Tekst = Field(alias="Naam")
    telefoonnummer: Annotated[str, Field(pattern=r"^\+?[0-9 \-]{6,20}$")] | None = Field(
        default=None, alias="Telefoonnummer"
    )
    emailadres: (
        Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)] | None
    ) = Field(default=None, alias="Emailadres")


class Message(SknModel):
    """Base of every SKN message: a header plus a body whose keys are the SKN element names.

    A rule that spans several elements raises ``ValueError("Element/Path: the rule")``;
    ``format_validation_error`` turns the leading path into part of the error's path.
    """

    #: The value of ``Berichttype`` for this message class.
    BERICHTTYPE: ClassVar[str] = ""
    #: Modules in which this message may travel.
    MODULES: ClassVar[tuple[str, ...]] = ()
    #: True for messages the connector receives (SHV or bewindvoerder to SE).
    INCOMING: ClassVar[bool] = True

    berichtheader: Berichtheader = Field(alias="Berichtheader")

    @model_validator(mode="after")
    def _header_fits_message(self) -> Self:
        header = self.berichtheader
        if header.berichttype != self.BERICHTTYPE:
            raise ValueError(
                f"Berichtheader/Berichttype: is {header.berichttype!r}, "
                f"expected {self.BERICHTTYPE!r}"
            )
        if self.MODULES and header.module not in self.MODULES:
            raise ValueError(
                f"Berichtheader/Module: module {header.module} does not carry "
                f"{self.BERICHTTYPE}; allowed: {', '.join(self.MODULES)}"
            )
        return self

    def to_json(self) -> dict[str, Any]:
        """The message's JSON form (design.md: SKN element names, amounts as strings)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
