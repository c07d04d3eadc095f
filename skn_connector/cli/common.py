"""What every command shares: the options, one-sentence errors, tables and JSON, and the
operations layer opened on a configuration. Heavy imports happen inside the functions:
``skn-connector --help`` imports none of the connector."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from ..config import Deployment, Settings
    from ..operations import Operations

EXIT_FAILURE = 1
EXIT_USAGE = 2

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="The TOML configuration (default: $SKN_CONNECTOR_CONFIG or ./skn-connector.toml).",
    ),
]
CreditorOption = Annotated[
    str | None,
    typer.Option(
        "--creditor",
        help=(
            "The creditor whose work this is (its name or participant id); needed when the "
            "configuration serves several."
        ),
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]
InsecureDevOption = Annotated[
    bool,
    typer.Option(
        "--insecure-dev",
        help=(
            "Allow a plain http:// node URL to a loopback host (127.0.0.0/8, ::1 or "
            "localhost): a local simulator only."
        ),
    ),
]


def command_group(help: str) -> typer.Typer:
    """A group of commands with plain help: typer's rich help imports markdown-it, pygments and
    rich's traceback (0.17 to 0.24 s here) on every ``--help`` and usage error; the tables the
    commands print still use rich."""
    return typer.Typer(
        help=help,
        no_args_is_help=True,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One sentence on stderr naming what to fix; no traceback."""
    typer.echo(f"skn-connector: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Configuration and setup problems end in one sentence and exit code 2; a fault of the
    store or the node's TLS in one sentence and exit code 1."""
    from ..adapters.registry import AdapterLoadError
    from ..config import ConfigError
    from ..node.client import NodeSetupError, NodeTLSError
    from ..secrets import SecretError
    from ..store.errors import StoreError

    try:
        yield
    except StoreError as exc:
        fail(str(exc), exc.exit_code)
    except (ConfigError, SecretError, AdapterLoadError, NodeSetupError) as exc:
        fail(str(exc))
    except NodeTLSError as exc:  # the node's TLS refused us: a failure in the work
        fail(str(exc), EXIT_FAILURE)


def config_path(option: Path | None) -> Path:
    if option is not None:
        return option
    return Path(os.environ.get("SKN_CONNECTOR_CONFIG", "skn-connector.toml"))


def load(option: Path | None, creditor: str | None = None) -> Settings:
    """The settings of the configuration's creditor: the one ``creditor`` names (its name or
    participant id), or the only one (ConfigError naming the choices when there are more)."""
    from ..config import load_settings

    return load_settings(config_path(option), creditor=creditor)


def load_deployment(option: Path | None) -> Deployment:
    """Every creditor the configuration serves."""
    from ..config import load_deployment as load_file

    return load_file(config_path(option))


@contextmanager
def operations(
    config: Path | None, creditor: str | None = None, *, whole_deployment: bool = False
) -> Iterator[Operations]:
    """The operations layer on the configuration's store for one creditor (``creditor``, or
    the only one), for the length of a command; its setup and store problems end in one
    sentence. ``whole_deployment``: what the creditors share (the console's accounts)."""
    from ..operations import Operations

    with user_errors():
        deployment = load_deployment(config)
        settings = (
            deployment.shared
            if whole_deployment and creditor is None
            else deployment.select(creditor)
        )
        with Operations.on(settings) as ops:
            yield ops


def setup_logging(verbose: bool, form: str = "text") -> None:
    import logging

    from ..config import LogFormat
    from ..logs import configure

    configure(logging.DEBUG if verbose else logging.INFO, LogFormat(form))


def print_json(document: Any) -> None:
    typer.echo(json.dumps(document, indent=2, default=str, ensure_ascii=False))


def local_time(iso: str | None) -> str:
    """A stored time (ISO, UTC) as the Netherlands' clock shows it, with its zone: a table's
    reader is in the Netherlands; the --json form keeps the ISO time with its offset."""
    if not iso:
        return ""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    moment = datetime.fromisoformat(iso).astimezone(ZoneInfo("Europe/Amsterdam"))
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z")


def table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    view = Table(title=title)
    for column in columns:
        view.add_column(column)
    for row in rows:
        view.add_row(*row)
    console = Console()
    if not console.is_terminal:  # a pipe or a file: do not squeeze the table into 80 columns
        console = Console(width=200)
    console.print(view)
