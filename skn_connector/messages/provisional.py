"""Every provisional (P) choice of the message catalog, in one place.

The official SKN toolkit XSDs are not public. Where the public documentation is
silent, the catalog fixes a provisional name or literal; each of them is defined
here (and only here) so that a creditor holding the toolkit can correct them
against the official schemas. docs/messages.md lists them. Together they are the
interpretation [SKN-CONNECTOR-CHOICE-PROVISIONAL]; what is documented is cited by the
source it comes from (docs/sources.md).
"""

from __future__ import annotations

from typing import Final

#: The version carried in ``Berichtheader/Versie``: the form ``<major>.<minor>`` is
#: documented [SKN-HEADER-SE-SERVICE]; the value is that of the message definitions we
#: mirror (2.0).
PROFILE_VERSION: Final = "2.0"

#: The messages an SE starts itself instead of answering one. They carry a new
#: Referentienummer, the ConversatieReferentienummer of the conversation they are about and
#: no CrossReferentienummer (P): the documentation defines CrossReferentienummer only for an
#: answer ("the Referentienummer of the message being answered"), and these answer nothing.
#: The SHV's StatusberichtSHV in reply to our Statusverzoek carries the Statusverzoek's
#: Referentienummer as its CrossReferentienummer, which joins the two into one thread.
SELF_STARTED: Final = ("StatusberichtSE", "Statusverzoek")

#: Literals of ``Geslacht``; ``X`` is provisional.
GESLACHT: Final = ("M", "V", "X")

#: Literals of ``GeenMedewerking/Reden``: the four documented reasons
#: [SKN-PROCESAFSPRAKEN-SE-5], names provisional.
GEEN_MEDEWERKING_REDENEN: Final = (
    "KLANT_ONBEKEND",
    "RECENT_FINALE_KWIJTING",
    "RECENT_POGING_STABILISATIE",
    "GEEN_SAMENWERKING_SHV",
)

#: Literals of ``Vordering/Schuldtype`` in a saldo answer (documented:
#: [SKN-CSV-SALDOVERZOEK-ANTWOORD]).
SCHULDTYPES: Final = ("openstaande schuld", "overgedragen schuld", "onbekende schuld bij SE")

#: Literals of ``Toestemmingsverklaring/Soort``.
TOESTEMMING_SOORTEN: Final = ("TOESTEMMINGSVERKLARING", "BESCHIKKING_BEWIND")

#: Item element names of repeated groups on the wire (``Vorderingen`` holds ``Vordering`` items).
LIST_ITEM_NAMES: Final[dict[str, str]] = {
    "Vorderingen": "Vordering",
    "OpenstaandeSchulden": "Vordering",
    "Factuurnummers": "Factuurnummer",
    "Uitbetaalmomenten": "Uitbetaalmoment",
}

# -- literals of the other messages (docs/messages.md marks each (P)) ---------------------

#: ``KennisgevingAntwoord/Antwoord``: the element is documented (new in 2.0,
#: [SKN-PROCESAFSPRAKEN-SE-3]), its values are not; the only answer an SE gives is that it
#: received the Kennisgeving.
KENNISGEVING_ANTWOORDEN: Final = ("ONTVANGEN",)

#: ``BetaalvoorstelAntwoord/Antwoord``: the SE agrees or does not agree with a proposal.
BETAALVOORSTEL_ANTWOORDEN: Final = ("AKKOORD", "NIET_AKKOORD")

#: ``SchuldregelingBeeindigd/Reden``: why a running (or intended) arrangement ended.
BEEINDIGING_REDENEN: Final = (
    "GESLAAGD",
    "VOORTIJDIG_BEEINDIGD",
    "NIET_TOT_STAND_GEKOMEN",
    "OVERLIJDEN",
    "WSNP",
)

#: ``StatusberichtSE/Status``: the changes an SE reports on its own initiative.
STATUSBERICHT_SE_STATUSSEN: Final = (
    "INCASSO_OPGESCHORT",
    "INCASSO_HERVAT",
    "VORDERING_GEWIJZIGD",
    "VORDERING_OVERGEDRAGEN",
)

#: ``MeldingBewind/Soort``: beschermingsbewind or admission to the Wsnp.
BEWIND_SOORTEN: Final = ("BESCHERMINGSBEWIND", "WSNP")

#: ``MeldingBewind/Gebeurtenis``: the bewind (or Wsnp) starts or ends.
BEWIND_GEBEURTENISSEN: Final = ("START", "EINDE")

# -- provisional element names ------------------------------------------------------------

#: Element names the public documentation does not give, per structure (the message's
#: Berichttype, or a shared structure). Values undocumented in the sources are typed as free
#: text: ``VorderingsType`` and each ``Uitbetaalmoment`` are ``Tekst`` until the official
#: enumerations are known. tests/test_catalog.py checks that each name is an element of its
#: structure, so this list cannot drift from the models.
PROVISIONAL_NAMES: Final[dict[str, tuple[str, ...]]] = {
    # the header's element names beyond the documented ones (Referentienummer,
    # CrossReferentienummer, ConversatieReferentienummer, Versie [SKN-HEADER-SE-SERVICE];
    # Afzender, Ontvanger [SKN-INVENT-LOGBOEK-ZOEKBERICHT])
    "Berichtheader": ("Berichttype", "Module", "Verzonden"),
    # documented as Adreskeuze, whose content is not public: we carry the Saldoverzoek's Adres
    "Kennisgeving": ("Adres", "DatumAanmelding"),
    "KennisgevingPubliek": ("Adres", "DatumAanmelding"),
    # the Antwoord element is documented, Factuurnummers (a list of text) is our name
    "KennisgevingAntwoord": ("Factuurnummers",),
    # a proposal's duration and first payment; the claims mirror SchuldregelingAkkoord
    "Betaalvoorstel": ("Looptijd", "DatumEersteBetaling"),
    "Heroverweging": ("Looptijd", "DatumEersteBetaling", "Toelichting"),
    "BetaalvoorstelAntwoord": ("Antwoord", "Reden", "Toelichting"),
    "SchuldregelingBeeindigd": ("DatumBeeindiging", "Reden", "Toelichting"),
    "StatusberichtSHV": ("Status", "Toelichting"),
    "StatusberichtSE": ("Status", "Toelichting"),
    "Statusverzoek": ("Toelichting",),
    # the whole message is undocumented (its name too)
    "MeldingBewind": (
        "Bewindvoerder",
        "Soort",
        "Gebeurtenis",
        "DatumUitspraak",
        "Rechtbank",
        "Zaaknummer",
    ),
    # amounts of a claim in a saldo answer, beyond the documented OrigineleVordering
    "OpgegevenVordering": ("Omschrijving", "Hoofdsom", "Rente", "Kosten", "Openstaand"),
}
