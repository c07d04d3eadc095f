"""Proposal and end of an arrangement: messages of both Betalingsregeling and Schuldregeling.

The Betalingsregeling module is "equal to the Schuldregeling module" except that its
proposals are a 100% betalingsregeling (BR) or a herfinanciering (HF); the messages shared
by both modules live here, the Schuldregeling-only ones in ``schuldregeling``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Self

from pydantic import Field, model_validator

from .common import (
    Contactpersoon,
    LangeTekst,
    Looptijd,
    Message,
    Percentage,
    PositiefBedrag,
    ProcesDatum,
    SknModel,
    Tekst,
    TypeSchuldregeling,
    check_type_fits_module,
)

REGELING_MODULES = ("Betalingsregeling", "Schuldregeling")

#: A payment moment of an arrangement; its values are not documented (provisional: text).
Uitbetaalmoment = Tekst
#: The allocation type of a claim; its values are not documented (provisional: text).
VorderingsType = Tekst

Uitbetaalmomenten = Annotated[tuple[Uitbetaalmoment, ...], Field(min_length=1)]


class VoorgesteldeVordering(SknModel):
    """A claim in a payment proposal: what the SE claims and what the proposal offers."""

    factuurnummer_se: Tekst = Field(alias="FactuurnummerSE")
    actueel_vorderingsbedrag: PositiefBedrag = Field(alias="ActueelVorderingsbedrag")
    afkooppercentage: Percentage = Field(alias="Afkooppercentage")
    prognose_eindbedrag: PositiefBedrag = Field(alias="PrognoseEindbedrag")
    vorderings_type: VorderingsType | None = Field(default=None, alias="VorderingsType")


class VoorstelBasis(Message):
    """The fields and rules of Betaalvoorstel and Heroverweging."""

    klantnummer_shv: Tekst = Field(alias="KlantnummerSHV")
    klantnummer_se: Tekst = Field(alias="KlantnummerSE")
    type_schuldregeling: TypeSchuldregeling = Field(alias="TypeSchuldregeling")
    looptijd: Looptijd = Field(alias="Looptijd")
    datum_eerste_betaling: ProcesDatum | None = Field(default=None, alias="DatumEersteBetaling")
    uitbetaalmomenten: Uitbetaalmomenten | None = Field(default=None, alias="Uitbetaalmomenten")
    vorderingen: Annotated[tuple[VoorgesteldeVordering, ...], Field(min_length=1)] = Field(
        alias="Vorderingen"
    )

    @model_validator(mode="after")
    def _type_fits_module(self) -> Self:
        check_type_fits_module(self.berichtheader.module, self.type_schuldregeling)
        return self


class Betaalvoorstel(VoorstelBasis):
    """The SHV proposes an arrangement; the SE answers with a BetaalvoorstelAntwoord."""

    BERICHTTYPE: ClassVar[str] = "Betaalvoorstel"
    MODULES: ClassVar[tuple[str, ...]] = REGELING_MODULES


BetaalvoorstelAntwoordLiteral = Literal["AKKOORD", "NIET_AKKOORD"]


class BetaalvoorstelAntwoord(Message):
    """The SE agrees or does not agree with a Betaalvoorstel or a Heroverweging."""

    BERICHTTYPE: ClassVar[str] = "BetaalvoorstelAntwoord"
    MODULES: ClassVar[tuple[str, ...]] = REGELING_MODULES
    INCOMING: ClassVar[bool] = False

    klantnummer_se: Tekst = Field(alias="KlantnummerSE")
    contactpersoon: Contactpersoon = Field(alias="Contactpersoon")
    antwoord: BetaalvoorstelAntwoordLiteral = Field(alias="Antwoord")
    reden: Tekst | None = Field(default=None, alias="Reden")
    toelichting: LangeTekst | None = Field(default=None, alias="Toelichting")

    @model_validator(mode="after")
    def _reden_with_niet_akkoord(self) -> Self:
        if self.antwoord == "NIET_AKKOORD" and self.reden is None:
            raise ValueError("Reden: required when Antwoord is NIET_AKKOORD")
        return self


BeeindigingReden = Literal[
    "GESLAAGD",
    "VOORTIJDIG_BEEINDIGD",
    "NIET_TOT_STAND_GEKOMEN",
    "OVERLIJDEN",
    "WSNP",
]


class SchuldregelingBeeindigd(Message):
    """The SHV reports that an arrangement ended (or did not come about); no answer."""

    BERICHTTYPE: ClassVar[str] = "SchuldregelingBeeindigd"
    MODULES: ClassVar[tuple[str, ...]] = REGELING_MODULES

    klantnummer_shv: Tekst = Field(alias="KlantnummerSHV")
    klantnummer_se: Tekst | None = Field(default=None, alias="KlantnummerSE")
    datum_beeindiging: ProcesDatum = Field(alias="DatumBeeindiging")
    reden: BeeindigingReden = Field(alias="Reden")
    toelichting: LangeTekst | None = Field(default=None, alias="Toelichting")
