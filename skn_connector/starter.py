"""``skn-connector init``: a folder to start from.

It holds a configuration that reaches the simulated node (``skn-connector simulator --tls
DIR``) with the development certificates, a sample back-office with synthetic debtors, and
example messages about those debtors, so that the first hour is a working connector rather
than a puzzle. The configuration says what to change for a real node.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .adapters.registry import resolve_adapter_class

#: The participant id of the starter (synthetic; a real one comes from the SKN address book).
STARTER_PARTICIPANT = "5b8f2a8e-7d1c-4c59-9a43-0d6c1e2b7a11"
EXAMPLES = ("saldoverzoek.json", "kennisgeving.json", "saldoverzoek-onbekend.json")

_CONFIG = """\
# skn-connector's configuration, written by `skn-connector init`.
# `skn-connector config example` prints every setting with its default and meaning.
#
# As written, it works with the simulated node on this machine:
#   skn-connector simulator --port {port} --tls {tls}
# For a real node: set node.url and node.participant_id to what the SKN gave you, point
# [node.tls] at your PKIoverheid certificate, its key and the node's CA, and replace the
# sample back-office by your own adapter (docs/plugins.md).

[node]
url = "https://127.0.0.1:{port}/skn"
# our id in the SKN address book (the Ontvanger of the messages we get)
participant_id = "{participant}"
poll_interval = "5m"
  [node.tls]
  certificate = "{tls}/client.pem"
  private_key = "{tls}/client.key"
  trust = "{tls}/ca.pem"

[store]
url = "sqlite:///skn-connector.db"

[creditor]
name = "Gemeente Voorbeeldstad, Belastingen"
# gemeentebelastingen | werk_en_inkomen | cjib | overig
kind = "gemeentebelastingen"
# lokale_overheid | rijk | model_2024 | geen
covenant = "lokale_overheid"
  [creditor.contact]
  # named in every answer
  naam = "Team Invordering"
  telefoon = "020 123 4567"
  email = "invordering@voorbeeldstad.example"

# the sample back-office: synthetic debtors 100001, 100002, 100004 and 100005
[[adapters]]
name = "belastingen"
use = "{adapter}"
  [adapters.options]
  database_url = "sqlite:///{backoffice}"
"""


class StarterExists(Exception):
    """The folder already holds a configuration; the message says what to do."""


@dataclass(frozen=True)
class Starter:
    config: Path
    backoffice: Path
    examples: tuple[Path, ...]


def write_starter(
    directory: Path,
    *,
    port: int = 8450,
    tls: Path | None = None,
    adapter: str = "gemeentebelastingen",
    force: bool = False,
) -> Starter:
    """Write a starter configuration (0600), a sample back-office and example messages into
    ``directory``; the simulator's certificates are looked for in ``tls`` (default: the
    folder ``tls`` in ``directory``). StarterExists when a configuration is there and
    ``force`` is not set."""
    tls = tls if tls is not None else directory / "tls"
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "skn-connector.toml"
    if config.exists() and not force:
        raise StarterExists(
            f"{config} exists; move it away, or pass --force to write a new starter over it"
        )
    sample = resolve_adapter_class(adapter).create_sample(directory / "backoffice")
    database = Path(str(sample.options["database_url"]).removeprefix("sqlite:///"))
    text = _CONFIG.format(
        port=port,
        tls=tls.absolute(),
        participant=STARTER_PARTICIPANT,
        adapter=adapter,
        backoffice=database.absolute(),
    )
    descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    config.chmod(0o600)  # also when it was there before
    examples = []
    shipped = resources.files("skn_connector") / "examples"
    for name in EXAMPLES:
        target = directory / name
        with resources.as_file(shipped / name) as source:
            shutil.copyfile(source, target)
        examples.append(target)
    return Starter(config, database, tuple(examples))


def example_config() -> str:
    """The full, commented configuration: every setting with its default."""
    return (resources.files("skn_connector") / "config.example.toml").read_text(encoding="utf-8")
