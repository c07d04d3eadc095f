"""The drill's own account of the grounds: why each debtor's claims must not be collected,
from what the counsellors sent and when the connector could have known it (never from
the connector's records)."""

from __future__ import annotations

from datetime import date, timedelta

from ..adapters.api import Claim, MeasureCode, SampleDebtor
from ..engine.policy import Policy
from .population import Planned, Send
from .verdict import Ground, term

#: The events whose grounds the drill follows, by what starts them.
EVENTS = {
    Send.KENNISGEVING: "E03",
    Send.SALDO_INVENTORY: "E04",
    Send.SALDO_REGELING: "E04",
    Send.AKKOORD: "E08",
    Send.WSNP_START: "E14",
}
#: A schuldregeling that ends this way starts a ground of its own.
ENDED_BY = {"WSNP": "E14", "OVERLIJDEN": "E20"}


class GroundBook:
    """Grounds per (creditor, debtor), and the finales that must write off."""

    def __init__(
        self,
        days: list[date],
        node_down: set[date],
        backoffice_down: dict[str, set[date]],
        rules: dict[str, Policy],
        kinds: dict[str, str],
    ) -> None:
        self.days = days
        self.node_down = node_down
        self.backoffice_down = backoffice_down
        #: the packaged rules the verdict measures against, per creditor
        self.rules = rules
        self.kinds = kinds
        self.grounds: dict[tuple[str, int], list[Ground]] = {}
        self.by_event: dict[tuple[str, str, str], Ground] = {}
        #: (creditor, conversation, day acted on, event): a write-off is due
        self.finales: list[tuple[str, str, date, str]] = []
        #: conversations whose akkoord was sent: a finale kwijting there writes off
        self.agreed: set[str] = set()

    def known_on(self, key: str, placed: date) -> date:
        """The first working day the connector could act on a message placed on ``placed``:
        the node up (fetched), then the back-office up."""
        index = self.days.index(placed)
        for day in self.days[index:]:
            if day not in self.node_down:
                break
        else:
            return date.max
        for later in self.days[self.days.index(day) :]:
            if later not in self.backoffice_down[key]:
                return later
        return date.max

    def first_up(self, key: str, day: date) -> date:
        """The first working day from ``day`` the back-office is up (or after the drill)."""
        while day not in self.days or day in self.backoffice_down[key]:
            day += timedelta(days=1)
            if day > self.days[-1]:
                return day
        return day

    def record(
        self, planned: Planned, placed: date, debtor: SampleDebtor, claims: list[Claim]
    ) -> None:
        """What the message ``planned``, placed on ``placed``, starts or ends."""
        key = planned.creditor
        acted = self.known_on(key, placed)
        conversation = str(planned.conversation)
        grounds = self.grounds.setdefault((key, planned.debtor), [])
        event = EVENTS.get(planned.send)
        if planned.send == Send.BEEINDIGD:
            for ground in grounds:
                if ground.conversation == conversation and ground.ended_on is None:
                    ground.ended_on = acted
            event = ENDED_BY.get(planned.reden or "")
            if planned.reden == "GESLAAGD" and conversation in self.agreed:
                self.finales.append((key, conversation, acted, "E09"))
        if planned.send == Send.AKKOORD:
            self.agreed.add(conversation)
        if event is None:
            return
        policy = self.rules[key]
        rule = policy.rule(event)
        if not rule.active or rule.hold_type is None:
            return
        # werk en inkomen keeps verrekening on a fraud claim under a covenant's hold
        # (Participatiewet; the adapter's keep_fraud_verrekening_on)
        exempt = frozenset(
            (claim.factuurnummer, MeasureCode.VERREKENING)
            for claim in claims
            if claim.fraude and self.kinds[key] == "werk_en_inkomen" and rule.basis == "convenant"
        )
        ground = Ground(
            event,
            conversation,
            acted,
            rule.measures(policy.groups),
            frozenset(debtor.factuurnummers),
            exempt,
            term_end=term(acted, rule.months) if rule.until == "months" else None,
        )
        grounds.append(ground)
        self.by_event[(key, conversation, event)] = ground

    def wsnp_ended(
        self, key: str, debtor: int, conversation: str | None, day: date, *, owed: bool
    ) -> None:
        """A person closed the Wsnp with a schone lei on ``day``."""
        for ground in self.grounds.get((key, debtor), []):
            if ground.event == "E14" and ground.ended_on is None:
                ground.ended_on = day
        # a schone lei writes off what is still owed (nothing to write off: nothing expected)
        if owed:
            self.finales.append((key, conversation or "", day, "E15"))
