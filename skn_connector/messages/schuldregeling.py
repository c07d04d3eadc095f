"""Module Schuldregeling (Schuldregelen 2.0): the messages only this module carries.

Saldoverzoek, SaldoverzoekAntwoord and GeenMedewerking live in ``schuldinventarisatie``;
Betaalvoorstel, BetaalvoorstelAntwoord and SchuldregelingBeeindigd (shared with
Betalingsregeling) in ``betalingsregeling``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Self

from pydantic import Field, field_validator, model_validator

from .betalingsregeling import Uitbetaalmomenten, VoorstelBasis, VorderingsType
from .common import (
    Adres,
    Contactpersoon,
    Klant,
    KlantMetBsn,
    LangeTekst,
    Message,
    Partner,
    Percentage,
    PositiefBedrag,
    ProcesDatum,
    SknModel,
    Tekst,
    TypeSchuldregeling,
    check_type_fits_module,
)
from .schuldinventarisatie import GevraagdeVordering, SaldoAntwoordBasis

SCHULDREGELING: tuple[str, ...] = ("Schuldregeling",)


class KennisgevingBasis(Message):
    """The fields of Kennisgeving and KennisgevingPubliek."""

    schuldhulpverlener: Tekst = Field(alias="Schuldhulpverlener")
    contactpersoon: Contactpersoon = Field(alias="Contactpersoon")
    klantnummer_shv: Tekst = Field(alias="KlantnummerSHV")
    klantnummer_se_volgens_shv: Tekst | None = Field(default=None, alias="KlantnummerSEVolgensSHV")
    klant: Klant = Field(alias="Klant")
    partner: Partner | None = Field(default=None, alias="Partner")
    adres: Adres = Field(alias="Adres")
    datum_aanmelding: ProcesDatum = Field(alias="DatumAanmelding")
    vorderingen: Annotated[tuple[GevraagdeVordering, ...], Field(min_length=1)] | None = Field(
        default=None, alias="Vorderingen"
    )


class Kennisgeving(KennisgevingBasis):
    """The client applied for debt help (for an SE that does not use the BSN)."""

    BERICHTTYPE: ClassVar[str] = "Kennisgeving"
    MODULES: ClassVar[tuple[str, ...]] = SCHULDREGELING


class KennisgevingPubliek(KennisgevingBasis):
    """As Kennisgeving, for an SE that uses the BSN: ``Klant/Bsn`` is required."""

    BERICHTTYPE: ClassVar[str] = "KennisgevingPubliek"
    MODULES: ClassVar[tuple[str, ...]] = SCHULDREGELING

    klant: KlantMetBsn = Field(alias="Klant")


KennisgevingAntwoordLiteral = Literal["ONTVANGEN"]


class KennisgevingAntwoord(Message):
    """The SE's optional answer to a Kennisgeving: its client number and invoice numbers."""

    BERICHTTYPE: ClassVar[str] = "KennisgevingAntwoord"
    MODULES: ClassVar[tuple[str, ...]] = SCHULDREGELING
    INCOMING: ClassVar[bool] = False

    contactpersoon: Contactpersoon = Field(alias="Contactpersoon")
    antwoord: KennisgevingAntwoordLiteral = Field(alias="Antwoord")
    klantnummer_se: Tekst | None = Field(default=None, alias="KlantnummerSE")
    factuurnummers: Annotated[tuple[Tekst, ...], Field(min_length=1)] | None = Field(
        default=None, alias="Factuurnummers"
    )


class SaldoverzoekAntwoordVoorafAkkoord(SaldoAntwoordBasis):
    """A saldo answer with the SE's advance consent (collectief schuldregelen)."""

    BERICHTTYPE: ClassVar[str] = "SaldoverzoekAntwoordVoorafAkkoord"
    MODULES: ClassVar[tuple[str, ...]] = SCHULDREGELING

    @field_validator("standaard_akkoord")
    @classmethod
    def _standaard_akkoord_is_true(cls, value: bool) -> bool:
        if not value:
            raise ValueError("StandaardAkkoord is true in a SaldoverzoekAntwoordVoorafAkkoord")
        return value


