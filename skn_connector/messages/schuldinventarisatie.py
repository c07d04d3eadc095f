"""Module Schuldinventarisatie: the Saldoverzoek and its answers.

The Saldoverzoek travels in three modules (Schuldinventarisatie, Betalingsregeling,
Schuldregeling); its definition lives here, where the inventory starts.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Literal, Self

from pydantic import Field, model_validator

from .common import (
    Adres,
    Bedrag,
    Contactpersoon,
    Klant,
    LangeTekst,
    Message,
    Partner,
    PositiefBedrag,
    SknModel,
    Tekst,
    TypeSchuldregeling,
    check_type_fits_module,
)

SALDOVERZOEK_MODULES = ("Schuldinventarisatie", "Betalingsregeling", "Schuldregeling")


class GevraagdeVordering(SknModel):
    """A claim as the SHV knows it: only its invoice number at the SE."""

    factuurnummer_se_volgens_shv: Tekst = Field(alias="FactuurnummerSEVolgensSHV")


class Saldoverzoek(Message):
    BERICHTTYPE: ClassVar[str] = "Saldoverzoek"
    MODULES: ClassVar[tuple[str, ...]] = SALDOVERZOEK_MODULES

    schuldhulpverlener: Tekst = Field(alias="Schuldhulpverlener")
    contactpersoon: Contactpersoon = Field(alias="Contactpersoon")
    klantnummer_shv: Tekst = Field(alias="KlantnummerSHV")
    klantnummer_se_volgens_shv: Tekst | None = Field(default=None, alias="KlantnummerSEVolgensSHV")
    type_schuldregeling: TypeSchuldregeling | None = Field(default=None, alias="TypeSchuldregeling")
    klant: Klant = Field(alias="Klant")
    partner: Partner | None = Field(default=None, alias="Partner")
    adres: Adres = Field(alias="Adres")
    vorderingen: tuple[GevraagdeVordering, ...] = Field(default=(), alias="Vorderingen")

    @model_validator(mode="after")
    def _type_fits_module(self) -> Self:
        check_type_fits_module(self.berichtheader.module, self.type_schuldregeling)
        return self


class OvergedragenAan(SknModel):
    naam: Tekst = Field(alias="Naam")
    contactpersoon: Tekst | None = Field(default=None, alias="Contactpersoon")


Schuldtype = Literal["openstaande schuld", "overgedragen schuld", "onbekende schuld bij SE"]


class OpgegevenVordering(SknModel):
    """A claim in a saldo answer. Matched claims carry the SHV's invoice number."""

    schuldtype: Schuldtype = Field(alias="Schuldtype")
    factuurnummer_se_volgens_shv: Tekst | None = Field(
        default=None, alias="FactuurnummerSEVolgensSHV"
    )
    factuurnummer_se: Tekst | None = Field(default=None, alias="FactuurnummerSE")
    omschrijving: Tekst | None = Field(default=None, alias="Omschrijving")
    ontstaansdatum: date | None = Field(default=None, alias="Ontstaansdatum")
    originele_vordering: PositiefBedrag | None = Field(default=None, alias="OrigineleVordering")
    hoofdsom: PositiefBedrag | None = Field(default=None, alias="Hoofdsom")
    rente: PositiefBedrag | None = Field(default=None, alias="Rente")
    kosten: PositiefBedrag | None = Field(default=None, alias="Kosten")
    openstaand: Bedrag | None = Field(default=None, alias="Openstaand")
    overgedragen_aan: OvergedragenAan | None = Field(default=None, alias="OvergedragenAan")

    @model_validator(mode="after")
    def _amounts_fit_schuldtype(self) -> Self:
        amounts = (
            self.originele_vordering,
            self.hoofdsom,
            self.rente,
            self.kosten,
            self.openstaand,
        )
        if self.schuldtype == "onbekende schuld bij SE":
            if any(a is not None for a in amounts) or self.factuurnummer_se is not None:
                raise ValueError(
                    "a claim of Schuldtype 'onbekende schuld bij SE' carries no amounts"
                )
        elif self.openstaand is None:
            raise ValueError(
                f"Openstaand: a claim of Schuldtype {self.schuldtype!r} needs Openstaand"
            )
        if self.schuldtype == "overgedragen schuld" and self.overgedragen_aan is None:
            raise ValueError(
                "OvergedragenAan: a claim of Schuldtype 'overgedragen schuld' needs OvergedragenAan"
            )
        return self


