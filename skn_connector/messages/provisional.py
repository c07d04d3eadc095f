"""Every provisional (P) choice of the message catalog, in one place.

The official SKN toolkit XSDs are not public. Where the public documentation is
silent, spec/messages.md fixes a provisional name or literal; each of them is
defined here (and only here) so that a creditor holding the toolkit can correct
them against the official schemas. docs/messages.md lists them.
"""

from __future__ import annotations

from typing import Final

#: The wire profile version carried in ``Berichtheader/Versie``.
PROFILE_VERSION: Final = "2.0"

#: Literals of ``Geslacht``; ``X`` is provisional.
GESLACHT: Final = ("M", "V", "X")

#: Literals of ``GeenMedewerking/Reden``: the four documented reasons, names provisional.
GEEN_MEDEWERKING_REDENEN: Final = (
    "KLANT_ONBEKEND",
    "RECENT_FINALE_KWIJTING",
    "RECENT_POGING_STABILISATIE",
    "GEEN_SAMENWERKING_SHV",
)

#: Literals of ``Vordering/Schuldtype`` in a saldo answer (documented in the CSV spec).
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
