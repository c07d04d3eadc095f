"""The drill's population: for each creditor's debtors, a year of debt-help stories, drawn
from a seed. A story is a row of messages a counsellor (one of several SHVs) sends on
given working days; the person at the creditor decides what the connector asks of them.

The stories, with their share: an inventory (a Saldoverzoek, Schuldinventarisatie); a
schuldregeling that succeeds (finale kwijting), fails, ends early or never comes about
(the proposal refused, a Heroverweging refused too); a debtor who goes to the Wsnp and
ends it with a schone lei; a debtor who dies; beschermingsbewind started and ended.
Messages of one conversation keep their order (the SKN node keeps it too); messages of
different conversations come in any order on a day, some a day late, some twice.
"""

from __future__ import annotations

import enum
import random
import uuid
from dataclasses import dataclass, field
from datetime import date

from ..engine.deadlines import WorkingDays


class Send(enum.StrEnum):
    """What a counsellor sends (or a bewindvoerder reports)."""

    SALDO_INVENTORY = "Saldoverzoek (Schuldinventarisatie)"
    KENNISGEVING = "Kennisgeving"
    SALDO_REGELING = "Saldoverzoek (Schuldregeling)"
    BETAALVOORSTEL = "Betaalvoorstel"
    HEROVERWEGING = "Heroverweging"
    AKKOORD = "SchuldregelingAkkoord"
    BEEINDIGD = "SchuldregelingBeeindigd"
    BEWIND_START = "MeldingBewind (beschermingsbewind, start)"
    BEWIND_END = "MeldingBewind (beschermingsbewind, end)"
    WSNP_START = "MeldingBewind (Wsnp, start)"
    WSNP_END = "MeldingBewind (Wsnp, end)"


class Story(enum.StrEnum):
    INVENTORY = "inventory"
    SUCCEEDS = "regeling succeeds"
    FAILS = "regeling fails"
    ENDS_EARLY = "regeling ends early"
    NOT_REACHED = "regeling not reached"
    WSNP = "Wsnp with schone lei"
    DEATH = "death"
    BEWIND = "beschermingsbewind"


#: (story, weight): most debt help is an inventory or a regeling; Wsnp and death are rare
STORIES = (
    (Story.INVENTORY, 30),
    (Story.SUCCEEDS, 20),
    (Story.FAILS, 8),
    (Story.ENDS_EARLY, 8),
    (Story.NOT_REACHED, 8),
    (Story.WSNP, 5),
    (Story.DEATH, 3),
    (Story.BEWIND, 6),
)
#: how many counsellors (SHVs) send messages; their ids and names are in messages.py
COUNSELLOR_COUNT = 3
#: stories after which a debtor plays no more
LAST = {Story.DEATH}


@dataclass(frozen=True)
class Planned:
    """One message to place at the node on ``day``."""

    day: date
    creditor: str
    debtor: int
    send: Send
    conversation: uuid.UUID
    referentienummer: uuid.UUID
    counsellor: int
    story: Story
    #: SchuldregelingBeeindigd's Reden
    reden: str | None = None
    #: placed twice (a duplicate delivery)
    twice: bool = False