class Heroverweging(VoorstelBasis):
    """The SHV asks the SE to reconsider a proposal it refused: a Betaalvoorstel plus why."""

    BERICHTTYPE: ClassVar[str] = "Heroverweging"
    MODULES: ClassVar[tuple[str, ...]] = SCHULDREGELING

    toelichting: LangeTekst = Field(alias="Toelichting")


class GeaccordeerdeVordering(SknModel):
    """A claim in an agreed arrangement ("SbEnSk Regeling geaccordeerd 2.0", verified)."""

    factuurnummer_se: Tekst = Field(alias="FactuurnummerSE")
    afkooppercentage: Percentage = Field(alias="Afkooppercentage")
    prognose_eindbedrag: PositiefBedrag = Field(alias="PrognoseEindbedrag")
    actueel_vorderingsbedrag: PositiefBedrag = Field(alias="ActueelVorderingsbedrag")
    vorderings_type: VorderingsType = Field(alias="VorderingsType")
    betaalreferentie: Tekst = Field(alias="Betaalreferentie")


class SchuldregelingAkkoord(Message):
    """The arrangement is agreed (verified field list); the SE does not answer."""

    BERICHTTYPE: ClassVar[str] = "SchuldregelingAkkoord"
    MODULES: ClassVar[tuple[str, ...]] = SCHULDREGELING

    datum_akkoord: ProcesDatum = Field(alias="DatumAkkoord")
    klantnummer_se: Tekst = Field(alias="KlantnummerSE")
    klantnummer_shv: Tekst = Field(alias="KlantnummerSHV")
    type_schuldregeling: TypeSchuldregeling = Field(alias="TypeSchuldregeling")
    uitbetaalmomenten: Uitbetaalmomenten | None = Field(default=None, alias="Uitbetaalmomenten")
    vorderingen: Annotated[tuple[GeaccordeerdeVordering, ...], Field(min_length=1)] = Field(
        alias="Vorderingen"
    )

    @model_validator(mode="after")
    def _type_fits_module(self) -> Self:
        check_type_fits_module(self.berichtheader.module, self.type_schuldregeling)
        return self


class StatusberichtSHV(Message):
    """The SHV reports the state of a dossier (also the answer to a Statusverzoek)."""

    BERICHTTYPE: ClassVar[str] = "StatusberichtSHV"
    MODULES: ClassVar[tuple[str, ...]] = SCHULDREGELING

    klantnummer_shv: Tekst = Field(alias="KlantnummerSHV")
    klantnummer_se: Tekst | None = Field(default=None, alias="KlantnummerSE")
    status: Tekst = Field(alias="Status")
    toelichting: LangeTekst | None = Field(default=None, alias="Toelichting")


StatusSE = Literal[
    "INCASSO_OPGESCHORT",
    "INCASSO_HERVAT",
    "VORDERING_GEWIJZIGD",
    "VORDERING_OVERGEDRAGEN",
]


class StatusberichtSE(Message):
    """The SE reports a change on its own initiative (collection held or resumed, ...)."""

    BERICHTTYPE: ClassVar[str] = "StatusberichtSE"
    MODULES: ClassVar[tuple[str, ...]] = SCHULDREGELING
    INCOMING: ClassVar[bool] = False

    klantnummer_se: Tekst | None = Field(default=None, alias="KlantnummerSE")
    status: StatusSE = Field(alias="Status")
    toelichting: LangeTekst | None = Field(default=None, alias="Toelichting")


class Statusverzoek(Message):
    """The SE asks the SHV for the state of a dossier; the SHV answers with a StatusberichtSHV."""

    BERICHTTYPE: ClassVar[str] = "Statusverzoek"
    MODULES: ClassVar[tuple[str, ...]] = SCHULDREGELING
    INCOMING: ClassVar[bool] = False

    klantnummer_se: Tekst | None = Field(default=None, alias="KlantnummerSE")
    klantnummer_shv: Tekst = Field(alias="KlantnummerSHV")
    toelichting: LangeTekst | None = Field(default=None, alias="Toelichting")
