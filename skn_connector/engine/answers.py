"""Building the standard answers from a request and the back-office's facts."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal

from ..adapters.api import Claim
from ..ids import new_id
from ..messages import (
    Berichtheader,
    BetaalvoorstelAntwoord,
    Contactpersoon,
    GeenMedewerking,
    KennisgevingAntwoord,
    Message,
    OngematchteSchulden,
    OpgegevenVordering,
    OvergedragenAan,
    Saldoverzoek,
    SaldoverzoekAntwoord,
    SaldoverzoekAntwoordVoorafAkkoord,
)
from ..messages.common import Module
from ..messages.provisional import PROFILE_VERSION

_SEPARATORS = re.compile(r"[\s./\-_]+")


def normalise_factuurnummer(value: str) -> str:
    """Invoice numbers match ignoring case, spaces, dots, slashes, dashes and underscores."""
    return _SEPARATORS.sub("", value).upper()


def new_header(
    berichttype: str,
    *,
    module: Module,
    conversation: uuid.UUID,
    afzender: uuid.UUID,
    ontvanger: uuid.UUID,
    now: datetime,
    answers: uuid.UUID | None = None,
) -> Berichtheader:
    """The header of a message we send: a new Referentienummer, and the Referentienummer of
    the message it answers (``answers``) as its CrossReferentienummer. A message we start
    ourselves answers nothing (messages.provisional.SELF_STARTED)."""
    return Berichtheader(
        referentienummer=new_id(),
        cross_referentienummer=answers,
        conversatie_referentienummer=conversation,
        versie=PROFILE_VERSION,
        berichttype=berichttype,
        module=module,
        afzender=afzender,
        ontvanger=ontvanger,
        verzonden=now,
    )


def reply_header(request: Message, berichttype: str, *, now: datetime) -> Berichtheader:
    """The header of an answer: same conversation, Afzender and Ontvanger swapped, a new
    Referentienummer, the request's Referentienummer as its CrossReferentienummer."""
    asked = request.berichtheader
    return new_header(
        berichttype,
        module=asked.module,
        conversation=asked.conversatie_referentienummer,
        afzender=asked.ontvanger,
        ontvanger=asked.afzender,
        now=now,
        answers=asked.referentienummer,
    )


def _claim_entry(claim: Claim, shv_number: str | None) -> OpgegevenVordering:
    transferred = claim.status == "overgedragen"
    return OpgegevenVordering(
        schuldtype="overgedragen schuld" if transferred else "openstaande schuld",
        factuurnummer_se_volgens_shv=shv_number,
        factuurnummer_se=claim.factuurnummer,
        omschrijving=claim.omschrijving[:200] or None,
        ontstaansdatum=claim.ontstaansdatum,
        originele_vordering=claim.originele_vordering,
        hoofdsom=claim.hoofdsom,
        rente=claim.rente,
        kosten=claim.kosten,
        openstaand=claim.openstaand,
        overgedragen_aan=(
            OvergedragenAan(naam=claim.overgedragen_aan or "onbekende partij")
            if transferred
            else None
        ),
    )


def match_claims(
    shv_numbers: Sequence[str], claims: Sequence[Claim]
) -> tuple[list[OpgegevenVordering], list[Claim]]:
    """One entry per distinct invoice number the SHV listed, in the order first listed; the
    claims it did not list stay apart.

    A number listed again, also when written otherwise ("2024.000101", "2024-000101 "), is
    the same claim: its first listing answers it, and a repeat gets no entry of its own
    (it would otherwise be reported as a claim unknown to us, or twice).
    """
    by_number: dict[str, Claim] = {}
    for claim in claims:
        by_number.setdefault(normalise_factuurnummer(claim.factuurnummer), claim)
    listed: set[str] = set()
    entries: list[OpgegevenVordering] = []
    for number in shv_numbers:
        key = normalise_factuurnummer(number)
        if key in listed:
            continue
        listed.add(key)
        found = by_number.get(key)
        entries.append(
            _claim_entry(found, number)
            if found is not None
            else OpgegevenVordering(
                schuldtype="onbekende schuld bij SE", factuurnummer_se_volgens_shv=number
            )
        )
    unmatched = [c for c in claims if normalise_factuurnummer(c.factuurnummer) not in listed]
    return entries, unmatched