@dataclass
class Population:
    planned: list[Planned] = field(default_factory=list)
    #: the person's answer to a proposal in a conversation: accept or reject
    decisions: dict[str, str] = field(default_factory=dict)
    stories: dict[Story, int] = field(default_factory=dict)


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def draw_population(
    rng: random.Random,
    creditors: dict[str, int],
    start: date,
    days: int,
    working: WorkingDays,
    *,
    duplicate_rate: float = 0.04,
) -> Population:
    """Stories for every debtor of every creditor (``creditors``: key -> number of debtors)
    over ``days`` calendar days from ``start``."""
    population = Population()
    last_day = (
        working.add(start, 0) if days <= 0 else date.fromordinal(start.toordinal() + days - 1)
    )
    kinds = [story for story, _ in STORIES]
    weights = [weight for _, weight in STORIES]
    for creditor, count in creditors.items():
        for debtor in range(count):
            at = working.add(start, rng.randrange(0, 8))
            until = last_day
            while at <= last_day:
                story = rng.choices(kinds, weights)[0]
                steps = _story(story, rng)
                conversation = reports = _uuid(rng)
                counsellor = rng.randrange(COUNSELLOR_COUNT)
                day = at
                for offset, send, reden in steps:
                    day = working.add(day, offset)
                    if day > last_day:
                        break
                    # a bewindvoerder's report starts a conversation of its own; its end
                    # comes in that conversation
                    if send in {Send.BEWIND_START, Send.WSNP_START}:
                        reports = _uuid(rng)
                    own = send in {
                        Send.BEWIND_START,
                        Send.BEWIND_END,
                        Send.WSNP_START,
                        Send.WSNP_END,
                    }
                    population.planned.append(
                        Planned(
                            day,
                            creditor,
                            debtor,
                            send,
                            reports if own else conversation,
                            _uuid(rng),
                            counsellor,
                            story,
                            reden,
                            rng.random() < duplicate_rate,
                        )
                    )
                population.decisions[str(conversation)] = (
                    "reject" if story == Story.NOT_REACHED else "accept"
                )
                population.stories[story] = population.stories.get(story, 0) + 1
                if story in LAST:
                    until = day
                    break
                at = working.add(day, rng.randrange(5, 25))
            _inventories(population, rng, creditor, debtor, start, until, working)
    population.planned.sort(key=lambda p: (p.day, p.creditor, p.debtor))
    return population


def _story(story: Story, rng: random.Random) -> list[tuple[int, Send, str | None]]:
    """The story's messages: (working days after the previous one, what, Reden)."""
    if story == Story.INVENTORY:
        return [(0, Send.SALDO_INVENTORY, None)]
    if story == Story.BEWIND:
        return [(0, Send.BEWIND_START, None), (rng.randrange(20, 60), Send.BEWIND_END, None)]
    opening = [
        (0, Send.KENNISGEVING, None),
        (rng.randrange(2, 8), Send.SALDO_REGELING, None),
    ]
    if story == Story.DEATH:
        return [*opening, (rng.randrange(3, 15), Send.BEEINDIGD, "OVERLIJDEN")]
    if story == Story.WSNP:
        return [
            *opening,
            (rng.randrange(5, 15), Send.BEEINDIGD, "WSNP"),
            (rng.randrange(1, 5), Send.WSNP_START, None),
            (rng.randrange(20, 60), Send.WSNP_END, None),
        ]
    proposal = [*opening, (rng.randrange(5, 15), Send.BETAALVOORSTEL, None)]
    if story == Story.NOT_REACHED:
        return [
            *proposal,
            (rng.randrange(12, 16), Send.HEROVERWEGING, None),
            (rng.randrange(12, 16), Send.BEEINDIGD, "NIET_TOT_STAND_GEKOMEN"),
        ]
    agreed = [*proposal, (rng.randrange(12, 16), Send.AKKOORD, None)]
    reden = {
        Story.SUCCEEDS: "GESLAAGD",
        Story.FAILS: "VOORTIJDIG_BEEINDIGD",
        Story.ENDS_EARLY: "VOORTIJDIG_BEEINDIGD",
    }[story]
    return [*agreed, (rng.randrange(10, 60), Send.BEEINDIGD, reden)]


def _inventories(
    population: Population,
    rng: random.Random,
    creditor: str,
    debtor: int,
    start: date,
    last_day: date,
    working: WorkingDays,
) -> None:
    """Saldoverzoeken of other counsellors (an inventory for a bank, a budget course) that
    come whatever the debtor's trajectory is, every two or three months."""
    at = working.add(start, rng.randrange(10, 60))
    while at <= last_day:
        population.planned.append(
            Planned(
                at,
                creditor,
                debtor,
                Send.SALDO_INVENTORY,
                _uuid(rng),
                _uuid(rng),
                rng.randrange(COUNSELLOR_COUNT),
                Story.INVENTORY,
            )
        )
        population.stories[Story.INVENTORY] = population.stories.get(Story.INVENTORY, 0) + 1
        at = working.add(at, rng.randrange(30, 60))
