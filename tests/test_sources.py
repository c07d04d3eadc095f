"""The sources the rules rest on: every citation resolves, every source says what and where
it is, the product refers to nothing outside the repository, and the commands print the
sources in full."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any, get_args

import pytest
from typer.testing import CliRunner

from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.cli import app
from skn_connector.config import CreditorSettings
from skn_connector.demo import write_config
from skn_connector.engine.conversations import TableError, TransitionTable
from skn_connector.engine.policy import PolicyError, load_policy
from skn_connector.engine.sources import (
    CITATION,
    KINDS,
    SourceError,
    cited_in,
    load_sources,
    parse_sources,
    render_markdown,
    resolve,
)
from skn_connector.messages import CATALOG
from skn_connector.node.simulator import Simulator

ROOT = Path(__file__).resolve().parent.parent
#: What ships and what a reader of the product sees: the package, its docs, the plugins.
PRODUCT = [ROOT / "skn_connector", ROOT / "docs", ROOT / "plugins"]
PRODUCT_FILES = [ROOT / "README.md", ROOT / "config.example.toml"]
#: Where a citation may appear: the product and the tests.
CITING = [*PRODUCT, ROOT / "tests"]
TEXT_SUFFIXES = {".py", ".md", ".toml", ".xsd", ".txt", ".ini", ".cfg", ".json"}
#: What must not be referred to: the team's notes outside the repository and their codes.
FORBIDDEN = re.compile(
    r"\.\./shared|spec/sdk\.md|spec/messages\.md|spec/enforcement-rules\.md"
    r"|spec/skn-messages\.md|spec/references\.md|enforcement-rules §|\[S\d+(?:\s*,\s*S\d+)*\]"
    r"|\[K\]"
)
KINDS_OF_CREDITOR = get_args(CreditorSettings.model_fields["kind"].annotation)
COVENANTS = get_args(CreditorSettings.model_fields["covenant"].annotation)


def files_under(roots: list[Path]) -> Iterator[Path]:
    for root in roots:
        for path in sorted(root.rglob("*")):
            if (
                path.is_file()
                and path.suffix in TEXT_SUFFIXES
                and not any(part.startswith(".") or part == "__pycache__" for part in path.parts)
                and "egg-info" not in str(path)
            ):
                yield path


def rules_file(name: str) -> dict[str, Any]:
    return tomllib.loads(
        (resources.files("skn_connector.engine") / "rules" / name).read_text(encoding="utf-8")
    )


# -- (a) every citation resolves -------------------------------------------------------------


def test_every_rule_of_the_policy_table_cites_known_sources() -> None:
    table = rules_file("policy.toml")
    layers = [
        *table["events"].values(),
        *(raw for layer in table["kinds"].values() for raw in layer.values()),
        *table["covenants"].values(),
    ]
    assert all("source" not in raw for raw in layers), "free-text `source` is gone"
    for raw in layers:
        assert raw["sources"], raw
        for source_id in raw["sources"]:
            resolve(source_id)
    for kind in KINDS_OF_CREDITOR:
        for covenant in COVENANTS:
            policy = load_policy(kind, covenant)
            for rule in policy.rules.values():
                assert rule.sources, (kind, covenant, rule.event)


def test_every_conversation_rule_cites_known_sources() -> None:
    table = TransitionTable.load(known_events=CATALOG)
    for rule in table.rules:
        assert rule.sources, rule.number
    cited = {s.id for rule in table.rules for s in rule.sources}
    assert "SKN-PROCESAFSPRAKEN-SE-2.3" in cited


def test_every_bracketed_id_in_the_product_and_the_tests_resolves() -> None:
    known = load_sources()
    unknown: list[str] = []
    count = 0
    for path in files_under(CITING):
        for source_id in cited_in(path.read_text(encoding="utf-8", errors="replace")):
            count += 1
            if source_id not in known:
                unknown.append(f"{path.relative_to(ROOT)}: [{source_id}]")
    for path in PRODUCT_FILES:
        for source_id in cited_in(path.read_text(encoding="utf-8")):
            count += 1
            if source_id not in known:
                unknown.append(f"{path.relative_to(ROOT)}: [{source_id}]")
    assert not unknown
    assert count > 50


def test_interpretations_rest_on_sources_that_exist() -> None:
    sources = load_sources()
    interpretations = [s for s in sources.values() if s.interpretation]
    assert interpretations
    for source in interpretations:
        assert source.id.startswith("SKN-CONNECTOR-CHOICE-")
        assert source.based_on and all(b in sources for b in source.based_on)


# -- (b) every source says what and where it is ----------------------------------------------


def test_every_source_has_a_title_a_place_a_version_and_an_https_url() -> None:
    sources = load_sources()
    assert len(sources) >= 40
    for source in sources.values():
        assert source.kind in KINDS
        for field in (source.title, source.where, source.version, source.says, source.checked):
            assert field.strip(), source.id
        assert source.url.startswith("https://"), source.id
        assert all(url.startswith("https://") for url in source.also), source.id
        assert re.fullmatch(CITATION.pattern, f"[{source.id}]"), source.id


def test_the_required_sources_are_there() -> None:
    sources = load_sources()
    for source_id in (
        "IW1990-art-25",
        "LEIDRAAD-2008-26.1",
        "PW-art-60",
        "WAHV-art-23",
        "WGS",
        "FW-art-299",
        "FW-art-358",
        "ATW",
        "BW1-art-431",
        "BW4-art-185",
        "NVVK-MODELCONVENANT-2024",
        "CONVENANT-RIJK",
        "CONVENANT-LOKALE-OVERHEID",
        "SKN-AFSPRAKENSTELSEL",
        "SKN-HEADER-SE-SERVICE",
        "SKN-CSV-SALDOVERZOEK-ANTWOORD",
    ):
        assert source_id in sources
    laws = [s for s in sources.values() if s.kind == "law" and "wetten.overheid.nl" in s.url]
    assert len(laws) >= 15


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.replace('url = "https://wetten', 'url = "http://wetten', 1), "https://"),
        (lambda s: s.replace('title = "Invorderingswet 1990"\n', "", 1), "'title' is required"),
        (lambda s: s.replace('id = "IW1990-art-26"', 'id = "IW1990-art-25"', 1), "used twice"),
        (lambda s: s.replace('kind = "law"', 'kind = "rumour"', 1), "kind 'rumour'"),
        (
            lambda s: s.replace('based_on = ["ATW", ', 'based_on = ["ATW-art-99", ', 1),
            "'ATW-art-99', which is not a source",
        ),
    ],
)
def test_a_broken_sources_file_is_refused(change: Any, message: str) -> None:
    text = (resources.files("skn_connector.engine") / "rules" / "sources.toml").read_text(
        encoding="utf-8"
    )
    changed = change(text)
    assert changed != text
    with pytest.raises(SourceError, match=re.escape(message)):
        parse_sources(changed)


# -- an unknown id is a load error naming the rule and the id --------------------------------


def test_an_unknown_source_in_the_policy_table_is_a_load_error() -> None:
    table = rules_file("policy.toml")
    table["events"]["E14"]["sources"] = ["FW-art-299", "FW-art-9999"]
    with pytest.raises(PolicyError, match=r"events\.E14: unknown source 'FW-art-9999'"):
        load_policy("gemeentebelastingen", "lokale_overheid", table=table)
    # another creditor's layer is checked too: a typo there stops every instance
    table = rules_file("policy.toml")
    table["kinds"]["cjib"]["E03"]["sources"] = ["CJIB-NOODSTOPP"]
    with pytest.raises(PolicyError, match=r"kinds\.cjib\.E03: unknown source 'CJIB-NOODSTOPP'"):
        load_policy("gemeentebelastingen", "lokale_overheid", table=table)
    table = rules_file("policy.toml")
    del table["covenants"]["rijk"]["sources"]
    with pytest.raises(PolicyError, match=r"covenants\.rijk: 'sources' must be a list"):
        load_policy("cjib", "rijk", table=table)


def test_an_unknown_source_in_the_conversation_table_is_a_load_error() -> None:
    data = rules_file("conversations.toml")
    data["rule"][3]["sources"] = ["SKN-HOE-WERKT-HET", "SKN-NOWHERE"]
    with pytest.raises(TableError, match=r"rule 4: unknown source 'SKN-NOWHERE'"):
        TransitionTable.from_dict(data, known_events=CATALOG)
    data = rules_file("conversations.toml")
    data["rule"][0]["sources"] = []
    with pytest.raises(TableError, match=r"rule 1: 'sources' names no source"):
        TransitionTable.from_dict(data, known_events=CATALOG)


# -- (c) the product refers to nothing outside the repository --------------------------------


def test_nothing_in_the_product_refers_to_the_notes_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in [*files_under(PRODUCT), *PRODUCT_FILES]
        for number, line in enumerate(
            path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1
        )
        if FORBIDDEN.search(line)
    ]
    assert not found


def test_docs_sources_md_is_generated_from_the_sources_file() -> None:
    page = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    assert page == render_markdown(), "run: .venv/bin/python scripts/sources_md.py"
    for heading in ("## Law and regulations", "## Covenants", "## The Schuldenknooppunt"):
        assert heading in page
    assert "## Our interpretations and choices" in page
    for source in load_sources().values():
        assert f'<a id="{source.id}"></a>' in page


def test_the_docs_link_the_sources_page() -> None:
    assert "docs/sources.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(sources.md" in (ROOT / "docs" / "messages.md").read_text(encoding="utf-8")
    assert "engine/sources.py" in (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


# -- (d) the commands print the sources in full ----------------------------------------------


@pytest.fixture
def config_file(tmp_path: Path) -> Iterator[Path]:
    backoffice = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    with Simulator(port=0, tls_dir=tmp_path / "tls") as node:
        yield write_config(tmp_path, node, backoffice.options)


def test_policy_show_prints_each_rules_sources_in_full(config_file: Path) -> None:
    result = CliRunner().invoke(app, ["policy", "show", "--config", str(config_file)])
    assert result.exit_code == 0, result.output
    out = result.output
    policy = load_policy("gemeentebelastingen", "lokale_overheid")
    for rule in policy.rules.values():
        assert f"{rule.event} {rule.title}" in out
        for source in rule.sources:
            assert f"[{source.id}] " in out
            assert source.title in out
            assert source.url in out
    assert "Faillissementswet (wettelijke schuldsaneringsregeling), art. 299" in out
    assert "https://wetten.overheid.nl/jci1.3:c:BWBR0001860&artikel=299" in out
    assert "our interpretation: " in out

    result = CliRunner().invoke(app, ["policy", "show", "--json", "--config", str(config_file)])
    assert result.exit_code == 0, result.output
    rules = {r["event"]: r for r in json.loads(result.output)["rules"]}
    e03 = rules["E03"]["sources"]
    assert [c["layer"] for c in e03] == [
        "default",
        "kind gemeentebelastingen",
        "covenant lokale_overheid",
    ]
    first = e03[0]["sources"][0]
    assert set(first) >= {"id", "kind", "title", "where", "version", "url", "says", "checked"}
    assert first["url"].startswith("https://")


def test_conversations_rules_prints_each_rules_sources_in_full() -> None:
    result = CliRunner().invoke(app, ["conversations", "rules"])
    assert result.exit_code == 0, result.output
    table = TransitionTable.load(known_events=CATALOG)
    for rule in table.rules:
        assert f"Rule {rule.number} (" in result.output
        for source in rule.sources:
            assert source.title in result.output and source.url in result.output
    result = CliRunner().invoke(app, ["conversations", "rules", "--json"])
    rows = json.loads(result.output)
    assert all(row["sources"] and row["sources"][0]["url"] for row in rows)