def saldo_answer(
    request: Saldoverzoek,
    *,
    klantnummer_se: str,
    claims: Sequence[Claim],
    contact: Contactpersoon,
    now: datetime,
    today: date,
    vooraf_akkoord: bool = False,
    obstacles: Mapping[str, str] | None = None,
) -> SaldoverzoekAntwoord | SaldoverzoekAntwoordVoorafAkkoord:
    """A SaldoverzoekAntwoord: the SHV's invoice numbers matched, the rest unmatched."""
    shv_numbers = [v.factuurnummer_se_volgens_shv for v in request.vorderingen]
    if obstacles:
        # the answer states an obstacle (fraud, not saneerbaar, disputed) in the claim's
        # description: the catalog has no element of its own for it (P)
        claims = [
            c.model_copy(
                update={"omschrijving": f"{c.omschrijving} ({obstacles[c.factuurnummer]})"}
            )
            if c.factuurnummer in obstacles
            else c
            for c in claims
        ]
    entries, unmatched = match_claims(shv_numbers, claims)
    ongematcht: OngematchteSchulden | None = None
    if unmatched:
        ongematcht = OngematchteSchulden(
            openstaande_schulden=tuple(_claim_entry(c, None) for c in unmatched)
        )
    elif not entries:
        # nothing asked and nothing open: say so explicitly with a zero total
        ongematcht = OngematchteSchulden(totaalvordering=Decimal("0.00"))
    cls = SaldoverzoekAntwoordVoorafAkkoord if vooraf_akkoord else SaldoverzoekAntwoord
    return cls(
        berichtheader=reply_header(request, cls.BERICHTTYPE, now=now),
        klantnummer_se=klantnummer_se,
        contactpersoon=contact,
        klant_onbekend=False,
        standaard_akkoord=vooraf_akkoord,
        datum=today,
        vorderingen=tuple(entries) or None,
        ongematchte_schulden=ongematcht,
    )


def geen_medewerking(
    request: Message,
    *,
    reden: str,
    toelichting: str | None,
    contact: Contactpersoon,
    now: datetime,
) -> GeenMedewerking:
    return GeenMedewerking.model_validate(
        {
            "Berichtheader": reply_header(request, "GeenMedewerking", now=now),
            "Contactpersoon": contact,
            "Reden": reden,
            "Toelichting": toelichting,
        }
    )


def kennisgeving_answer(
    request: Message,
    *,
    klantnummer_se: str,
    factuurnummers: Sequence[str],
    contact: Contactpersoon,
    now: datetime,
) -> KennisgevingAntwoord:
    """Received: our client number and invoice numbers help the SHV match later messages."""
    return KennisgevingAntwoord(
        berichtheader=reply_header(request, "KennisgevingAntwoord", now=now),
        contactpersoon=contact,
        antwoord="ONTVANGEN",
        klantnummer_se=klantnummer_se,
        factuurnummers=tuple(factuurnummers) or None,
    )


def proposal_answer(
    request: Message,
    *,
    klantnummer_se: str,
    accept: bool,
    reden: str | None,
    contact: Contactpersoon,
    now: datetime,
) -> BetaalvoorstelAntwoord:
    return BetaalvoorstelAntwoord(
        berichtheader=reply_header(request, "BetaalvoorstelAntwoord", now=now),
        klantnummer_se=klantnummer_se,
        contactpersoon=contact,
        antwoord="AKKOORD" if accept else "NIET_AKKOORD",
        reden=None if accept else (reden or "niet akkoord")[:200],
        # an acceptance with a condition (e.g. a criminal sanction's remainder stays payable)
        # carries it as an explanation
        toelichting=(reden[:2000] or None) if accept and reden else None,
    )
