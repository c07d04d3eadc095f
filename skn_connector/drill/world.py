"""The drill's world: one connector per creditor kind (its own SQLite store, its sample
back-office, the real pipeline on the fake clock), all on one in-process simulated node."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from ..adapters.api import SampleDebtor
from ..adapters.calendar import CollectionCalendar
from ..adapters.registry import LoadedAdapter, resolve_adapter_class
from ..config import load_settings
from ..engine.pipeline import Pipeline
from ..node.simulator import NodeState
from ..service.wiring import build_adapters, build_pipeline, build_policy, creditor_profile
from ..store import Store, open_configured_store
from .backoffice import DrillBackOffice
from .clock import FakeClock
from .node import InProcessNode


@dataclass(frozen=True)
class Creditor:
    """A creditor of the drill: the three kinds of the reference adapters."""

    key: str
    kind: str
    covenant: str
    use: str
    participant_id: uuid.UUID


CREDITORS = (
    Creditor(
        "belastingen",
        "gemeentebelastingen",
        "lokale_overheid",
        "gemeentebelastingen",
        uuid.UUID("5b8f2a8e-7d1c-4c59-9a43-0d6c1e2b7a11"),
    ),
    Creditor(
        "werk-en-inkomen",
        "werk_en_inkomen",
        "lokale_overheid",
        "werk_en_inkomen",
        uuid.UUID("6c9f3b9f-8e2d-4d6a-9b54-1e7d2c3b4a22"),
    ),
    Creditor("cjib", "cjib", "rijk", "cjib", uuid.UUID("7da04ca0-9f3e-4e7b-8c65-2f8e3d4c5b33")),
)


@dataclass
class Connector:
    """One creditor's connector and back-office in the drill."""

    creditor: Creditor
    pipeline: Pipeline
    store: Store
    node: InProcessNode
    backoffice: DrillBackOffice
    calendar: CollectionCalendar
    debtors: tuple[SampleDebtor, ...]
    loaded: list[LoadedAdapter]

    def close(self) -> None:
        for loaded in self.loaded:
            loaded.adapter.close()
        close = getattr(self.calendar, "close", None)
        if close is not None:
            close()
        self.store.close()


def _config(workdir: Path, creditor: Creditor, database_url: str, policy: str) -> Path:
    path = workdir / f"{creditor.key}.toml"
    path.write_text(
        f"""# Written by `skn-connector drill` (synthetic data, a fake clock).
[node]
url = "http://127.0.0.1:9/skn"
participant_id = "{creditor.participant_id}"

[store]
url = "sqlite:///{workdir / "connector.db"}"

[creditor]
name = "{creditor.key} (drill)"
kind = "{creditor.kind}"
covenant = "{creditor.covenant}"
  [creditor.contact]
  naam = "Team Invordering"
  telefoon = "0201234567"
  email = "invordering@voorbeeldstad.example"

[[adapters]]
name = "{creditor.key}"
use = "{creditor.use}"
  [adapters.options]
  database_url = "{database_url}"
{policy}""",
        encoding="utf-8",
    )
    return path


def build_connector(
    workdir: Path,
    creditor: Creditor,
    state: NodeState,
    clock: FakeClock,
    *,
    policy: str = "",
    drop_one_release: bool = False,
) -> Connector:
    """The creditor's sample back-office, configuration, store and pipeline in ``workdir``."""
    home = workdir / creditor.key
    home.mkdir(parents=True, exist_ok=True)
    sample = resolve_adapter_class(creditor.use).create_sample(home)
    settings = load_settings(_config(home, creditor, sample.options["database_url"], policy))
    loaded = build_adapters(settings)
    wrapped = []
    backoffice: DrillBackOffice | None = None
    for item in loaded:
        backoffice = DrillBackOffice(item.adapter, drop_one_release=drop_one_release)
        wrapped.append(LoadedAdapter(item.name, item.use, backoffice, item.capabilities))
    assert backoffice is not None
    make_calendar = getattr(backoffice.inner, "collection_calendar", None)
    if make_calendar is None:
        raise RuntimeError(f"the {creditor.use} adapter's sample has no collection calendar")
    calendar: CollectionCalendar = make_calendar()
    store = open_configured_store(settings.store)
    node = InProcessNode(state, creditor.participant_id)
    pipeline = build_pipeline(
        settings,
        store,
        wrapped,
        node,
        policy=build_policy(settings),
        creditor=creditor_profile(settings),
        clock=clock,
    )
    return Connector(creditor, pipeline, store, node, backoffice, calendar, sample.debtors, wrapped)
