"""Building the standard answers from a request and the back-office's facts."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import date, datetime

from ..adapters.api import Claim
from ..messages import (
    Berichtheader,
    Contactpersoon,
    GeenMedewerking,
    Message,
    OngematchteSchulden,
    OpgegevenVordering,
    OvergedragenAan,
    Saldoverzoek,
    SaldoverzoekAntwoord,
)
from ..messages.provisional import PROFILE_VERSION

_SEPARATORS = re.compile(r"[\s./\-_]+")


def normalise_factuurnummer(value: str) -> str:
    """Invoice numbers match ignoring case, spaces, dots, slashes, dashes and underscores."""
    return _SEPARATORS.sub("", value).upper()


def reply_header(
    request: Message, berichttype: str, *, referentie: str, now: datetime
) -> Berichtheader:
    """The header of an answer: same conversation, Afzender and Ontvanger swapped, a new id."""
    asked = request.berichtheader
    return Berichtheader(
        BerichtId=uuid.uuid4(),
        Berichttype=berichttype,
        Module=asked.module,
        Versie=PROFILE_VERSION,
        ConversatieReferentienummer=asked.conversatie_referentienummer,
        Referentienummer=referentie,
        Afzender=asked.ontvanger,
        Ontvanger=asked.afzender,
        Verzonden=now,
    )


def _claim_entry(claim: Claim, shv_number: str | None) -> OpgegevenVordering:
    transferred = claim.status == "overgedragen"
    return OpgegevenVordering(
        Schuldtype="overgedragen schuld" if transferred else "openstaande schuld",
        FactuurnummerSEVolgensSHV=shv_number,
        FactuurnummerSE=claim.factuurnummer,
        Omschrijving=claim.omschrijving[:200] or None,
        Ontstaansdatum=claim.ontstaansdatum,
        OrigineleVordering=claim.originele_vordering,
        Hoofdsom=claim.hoofdsom,
        Rente=claim.rente,
        Kosten=claim.kosten,
        Openstaand=claim.openstaand,
        OvergedragenAan=(
            OvergedragenAan(Naam=claim.overgedragen_aan or "onbekende partij")
            if transferred
            else None
        ),
    )


def match_claims(
    shv_numbers: Sequence[str], claims: Sequence[Claim]
) -> tuple[list[OpgegevenVordering], list[Claim]]:
    """One entry per invoice number the SHV listed; the claims it did not list stay apart."""
    by_number: dict[str, Claim] = {}
    for claim in claims:
        by_number.setdefault(normalise_factuurnummer(claim.factuurnummer), claim)
    used: set[str] = set()
    entries: list[OpgegevenVordering] = []
    for number in shv_numbers:
        key = normalise_factuurnummer(number)
        claim = by_number.get(key)
        if claim is None or key in used:
            entries.append(
                OpgegevenVordering(
                    Schuldtype="onbekende schuld bij SE", FactuurnummerSEVolgensSHV=number
                )
            )
            continue
        used.add(key)
        entries.append(_claim_entry(claim, number))
    unmatched = [c for c in claims if normalise_factuurnummer(c.factuurnummer) not in used]
    return entries, unmatched


def saldo_answer(
    request: Saldoverzoek,
    *,
    klantnummer_se: str,
    claims: Sequence[Claim],
    contact: Contactpersoon,
    referentie: str,
    now: datetime,
    today: date,
) -> SaldoverzoekAntwoord:
    """A SaldoverzoekAntwoord: the SHV's invoice numbers matched, the rest unmatched."""
    shv_numbers = [v.factuurnummer_se_volgens_shv for v in request.vorderingen]
    entries, unmatched = match_claims(shv_numbers, claims)
    ongematcht: OngematchteSchulden | None = None
    if unmatched:
        ongematcht = OngematchteSchulden(
            OpenstaandeSchulden=tuple(_claim_entry(c, None) for c in unmatched)
        )
    elif not entries:
        # nothing asked and nothing open: say so explicitly with a zero total
        ongematcht = OngematchteSchulden(Totaalvordering=0)
    return SaldoverzoekAntwoord(
        Berichtheader=reply_header(request, "SaldoverzoekAntwoord", referentie=referentie, now=now),
        KlantnummerSE=klantnummer_se,
        Contactpersoon=contact,
        KlantOnbekend=False,
        StandaardAkkoord=False,
        Datum=today,
        Vorderingen=tuple(entries) or None,
        OngematchteSchulden=ongematcht,
    )


def geen_medewerking(
    request: Message,
    *,
    reden: str,
    toelichting: str | None,
    contact: Contactpersoon,
    referentie: str,
    now: datetime,
) -> GeenMedewerking:
    return GeenMedewerking.model_validate(
        {
            "Berichtheader": reply_header(
                request, "GeenMedewerking", referentie=referentie, now=now
            ),
            "Contactpersoon": contact,
            "Reden": reden,
            "Toelichting": toelichting,
        }
    )
