"""The configuration: validation errors name the key and the problem; secrets stay out of files."""

from __future__ import annotations

from pathlib import Path

import pytest

from skn_connector.config import ConfigError, load_settings, parse_duration
from skn_connector.secrets import SecretError, resolve_secret

REPO = Path(__file__).resolve().parents[1]

GOOD = """
[node]
url = "https://127.0.0.1:8450/skn"
participant_id = "5b8f2a8e-7d1c-4c59-9a43-0d6c1e2b7a11"
poll_interval = "2m"
  [node.tls]
  certificate = "certs/client.pem"
  private_key = "certs/client.key"
  trust = "certs/ca.pem"
[store]
url = "sqlite:///data/skn.db"
[creditor]
name = "Gemeente Test"
kind = "gemeentebelastingen"
  [creditor.contact]
  naam = "Team Invordering"
[[adapters]]
name = "belastingen"
use = "gemeentebelastingen"
  [adapters.options]
  database_url = "sqlite:///x.db"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "skn-connector.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config_loads_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.node.poll_interval.total_seconds() == 120
    assert settings.node.tls is not None
    assert settings.node.tls.certificate == tmp_path.resolve() / "certs/client.pem"
    assert settings.store.url == f"sqlite:///{tmp_path.resolve()}/data/skn.db"
    assert settings.policy.answer_within_working_days == 10


def test_the_example_config_is_valid() -> None:
    settings = load_settings(REPO / "config.example.toml")
    assert settings.creditor.kind == "gemeentebelastingen"
    assert [a.use for a in settings.adapters] == ["gemeentebelastingen"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'participant_id = "5b8f2a8e-7d1c-4c59-9a43-0d6c1e2b7a11"',
            'participant_id = "nope"',
            "node.participant_id: Input should be a valid UUID",
        ),
        ('poll_interval = "2m"', 'poll_interval = "soon"', "node.poll_interval: a duration is"),
        ('kind = "gemeentebelastingen"', 'kind = "bank"', "creditor.kind: Input should be"),
        (
            'name = "Gemeente Test"\n',
            'name = "Gemeente Test"\nlaunch = true\n',
            "creditor.launch: is not a known setting",
        ),
        ('  naam = "Team Invordering"\n', "", "creditor.contact.naam: is required"),
        ('url = "https://127.0.0.1:8450/skn"', 'url = "ftp://node"', "node.url: must be an https"),
        (
            '  trust = "certs/ca.pem"\n',
            '  trust = "certs/ca.pem"\n  private_key_password = "hunter2"\n',
            "node.tls.private_key_password: must be a secret reference",
        ),
    ],
)
def test_broken_config_names_key_and_problem(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in GOOD
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, GOOD.replace(old, new)))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_duplicate_adapter_names_refused(tmp_path: Path) -> None:
    text = GOOD + '[[adapters]]\nname = "belastingen"\nuse = "other"\n'
    with pytest.raises(ConfigError, match="adapter names must be unique; repeated: belastingen"):
        load_settings(write(tmp_path, text))


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_settings(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[node\n"))


def test_durations() -> None:
    assert parse_duration("30s").total_seconds() == 30
    assert parse_duration("1d").total_seconds() == 86400
    with pytest.raises(ValueError):
        parse_duration("5 minutes")


def test_secrets_from_environment_and_credentials_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKN_SECRET_CLIENT_KEY", "from-env")
    assert resolve_secret("secret:client-key") == "from-env"
    monkeypatch.delenv("SKN_SECRET_CLIENT_KEY")
    (tmp_path / "client-key").write_text("from-file\n", encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert resolve_secret("secret:client-key") == "from-file"
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(SecretError, match="SKN_SECRET_CLIENT_KEY"):
        resolve_secret("secret:client-key")
    with pytest.raises(SecretError, match="not a valid secret reference"):
        resolve_secret("secret:../etc/passwd")