class OngematchteSchulden(SknModel):
    """The SE's other open claims: exactly one of Totaalvordering or OpenstaandeSchulden."""

    totaalvordering: PositiefBedrag | None = Field(default=None, alias="Totaalvordering")
    openstaande_schulden: tuple[OpgegevenVordering, ...] | None = Field(
        default=None, alias="OpenstaandeSchulden"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.totaalvordering is None) == (self.openstaande_schulden is None):
            raise ValueError("exactly one of Totaalvordering or OpenstaandeSchulden is required")
        if self.openstaande_schulden == ():
            raise ValueError("OpenstaandeSchulden: holds at least one claim")
        for index, claim in enumerate(self.openstaande_schulden or ()):
            if claim.factuurnummer_se_volgens_shv is not None:
                raise ValueError(
                    f"OpenstaandeSchulden/{index}/FactuurnummerSEVolgensSHV: "
                    "an unmatched claim carries no FactuurnummerSEVolgensSHV"
                )
            if claim.schuldtype == "onbekende schuld bij SE":
                raise ValueError(
                    f"OpenstaandeSchulden/{index}/Schuldtype: "
                    "an unmatched claim cannot be 'onbekende schuld bij SE'"
                )
        return self


class SaldoAntwoordBasis(Message):
    """The fields and rules of SaldoverzoekAntwoord and SaldoverzoekAntwoordVoorafAkkoord."""

    INCOMING: ClassVar[bool] = False

    klantnummer_se: Tekst | None = Field(default=None, alias="KlantnummerSE")
    contactpersoon: Contactpersoon = Field(alias="Contactpersoon")
    klant_onbekend: bool = Field(alias="KlantOnbekend")
    standaard_akkoord: bool = Field(alias="StandaardAkkoord")
    datum: date = Field(alias="Datum")
    vorderingen: Annotated[tuple[OpgegevenVordering, ...], Field(min_length=1)] | None = Field(
        default=None, alias="Vorderingen"
    )
    ongematchte_schulden: OngematchteSchulden | None = Field(
        default=None, alias="OngematchteSchulden"
    )

    @model_validator(mode="after")
    def _claims_present(self) -> Self:
        if not self.klant_onbekend and not self.vorderingen and self.ongematchte_schulden is None:
            raise ValueError(
                "Vorderingen: Vorderingen or OngematchteSchulden is required "
                "unless KlantOnbekend is true"
            )
        for index, claim in enumerate(self.vorderingen or ()):
            if claim.factuurnummer_se_volgens_shv is None:
                raise ValueError(
                    f"Vorderingen/{index}/FactuurnummerSEVolgensSHV: every claim under "
                    "Vorderingen carries the SHV's FactuurnummerSEVolgensSHV"
                )
        return self


class SaldoverzoekAntwoord(SaldoAntwoordBasis):
    BERICHTTYPE: ClassVar[str] = "SaldoverzoekAntwoord"
    MODULES: ClassVar[tuple[str, ...]] = SALDOVERZOEK_MODULES


GeenMedewerkingReden = Literal[
    "KLANT_ONBEKEND",
    "RECENT_FINALE_KWIJTING",
    "RECENT_POGING_STABILISATIE",
    "GEEN_SAMENWERKING_SHV",
]


class GeenMedewerking(Message):
    BERICHTTYPE: ClassVar[str] = "GeenMedewerking"
    MODULES: ClassVar[tuple[str, ...]] = SALDOVERZOEK_MODULES
    INCOMING: ClassVar[bool] = False

    contactpersoon: Contactpersoon = Field(alias="Contactpersoon")
    reden: GeenMedewerkingReden = Field(alias="Reden")
    toelichting: LangeTekst | None = Field(default=None, alias="Toelichting")
