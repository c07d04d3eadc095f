"""Several creditors in one configuration (``[[creditors]]``): each becomes the settings of a
single-creditor configuration; the errors name ``creditors[NAME].key`` in one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from skn_connector.config import ConfigError, load_deployment, load_settings

A = "3f1c9a52-1b7e-4d2a-9c11-2a5e8f0b7c01"
B = "3f1c9a52-1b7e-4d2a-9c11-2a5e8f0b7c02"
W = "3f1c9a52-1b7e-4d2a-9c11-2a5e8f0b7c03"

THREE = f"""
[node]
url = "https://127.0.0.1:8450/skn"
poll_interval = "2m"
  [node.tls]
  certificate = "certs/shared.pem"
  private_key = "certs/shared.key"
  trust = "certs/ca.pem"
[store]
url = "sqlite:///data/skn.db"
[policy]
answer_within_working_days = 10
warn_at_working_days = 8

[[creditors]]
name = "Gemeente Aadorp, Belastingen"
participant_id = "{A}"
kind = "gemeentebelastingen"
covenant = "lokale_overheid"
vooraf_akkoord = true
  [creditors.contact]
  naam = "Team Invordering Aadorp"
  [creditors.policy]
  warn_at_working_days = 6
  [[creditors.adapters]]
  name = "belastingen"
  use = "gemeentebelastingen"
    [creditors.adapters.options]
    database_url = "sqlite:///aadorp.db"

[[creditors]]
name = "Gemeente Beekdam, Belastingen"
participant_id = "{B}"
kind = "gemeentebelastingen"
  [creditors.contact]
  naam = "Team Invordering Beekdam"
  [creditors.tls]
  certificate = "certs/beekdam.pem"
  private_key = "certs/beekdam.key"
  trust = "certs/ca.pem"
  [[creditors.adapters]]
  name = "belastingen"
  use = "gemeentebelastingen"
    [creditors.adapters.options]
    database_url = "sqlite:///beekdam.db"

[[creditors]]
name = "Werk en Inkomen Regio"
participant_id = "{W}"
kind = "werk_en_inkomen"
covenant = "lokale_overheid"
  [creditors.contact]
  naam = "Team Terugvordering"
  [[creditors.adapters]]
  name = "wi"
  use = "werk_en_inkomen"
    [creditors.adapters.options]
    database_url = "sqlite:///wi.db"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "skn-connector.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_three_creditors_each_with_their_own_settings(tmp_path: Path) -> None:
    deployment = load_deployment(write(tmp_path, THREE))
    assert [c.creditor_id for c in deployment.creditors] == [A, B, W]
    aadorp, beekdam, wi = deployment.creditors
    assert aadorp.creditor.name == "Gemeente Aadorp, Belastingen"
    assert aadorp.creditor.vooraf_akkoord and not beekdam.creditor.vooraf_akkoord
    assert wi.creditor.kind == "werk_en_inkomen"
    assert [a.options["database_url"] for a in (aadorp.adapters[0], wi.adapters[0])] == [
        "sqlite:///aadorp.db",
        "sqlite:///wi.db",
    ]
    # the policy override is this creditor's alone; the others keep the shared [policy]
    assert aadorp.policy.warn_at_working_days == 6
    assert beekdam.policy.warn_at_working_days == 8
    # one shared certificate, or the creditor's own
    assert aadorp.node.tls is not None and beekdam.node.tls is not None
    assert aadorp.node.tls.certificate == tmp_path.resolve() / "certs/shared.pem"
    assert beekdam.node.tls.certificate == tmp_path.resolve() / "certs/beekdam.pem"
    assert wi.node.tls == aadorp.node.tls
    # the shared sections are the same for all
    assert {c.store.url for c in deployment.creditors} == {
        f"sqlite:///{tmp_path.resolve()}/data/skn.db"
    }
    assert {c.source for c in deployment.creditors} == {tmp_path.resolve() / "skn-connector.toml"}


def test_a_creditor_is_chosen_by_name_or_participant_id(tmp_path: Path) -> None:
    path = write(tmp_path, THREE)
    assert load_settings(path, creditor=B).creditor.name == "Gemeente Beekdam, Belastingen"
    assert load_settings(path, creditor="werk en inkomen regio").creditor_id == W
    with pytest.raises(ConfigError) as ambiguous:
        load_settings(path)
    assert "serves 3 creditors; name one with --creditor" in str(ambiguous.value)
    assert f"Werk en Inkomen Regio ({W})" in str(ambiguous.value)
    with pytest.raises(ConfigError, match="has no creditor 'Gemeente Elders'; choose one of"):
        load_settings(path, creditor="Gemeente Elders")


def test_the_single_creditor_form_is_one_creditor(tmp_path: Path) -> None:
    deployment = load_deployment(Path(__file__).resolve().parents[1] / "config.example.toml")
    assert len(deployment.creditors) == 1 and not deployment.several
    only = deployment.select(None)
    assert only.creditor_id == "5b8f2a8e-7d1c-4c59-9a43-0d6c1e2b7a11"
    assert deployment.select(only.creditor_id) is only


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            f'participant_id = "{B}"',
            f'participant_id = "{A}"',
            f"participant ids must be unique; repeated: {A}",
        ),
        (
            'name = "Werk en Inkomen Regio"',
            'name = "gemeente aadorp, belastingen"',
            "creditors: names must be unique",
        ),
        (
            'kind = "werk_en_inkomen"',
            'kind = "bank"',
            "creditors[Werk en Inkomen Regio].kind: Input should be",
        ),
        (
            '  naam = "Team Terugvordering"\n',
            "",
            "creditors[Werk en Inkomen Regio].contact.naam: is required",
        ),
        (
            "  warn_at_working_days = 6\n",
            "  warn_at_working_days = 60\n",
            "creditors[Gemeente Aadorp, Belastingen].policy.warn_at_working_days: Input should be",
        ),
        (
            "  warn_at_working_days = 6\n",
            "  warn_soon = 6\n",
            "creditors[Gemeente Aadorp, Belastingen].policy.warn_soon: is not a known setting",
        ),
        (
            '  name = "wi"\n',
            '  name = "wi"\n  color = "red"\n',
            "creditors[Werk en Inkomen Regio].adapters[wi].color: is not a known setting",
        ),
        (
            'poll_interval = "2m"',
            f'poll_interval = "2m"\nparticipant_id = "{A}"',
            "node.participant_id: with [[creditors]] each creditor names its own",
        ),
        (
            "[store]",
            '[creditor]\nname = "x"\n[store]',
            "creditor: with [[creditors]] each creditor has its own creditor",
        ),
    ],
)
def test_broken_creditors_name_the_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in THREE
    with pytest.raises(ConfigError) as caught:
        load_deployment(write(tmp_path, THREE.replace(old, new, 1)))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_https_node_needs_a_certificate_for_every_creditor(tmp_path: Path) -> None:
    text = THREE.replace(
        '  [node.tls]\n  certificate = "certs/shared.pem"\n  private_key = "certs/shared.key"\n'
        '  trust = "certs/ca.pem"\n',
        "",
    )
    with pytest.raises(ConfigError, match=r"creditors\[Gemeente Aadorp, Belastingen\]: node: "):
        load_deployment(write(tmp_path, text))
