"""Module Meldingen bewindvoering: a bewindvoerder tells the SE about bewind or the Wsnp.

The public documentation names the purpose only; the message (its name included) is
provisional, see ``provisional.PROVISIONAL_NAMES``. The SE does not answer.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from .common import Adres, Contactpersoon, KlantMetBsn, Message, ProcesDatum, SknModel, Tekst

BewindSoort = Literal["BESCHERMINGSBEWIND", "WSNP"]
BewindGebeurtenis = Literal["START", "EINDE"]


class Bewindvoerder(SknModel):
    """The bewindvoerder (or Wsnp administrator) who sends the notification."""

    naam: Tekst = Field(alias="Naam")
    contactpersoon: Contactpersoon = Field(alias="Contactpersoon")
    adres: Adres | None = Field(default=None, alias="Adres")


class MeldingBewind(Message):
    """The client is placed under bewind or admitted to the Wsnp (START), or it ends (EINDE)."""

    BERICHTTYPE: ClassVar[str] = "MeldingBewind"
    MODULES: ClassVar[tuple[str, ...]] = ("MeldingenBewindvoering",)

    bewindvoerder: Bewindvoerder = Field(alias="Bewindvoerder")
    klant: KlantMetBsn = Field(alias="Klant")
    adres: Adres = Field(alias="Adres")
    soort: BewindSoort = Field(alias="Soort")
    gebeurtenis: BewindGebeurtenis = Field(alias="Gebeurtenis")
    datum_uitspraak: ProcesDatum = Field(alias="DatumUitspraak")
    rechtbank: Tekst | None = Field(default=None, alias="Rechtbank")
    zaaknummer: Tekst | None = Field(default=None, alias="Zaaknummer")
