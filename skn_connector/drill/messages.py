"""The counsellors' messages in their JSON form (synthetic: the sample back-offices'
invented debtors), as the simulator's ``queue_message`` takes them."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..adapters.api import Claim, SampleDebtor
from .population import Planned, Send, Story

#: Synthetic SHV participants (not real SKN participants), population.COUNSELLOR_COUNT of them.
COUNSELLORS = (
    (uuid.UUID("0c7d5e4f-3b2a-4198-8e76-5a4b3c2d1e0f"), "Kredietbank Voorbeeldstad"),
    (uuid.UUID("1d8e6f50-4c3b-4a29-9f87-6b5c4d3e2f10"), "Schuldhulp Proefdorp"),
    (uuid.UUID("2e9f7061-5d4c-4b3a-8098-7c6d5e4f3021"), "Budgetbureau Testwijk"),
)
BEWIND_ID = uuid.UUID("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d")
AFKOOP = Decimal("15.00")


def build(
    planned: Planned,
    creditor: uuid.UUID,
    debtor: SampleDebtor,
    claims: list[Claim],
    sent_at: datetime,
) -> dict[str, Any] | None:
    """The message ``planned`` names, about ``debtor`` with its open ``claims`` now; None for
    a proposal or an akkoord when nothing is owed any more (no counsellor sends those)."""
    send = planned.send
    sender, shv = COUNSELLORS[planned.counsellor]
    module = {
        Send.SALDO_INVENTORY: "Schuldinventarisatie",
        Send.BEWIND_START: "MeldingenBewindvoering",
        Send.BEWIND_END: "MeldingenBewindvoering",
        Send.WSNP_START: "MeldingenBewindvoering",
        Send.WSNP_END: "MeldingenBewindvoering",
    }.get(send, "Schuldregeling")
    berichttype = {
        Send.SALDO_INVENTORY: "Saldoverzoek",
        Send.SALDO_REGELING: "Saldoverzoek",
        Send.BEWIND_START: "MeldingBewind",
        Send.BEWIND_END: "MeldingBewind",
        Send.WSNP_START: "MeldingBewind",
        Send.WSNP_END: "MeldingBewind",
    }.get(send, send.value)
    header = {
        "Referentienummer": str(planned.referentienummer),
        "ConversatieReferentienummer": str(planned.conversation),
        "Versie": "2.0",
        "Berichttype": berichttype,
        "Module": module,
        "Afzender": str(BEWIND_ID if module == "MeldingenBewindvoering" else sender),
        "Ontvanger": str(creditor),
        "Verzonden": sent_at.isoformat(),
    }
    klantnummer_shv = f"KB{planned.debtor:03d}{planned.counsellor}"
    contact = {"Naam": "T. Consulent", "Emailadres": "consulent@shv.example"}
    open_claims = [c for c in claims if c.openstaand > 0]
    if not open_claims and send in {Send.BETAALVOORSTEL, Send.HEROVERWEGING, Send.AKKOORD}:
        return None
    if send in {Send.SALDO_INVENTORY, Send.SALDO_REGELING, Send.KENNISGEVING}:
        message: dict[str, Any] = {
            "Berichtheader": header,
            "Schuldhulpverlener": shv,
            "Contactpersoon": contact,
            "KlantnummerSHV": klantnummer_shv,
        }
        if send != Send.KENNISGEVING:
            message["KlantnummerSEVolgensSHV"] = debtor.klantnummer_se
        if send == Send.SALDO_REGELING:
            message["TypeSchuldregeling"] = "SB"
        message["Klant"] = debtor.person.as_klant()
        message["Adres"] = debtor.as_adres()
        if send == Send.KENNISGEVING:
            message["DatumAanmelding"] = sent_at.date().isoformat()
        message["Vorderingen"] = [{"FactuurnummerSEVolgensSHV": n} for n in debtor.factuurnummers]
        return message
    if send in {Send.BETAALVOORSTEL, Send.HEROVERWEGING}:
        message = {
            "Berichtheader": header,
            "KlantnummerSHV": klantnummer_shv,
            "KlantnummerSE": debtor.klantnummer_se,
            "TypeSchuldregeling": "SB",
            # a proposal the story has refused falls outside the criteria: a person decides
            "Looptijd": 24 if planned.story == Story.NOT_REACHED else 18,
            "DatumEersteBetaling": sent_at.date().replace(day=1).isoformat(),
            "Vorderingen": [_proposed(c) for c in open_claims],
        }
        if send == Send.HEROVERWEGING:
            message["Toelichting"] = "Alle andere schuldeisers zijn akkoord."
        return message
    if send == Send.AKKOORD:
        return {
            "Berichtheader": header,
            "DatumAkkoord": sent_at.date().isoformat(),
            "KlantnummerSE": debtor.klantnummer_se,
            "KlantnummerSHV": klantnummer_shv,
            "TypeSchuldregeling": "SB",
            "Vorderingen": [
                {
                    **_proposed(c),
                    "VorderingsType": "CONCURRENT",
                    "Betaalreferentie": f"{klantnummer_shv}-{i}",
                }
                for i, c in enumerate(open_claims)
            ],
        }
    if send == Send.BEEINDIGD:
        return {
            "Berichtheader": header,
            "KlantnummerSHV": klantnummer_shv,
            "KlantnummerSE": debtor.klantnummer_se,
            "DatumBeeindiging": sent_at.date().isoformat(),
            "Reden": planned.reden,
        }
    return {
        "Berichtheader": header,
        "Bewindvoerder": {
            "Naam": "Bewindvoering Voorbeeldstad",
            "Contactpersoon": {"Naam": "B. Voerder"},
        },
        "Klant": debtor.person.as_klant(),
        "Adres": debtor.as_adres(),
        "Soort": "WSNP" if send in {Send.WSNP_START, Send.WSNP_END} else "BESCHERMINGSBEWIND",
        "Gebeurtenis": "START" if send in {Send.BEWIND_START, Send.WSNP_START} else "EINDE",
        "DatumUitspraak": sent_at.date().isoformat(),
        "Rechtbank": "Rechtbank Voorbeeldstad",
    }


def _proposed(claim: Claim) -> dict[str, Any]:
    amount = claim.openstaand.quantize(Decimal("0.01"))
    return {
        "FactuurnummerSE": claim.factuurnummer,
        "ActueelVorderingsbedrag": str(amount),
        "Afkooppercentage": str(AFKOOP),
        "PrognoseEindbedrag": str((amount * AFKOOP / 100).quantize(Decimal("0.01"))),
    }
