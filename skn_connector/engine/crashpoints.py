"""Named crash points at the step boundaries of the pipeline, for the fault-injection tier.

Inert unless ``SKN_CRASHPOINTS`` is set (tests only): ``name=probability`` pairs, comma
separated, ``*`` for every point, e.g. ``SKN_CRASHPOINTS="after_intake_commit=0.05,*=0.01"``;
``SKN_CRASH_SEED`` makes a run repeatable. A hit ends the process at once with
``os._exit(CRASH_EXIT)``, as kill -9 would: no cleanup, no flush, no commit.
"""

from __future__ import annotations

import os
import random
from typing import Final

CRASH_EXIT: Final = 137
#: Every point the pipeline marks, in the order of the data path.
POINTS: Final = (
    "after_fetch",  # fetched, nothing stored
    "after_intake_commit",  # stored, not yet confirmed at the node
    "after_confirm",  # confirmed, not yet processed
    "after_adapter_calls",  # the back-office was asked, nothing committed
    "after_decision_commit",  # answer, state and holds committed together
    "after_effect",  # an adapter applied a hold, not yet marked applied
    "after_send",  # the node took the answer, not yet marked sent
)
#: The points of receive mode (the daemon's endpoint; ``run --once`` never passes them).
RECEIVE_POINTS: Final = (
    "after_receive_commit",  # deliveries stored, not yet acknowledged to the node
)

_settings: dict[str, float] | None = None
_random = random.Random()


def _load() -> dict[str, float]:
    global _settings
    if _settings is None:
        _settings = {}
        raw = os.environ.get("SKN_CRASHPOINTS", "")
        for part in filter(None, (p.strip() for p in raw.split(","))):
            name, _, value = part.partition("=")
            _settings[name] = float(value or 1.0)
        seed = os.environ.get("SKN_CRASH_SEED")
        if seed is not None:
            _random.seed(int(seed))
    return _settings


def crashpoint(name: str) -> None:
    """End the process here with the configured probability (never, outside tests)."""
    settings = _load()
    if not settings:
        return
    probability = settings.get(name, settings.get("*", 0.0))
    if probability and _random.random() < probability:
        os._exit(CRASH_EXIT)
