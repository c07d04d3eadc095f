"""The adapter registry: discovery by entry point or import path, and load-time refusals."""

from __future__ import annotations

import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from skn_gemeentebelastingen.adapter import GemeentebelastingenAdapter

from skn_connector.adapters import registry
from skn_connector.adapters.api import (
    BaseAdapter,
    Capability,
    Claim,
    Debtor,
    DebtorQuery,
)
from skn_connector.adapters.registry import (
    ENTRY_POINT_GROUP,
    AdapterLoadError,
    LoadedAdapter,
    available_adapters,
    load_adapter,
    load_adapters,
    resolve_adapter_class,
    validate_adapter_class,
)

GB_PATH = "skn_gemeentebelastingen.adapter:GemeentebelastingenAdapter"


def _one_sentence(message: str) -> None:
    assert "\n" not in message
    assert message[0].isupper(), message
    assert message.endswith("."), message


@pytest.fixture(scope="module")
def sample_options(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    sample = GemeentebelastingenAdapter.create_sample(tmp_path_factory.mktemp("gb"))
    return dict(sample.options)


@pytest.fixture
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An importable module of adapters, good and bad, as a third party would write them."""
    name = f"skn_test_adapters_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            from pydantic import BaseModel
            from skn_connector.adapters.api import BaseAdapter, Capability, Debtor

            class Good(BaseAdapter):
                name = "good"
                capabilities = {"claims"}
                class Options(BaseModel):
                    url: str
                    retries: int = 3
                closed = []
                def find_debtor(self, query):
                    return None
                def list_claims(self, debtor):
                    return []
                def close(self):
                    Good.closed.append(self)

            class NoHolds(Good):
                name = "noholds"
                capabilities = {Capability.CLAIMS, Capability.HOLDS}
                def apply_hold(self, hold):
                    raise AssertionError

            class Teleport(Good):
                name = "teleport"
                capabilities = {"claims", "teleport"}

            class Exploding(Good):
                name = "exploding"
                def __init__(self, options):
                    raise RuntimeError("secret-password-in-message")

            class NotAnAdapter:
                pass
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_gemeentebelastingen_is_an_installed_entry_point() -> None:
    assert available_adapters()["gemeentebelastingen"] == GB_PATH
    assert resolve_adapter_class("gemeentebelastingen") is GemeentebelastingenAdapter


def test_load_by_entry_point_name(sample_options: dict[str, Any]) -> None:
    loaded = load_adapter("belastingen", "gemeentebelastingen", sample_options)
    try:
        assert isinstance(loaded, LoadedAdapter)
        assert loaded.name == "belastingen"
        assert loaded.use == "gemeentebelastingen"
        assert isinstance(loaded.adapter, GemeentebelastingenAdapter)
        assert loaded.capabilities == frozenset(
            {
                Capability.CLAIMS,
                Capability.HOLDS,
                Capability.PROPOSALS,
                Capability.ARRANGEMENTS,
                Capability.WRITE_OFF,
            }
        )
        assert loaded.adapter.options.database_url == sample_options["database_url"]
        # constructed and working: the sample's first debtor is found
        found = loaded.adapter.find_debtor(DebtorQuery(klantnummer_se="100001"))
        assert found == Debtor(debtor_id="1", klantnummer_se="100001")
    finally:
        loaded.adapter.close()


def test_load_by_import_path(sample_options: dict[str, Any]) -> None:
    loaded = load_adapter("gb", GB_PATH, sample_options)
    try:
        assert type(loaded.adapter) is GemeentebelastingenAdapter
        assert loaded.use == GB_PATH
    finally:
        loaded.adapter.close()


def test_plain_string_capabilities_are_normalised(plugin_module: str) -> None:
    loaded = load_adapter("mine", f"{plugin_module}:Good", {"url": "x"})
    assert loaded.capabilities == frozenset({Capability.CLAIMS})
    assert all(isinstance(c, Capability) for c in loaded.capabilities)
    assert loaded.adapter.options.retries == 3


def test_unknown_name_lists_the_installed_adapters() -> None:
    with pytest.raises(AdapterLoadError) as err:
        load_adapter("belastingen", "gemeentebelastingn", {})
    message = str(err.value)
    _one_sentence(message)
    assert '"belastingen"' in message
    assert '"gemeentebelastingn"' in message
    assert "installed: " in message and "gemeentebelastingen" in message.split("installed: ")[1]


def test_unknown_entry_point_without_config_name() -> None:
    with pytest.raises(AdapterLoadError, match=r"installed: .*gemeentebelastingen"):
        resolve_adapter_class("nope")


def test_import_errors_name_the_module(plugin_module: str) -> None:
    with pytest.raises(AdapterLoadError) as err:
        load_adapter("x", "skn_no_such_module_anywhere:Adapter", {})
    _one_sentence(str(err.value))
    assert 'module "skn_no_such_module_anywhere"' in str(err.value)

    with pytest.raises(AdapterLoadError, match=r'has no "Missing"'):
        resolve_adapter_class(f"{plugin_module}:Missing")

    with pytest.raises(AdapterLoadError, match=r"not a subclass of .*BaseAdapter"):
        resolve_adapter_class(f"{plugin_module}:NotAnAdapter")

    with pytest.raises(AdapterLoadError, match="not an import path"):
        resolve_adapter_class(f"{plugin_module}:")


def test_broken_entry_point_names_its_module(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = EntryPoint(name="broken", value="skn_gone_module_xyz:Adapter", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "_entry_points", lambda: [broken])
    assert available_adapters() == {"broken": "skn_gone_module_xyz:Adapter"}
    with pytest.raises(AdapterLoadError) as err:
        load_adapter("b", "broken", {})
    _one_sentence(str(err.value))
    assert 'module "skn_gone_module_xyz"' in str(err.value)


def test_missing_promised_call_is_refused_naming_call_and_capability(plugin_module: str) -> None:
    with pytest.raises(AdapterLoadError) as err:
        load_adapter("mine", f"{plugin_module}:NoHolds", {"url": "x"})
    message = str(err.value)
    _one_sentence(message)
    assert "release_hold()" in message
    assert '"holds"' in message
    assert '"mine"' in message
    assert "apply_hold()" not in message  # that one it has


def test_unknown_capability_is_refused_by_name(plugin_module: str) -> None:
    with pytest.raises(AdapterLoadError) as err:
        load_adapter("mine", f"{plugin_module}:Teleport", {"url": "x"})
    _one_sentence(str(err.value))
    assert 'unknown capability "teleport"' in str(err.value)


class _Base(BaseAdapter):
    name = "t"
    capabilities = frozenset({Capability.CLAIMS})

    def find_debtor(self, query: DebtorQuery) -> Debtor | None:
        return None

    def list_claims(self, debtor: Debtor) -> list[Claim]:
        return []


def test_validate_adapter_class_accepts_a_complete_adapter() -> None:
    validate_adapter_class(_Base)
    validate_adapter_class(GemeentebelastingenAdapter)


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"name": ""}, "has no name"),
        ({"name": None}, "has no name"),
        ({"capabilities": frozenset()}, "declares no capabilities"),
        ({"capabilities": "claims"}, "not a set"),
        ({"capabilities": {"claims", 42}}, 'unknown capability "42"'),
        ({"Options": dict}, "not a pydantic model"),
        ({"sdk_version": "2.0"}, 'SDK version "2.0"'),
        ({"capabilities": {Capability.PROPOSALS}}, "assess_proposal()"),
    ],
)
def test_validate_adapter_class_refusals(attrs: dict[str, Any], expected: str) -> None:
    cls = type("Broken", (_Base,), attrs)
    with pytest.raises(AdapterLoadError) as err:
        validate_adapter_class(cls, adapter_name="cfg")
    _one_sentence(str(err.value))
    assert expected in str(err.value)
    assert '"cfg"' in str(err.value)


def test_a_call_left_to_the_base_class_is_not_an_implementation() -> None:
    class Lazy(_Base):
        capabilities = frozenset({Capability.CLAIMS, Capability.ARRANGEMENTS})
        record_arrangement = BaseAdapter.record_arrangement

    with pytest.raises(AdapterLoadError, match=r'record_arrangement\(\).*"arrangements"'):
        validate_adapter_class(Lazy)


def test_bad_options_name_the_field_without_the_value(plugin_module: str) -> None:
    with pytest.raises(AdapterLoadError) as err:
        load_adapter("mine", f"{plugin_module}:Good", {"retries": "many-0xSECRET"})
    message = str(err.value)
    _one_sentence(message)
    assert "adapters.mine.options.url is required" in message
    assert "adapters.mine.options.retries is invalid" in message
    assert "0xSECRET" not in message


def test_bad_gemeentebelastingen_options(tmp_path: Path) -> None:
    with pytest.raises(AdapterLoadError) as err:
        load_adapter(
            "belastingen",
            "gemeentebelastingen",
            {"database_url": "postgresql://u:pw@host/db", "timeout": 3},
        )
    message = str(err.value)
    _one_sentence(message)
    assert "adapters.belastingen.options.database_url is invalid" in message
    assert "adapters.belastingen.options.timeout is not a known option" in message
    assert "pw@host" not in message

    with pytest.raises(AdapterLoadError, match=r"options\.timeout_seconds is invalid"):
        load_adapter(
            "belastingen",
            "gemeentebelastingen",
            {"database_url": f"sqlite:///{tmp_path}/x.db", "timeout_seconds": -1},
        )


def test_constructor_failure_is_a_load_error_without_its_message(plugin_module: str) -> None:
    with pytest.raises(AdapterLoadError) as err:
        load_adapter("boom", f"{plugin_module}:Exploding", {"url": "x"})
    message = str(err.value)
    _one_sentence(message)
    assert '"boom"' in message
    assert "RuntimeError" in message
    assert "secret-password" not in message


def test_duplicate_config_names_are_refused(plugin_module: str) -> None:
    with pytest.raises(AdapterLoadError) as err:
        load_adapters(
            [
                ("same", f"{plugin_module}:Good", {"url": "a"}),
                ("other", f"{plugin_module}:Good", {"url": "b"}),
                ("same", f"{plugin_module}:Good", {"url": "c"}),
            ]
        )
    _one_sentence(str(err.value))
    assert '"same" is configured more than once' in str(err.value)


def test_load_adapters_keeps_order_and_closes_on_failure(plugin_module: str) -> None:
    module = __import__(plugin_module)
    loaded = load_adapters(
        [
            ("b", f"{plugin_module}:Good", {"url": "b"}),
            ("a", f"{plugin_module}:Good", {"url": "a"}),
        ]
    )
    assert [x.name for x in loaded] == ["b", "a"]
    assert [x.adapter.options.url for x in loaded] == ["b", "a"]

    module.Good.closed.clear()
    with pytest.raises(AdapterLoadError, match='"boom"'):
        load_adapters(
            [
                ("ok", f"{plugin_module}:Good", {"url": "a"}),
                ("boom", f"{plugin_module}:Exploding", {"url": "b"}),
            ]
        )
    assert len(module.Good.closed) == 1
