"""The command line: ``skn-connector``. Heavy imports happen inside the commands."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from .cli_security import audit_app, command_group, doctor_command, retention_app, secrets_app

if TYPE_CHECKING:
    from .actor import Actor
    from .config import Settings
    from .engine.pipeline import Pipeline

app = typer.Typer(
    name="skn-connector",
    help="A creditor's connector to the Schuldenknooppunt: daemon, simulator and tools.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
config_app = command_group("Check the configuration.")
plugins_app = command_group("Adapter plugins.")
messages_app = command_group("Messages received and sent.")
quarantine_app = command_group("Messages that could not be accepted.")
tasks_app = command_group("What a person must look at or decide.")
conversations_app = command_group("The conversation state machine.")
holds_app = command_group("Holds on enforcement.")
policy_app = command_group("The enforcement policy.")
portal_app = command_group("The web-portal CSV files.")
app.add_typer(config_app, name="config")
app.add_typer(plugins_app, name="plugins")
app.add_typer(messages_app, name="messages")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(tasks_app, name="tasks")
app.add_typer(conversations_app, name="conversations")
app.add_typer(holds_app, name="holds")
app.add_typer(policy_app, name="policy")
app.add_typer(portal_app, name="portal")
app.command("doctor")(doctor_command)
app.add_typer(secrets_app, name="secrets")
app.add_typer(audit_app, name="audit")
app.add_typer(retention_app, name="retention")

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
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One sentence on stderr naming what to fix; no traceback."""
    typer.echo(f"skn-connector: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Configuration and setup problems end in one sentence and exit code 2; a fault of the
    store or the node's TLS in one sentence and exit code 1."""
    from .adapters.registry import AdapterLoadError
    from .config import ConfigError
    from .node.client import NodeSetupError, NodeTLSError
    from .secrets import SecretError
    from .store.errors import StoreError

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


def load(option: Path | None) -> Settings:
    from .config import load_settings

    return load_settings(config_path(option))


def setup_logging(verbose: bool) -> None:
    import logging

    from .redaction import configure_logging

    configure_logging(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("httpx", "httpcore", "apscheduler.executors", "alembic", "uvicorn"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def print_json(document: Any) -> None:
    typer.echo(json.dumps(document, indent=2, default=str, ensure_ascii=False))


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


# -- run ------------------------------------------------------------------------------------


@app.command()
def run(
    config: ConfigOption = None,
    once: Annotated[
        bool,
        typer.Option(
            "--once", help="Process until the messagebox and outbox are empty, then exit."
        ),
    ] = False,
    insecure_dev: Annotated[
        bool,
        typer.Option(
            "--insecure-dev",
            help=(
                "Allow a plain http:// node URL to a loopback host (127.0.0.0/8, ::1 or "
                "localhost): a local simulator only."
            ),
        ),
    ] = False,
    max_wait: Annotated[
        float,
        typer.Option(help="With --once: seconds to wait for a node or back-office to recover."),
    ] = 120.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the connector: as a daemon, or once."""
    setup_logging(verbose)
    with user_errors():
        settings = load(config)
        from .service.daemon import run_daemon, run_once
        from .service.wiring import connector
        from .store.lease import StoreLease

        if not once:
            run_daemon(settings, insecure_dev=insecure_dev)
            return
        with (
            connector(settings, insecure_dev=insecure_dev) as pipeline,
            StoreLease(pipeline.store) as lease,
        ):
            if not lease.acquire():
                typer.echo(
                    "skn-connector: another instance is working this store (it holds the "
                    "store's lease); this run did nothing",
                    err=True,
                )
                raise typer.Exit(EXIT_FAILURE)
            summary = run_once(pipeline, max_wait=max_wait)
    answered = ", ".join(f"{n} {t}" for t, n in sorted(summary.answered.items())) or "none"
    typer.echo(
        f"fetched {summary.fetched}, quarantined {summary.quarantined}, duplicates "
        f"{summary.duplicates}, answered: {answered}, delivered {summary.delivered}, "
        f"waiting: {summary.pending_inbox} to process, {summary.pending_outbox} to deliver"
    )
    for error in summary.errors:
        typer.echo(f"skn-connector: {error}", err=True)
    if not summary.ok or summary.processing_failures:
        raise typer.Exit(EXIT_FAILURE)


# -- simulator ------------------------------------------------------------------------------


@app.command()
def simulator(
    port: Annotated[int, typer.Option(help="Port of the SOAP service (0: a free port).")] = 8450,
    admin_port: Annotated[
        int | None, typer.Option(help="Port of the admin API (default: port + 1).")
    ] = None,
    tls: Annotated[
        Path | None,
        typer.Option(
            help="Serve HTTPS with client certificates from DIR (created when missing; also "
            "writes receiver.pem and receiver.key for a connector's receive endpoint)."
        ),
    ] = None,
    push: Annotated[
        str | None,
        typer.Option(
            help="Deliver each message queued to this receive endpoint (https://...; needs "
            "--tls), retried until acknowledged, instead of only waiting to be fetched."
        ),
    ] = None,
) -> None:
    """Run the simulated node (SOAP service and admin API) on 127.0.0.1."""
    setup_logging(False)
    from .node.certs import PkiError
    from .node.simulator import SimulatorError, run_simulator

    try:
        run_simulator(port, admin_port, tls, push=push)
    except (SimulatorError, PkiError) as exc:
        fail(str(exc), EXIT_FAILURE)


# -- demo -----------------------------------------------------------------------------------


@app.command()
def demo(
    workdir: Annotated[
        Path | None, typer.Option(help="Keep the demo's files here (default: a temporary folder).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """The whole path on embedded defaults: simulator, sample back-office, answers."""
    import logging

    from .redaction import configure_logging

    configure_logging(logging.DEBUG if verbose else logging.WARNING)
    from .demo import run_demo

    with user_errors():
        ok = run_demo(workdir)
    if not ok:
        raise typer.Exit(EXIT_FAILURE)


# -- config ---------------------------------------------------------------------------------


@config_app.command("check")
def config_check(
    config: ConfigOption = None,
    insecure_dev: Annotated[
        bool,
        typer.Option(
            "--insecure-dev", help="Check as run --insecure-dev does (a plain http:// node URL)."
        ),
    ] = False,
) -> None:
    """Build everything run builds before it calls the node (policy, contact, adapters, TLS,
    store URL), then close it again; exit 2 naming the first problem."""
    with user_errors():
        settings = load(config)
        from .service.wiring import check_settings

        # the parts run builds, built the same way (then closed): what passes here, run takes
        check_settings(settings, insecure_dev=insecure_dev)
    for deprecated in settings.deprecations():
        typer.echo(f"skn-connector: warning: {settings.source}: {deprecated}", err=True)
    names = ", ".join(f"{a.name} ({a.use})" for a in settings.adapters)
    typer.echo(
        f"{settings.source}: OK; participant {settings.node.participant_id}; adapters: {names}"
    )


# -- plugins --------------------------------------------------------------------------------


@plugins_app.command("list")
def plugins_list(as_json: JsonOption = False) -> None:
    """Adapters installed under the entry-point group skn_connector.adapters."""
    from .adapters.registry import AdapterLoadError, available_adapters, resolve_adapter_class

    rows = []
    for name, target in sorted(available_adapters().items()):
        try:
            cls = resolve_adapter_class(name)
            capabilities = ", ".join(sorted(str(c) for c in cls.capabilities))
            status = "ok"
        except AdapterLoadError as exc:
            capabilities, status = "", str(exc)
        rows.append(
            {"name": name, "target": target, "capabilities": capabilities, "status": status}
        )
    if as_json:
        print_json(rows)
        return
    table(
        "Adapters",
        ["name", "target", "capabilities", "status"],
        [[r["name"], r["target"], r["capabilities"], r["status"]] for r in rows],
    )


# -- messages and quarantine ----------------------------------------------------------------


@contextmanager
def opened_store(config: Path | None) -> Iterator[Any]:
    """The configured store; its faults while the command works end in one sentence too."""
    with user_errors():
        settings = load(config)
        from .store import open_configured_store

        store = open_configured_store(settings.store)
        try:
            yield store
        finally:
            store.close()


@messages_app.command("list")
def messages_list(
    config: ConfigOption = None,
    as_json: JsonOption = False,
    limit: Annotated[int, typer.Option(help="Show at most this many, newest first.")] = 50,
) -> None:
    """Messages received and answers sent, newest first."""
    from .views import list_messages

    with opened_store(config) as store:
        rows = list_messages(store, limit)
    if as_json:
        print_json(rows)
        return
    table(
        "Messages",
        ["direction", "Referentienummer", "Berichttype", "conversation", "status", "at", "due"],
        [
            [
                r["direction"],
                r["referentienummer"],
                r["berichttype"],
                r["conversation_id"][:8],
                r["status"],
                r["at"][:19],
                r.get("answer_due") or "",
            ]
            for r in rows
        ],
    )


@messages_app.command("show")
def messages_show(
    referentienummer: Annotated[
        str, typer.Argument(help="The Referentienummer of a received or sent message.")
    ],
    config: ConfigOption = None,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Show personal data in clear (audit-logged).")
    ] = False,
) -> None:
    """A message in its JSON form, with the messages it answers and that answer it (its
    thread); personal data masked unless --reveal."""
    from .actor import Actor
    from .views import MessageNotFound, show_message

    with opened_store(config) as store:
        try:
            document = show_message(
                store, referentienummer, reveal=Actor.at_the_command_line() if reveal else None
            )
        except MessageNotFound:
            fail(
                f"no message with Referentienummer {referentienummer!r}; "
                "see 'skn-connector messages list'"
            )
    print_json(document)


@quarantine_app.command("list")
def quarantine_list(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Messages kept aside with the reason they could not be accepted."""
    from .views import list_quarantine

    with opened_store(config) as store:
        rows = list_quarantine(store)
    if as_json:
        print_json(rows)
        return
    table(
        "Quarantine",
        ["id", "received", "Referentienummer", "times", "reason"],
        [
            [
                str(r["id"]),
                r["received_at"][:19],
                r["referentienummer"] or "",
                str(r["occurrences"]),
                r["reason"],
            ]
            for r in rows
        ],
    )


@tasks_app.command("list")
def tasks_list(
    config: ConfigOption = None,
    as_json: JsonOption = False,
    show_all: Annotated[bool, typer.Option("--all", help="Also resolved tasks.")] = False,
) -> None:
    """Open tasks, the most urgent first."""
    from .views import list_tasks

    with opened_store(config) as store:
        rows = list_tasks(store, include_resolved=show_all)
    if as_json:
        print_json(rows)
        return
    table(
        "Tasks",
        ["id", "kind", "due", "conversation", "status", "reason"],
        [
            [
                str(r["id"]),
                r["kind"],
                r["due"] or "",
                (r["conversation_id"] or "")[:8],
                r["status"],
                r["reason"],
            ]
            for r in rows
        ],
    )


@tasks_app.command("resolve")
def tasks_resolve(
    task_id: Annotated[int, typer.Argument(help="The task's id (see 'tasks list').")],
    choice: Annotated[
        str, typer.Option(help="accept or reject for a proposal; done for other tasks.")
    ] = "done",
    note: Annotated[str | None, typer.Option(help="Why; sent as the reason of a refusal.")] = None,
    config: ConfigOption = None,
) -> None:
    """Resolve a task; for a proposal, the chosen answer goes out."""
    from .actor import Actor
    from .engine.pipeline import TaskError
    from .service.wiring import connector

    with user_errors():
        settings = load(config)
        with connector(settings, insecure_dev=True) as pipeline:
            try:
                outcome = pipeline.resolve_task(
                    task_id, choice=choice, note=note, actor=Actor.at_the_command_line()
                )
            except TaskError as exc:
                fail(str(exc))
    typer.echo(outcome)


@conversations_app.command("rules")
def conversations_rules(as_json: JsonOption = False) -> None:
    """Print the conversation transition table in force."""
    from .engine.conversations import TransitionTable
    from .messages import CATALOG

    rows = TransitionTable.load(known_events=CATALOG).rows()
    if as_json:
        print_json(rows)
        return
    columns = ["rule", "on", "modules", "from", "to", "answers", "note"]
    table("Conversation rules", columns, [[r[c] for c in columns] for r in rows])


@holds_app.command("list")
def holds_list(
    config: ConfigOption = None,
    as_json: JsonOption = False,
    show_all: Annotated[bool, typer.Option("--all", help="Also released holds.")] = False,
) -> None:
    """Holds on enforcement: what is stopped, on which claims, until when."""
    from .views import list_holds

    with opened_store(config) as store:
        rows = list_holds(store, include_released=show_all)
    if as_json:
        print_json(rows)
        return
    table(
        "Holds",
        [
            "hold",
            "type",
            "adapter",
            "debtor",
            "claims",
            "stops",
            "lifts",
            "basis",
            "from",
            "until",
            "effective end",
            "status",
        ],
        [
            [
                r["hold_id"][:8],
                r["hold_type"],
                r["adapter"],
                r["debtor_id"],
                ", ".join(r["claims"]),
                ", ".join(r["measures"]),
                ", ".join(r["lift"]) or "—",
                r["basis"],
                r["starts"],
                r["ends"] or "an event",
                r["effective_end"] or "an event",
                r["status"] + (f" ({r['release_reason']})" if r["release_reason"] else ""),
            ]
            for r in rows
        ],
    )


@policy_app.command("show")
def policy_show(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """The effective enforcement policy for this creditor, with the source of each rule."""
    from .engine.policy import GROUPS, PolicyError, load_policy

    with user_errors():
        settings = load(config)
        try:
            policy = load_policy(
                settings.creditor.kind, settings.creditor.covenant, settings.policy
            )
        except PolicyError as exc:
            fail(str(exc))
    rows = policy.rows()
    if as_json:
        print_json({"kind": policy.kind, "covenant": policy.covenant, "rules": rows})
        return
    columns = [
        "event",
        "title",
        "hold",
        "active",
        "duration",
        *GROUPS,
        "releases",
        "write_off",
        "source",
    ]
    table(
        f"Enforcement policy: {policy.kind}, covenant {policy.covenant}",
        columns,
        [[r[c] for c in columns] for r in rows],
    )


@portal_app.command("import")
def portal_import(
    file: Annotated[
        Path, typer.Argument(help="A Saldoverzoeken download from the web portal (.csv).")
    ],
    config: ConfigOption = None,
) -> None:
    """Answer a portal download with the same adapters and policy as the system link."""
    from .service.wiring import connector
    from .wire.portal_csv import PortalCsvError

    with user_errors():
        settings = load(config)
        with connector(settings, insecure_dev=True) as pipeline:
            try:
                outcomes = pipeline.import_portal(file)
            except PortalCsvError as exc:
                typer.echo(f"skn-connector: {file} is refused whole:", err=True)
                for error in exc.errors:
                    typer.echo(f"  {error}", err=True)
                raise typer.Exit(EXIT_USAGE) from None
            except (OSError, ValueError) as exc:
                fail(f"{file}: {exc}")
            while pipeline.process_due() > 0:
                pass
            pipeline.carry_out()
    counts = ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items()))
    typer.echo(f"{file}: {counts}; export the answers with 'skn-connector portal export'")


@portal_app.command("export")
def portal_export(
    out: Annotated[Path, typer.Option("--out", help="The upload file to write (.csv).")],
    message_type: Annotated[
        str, typer.Option("--type", help="The portal file type; only SaldoverzoekAntwoord.")
    ] = "SaldoverzoekAntwoord",
    config: ConfigOption = None,
) -> None:
    """Write the answers waiting for the web portal to an upload file."""
    from .service.wiring import connector

    if message_type != "SaldoverzoekAntwoord":
        fail(f"--type {message_type} is not a portal file type we write; use SaldoverzoekAntwoord")
    with user_errors():
        settings = load(config)
        with connector(settings, insecure_dev=True) as pipeline:
            try:
                count = pipeline.export_portal(out)
            except ValueError as exc:
                fail(f"{out}: {exc}")
    typer.echo(f"{out}: {count} answer(s) written; upload it in the web portal")


@app.command("new-adapter")
def new_adapter(
    name: Annotated[str, typer.Argument(help="The adapter's name, e.g. my-backoffice.")],
    directory: Annotated[
        Path | None, typer.Option(help="Where to write the new plugin (default: here).")
    ] = None,
) -> None:
    """Write a working adapter skeleton, with its conformance test, to start from."""
    from .scaffold import write_adapter_skeleton

    try:
        written = write_adapter_skeleton(name, directory or Path.cwd())
    except (ValueError, FileExistsError) as exc:
        fail(str(exc))
    typer.echo(f"wrote {len(written)} files under {written[0].parent}; see its README.md")


def _operator_action(config: Path | None, action: Callable[[Pipeline, Actor], str]) -> None:
    """Run one action of a person on the pipeline (``action(pipeline, actor)``), print its
    outcome; a refusal (TaskError) is a user error."""
    from .actor import Actor
    from .engine.pipeline import TaskError
    from .service.wiring import connector

    with user_errors():
        settings = load(config)
        with connector(settings, insecure_dev=True) as pipeline:
            try:
                outcome = action(pipeline, Actor.at_the_command_line())
            except TaskError as exc:
                fail(str(exc))
    typer.echo(outcome)


@quarantine_app.command("retry")
def quarantine_retry(
    quarantine_id: Annotated[int, typer.Argument(help="The id shown by 'quarantine list'.")],
    config: ConfigOption = None,
) -> None:
    """Try a quarantined message again, e.g. after an update; it stays if it still fails."""
    _operator_action(
        config, lambda pipeline, actor: pipeline.retry_quarantined(quarantine_id, actor=actor)
    )


@messages_app.command("replay")
def messages_replay(
    referentienummer: Annotated[
        str, typer.Argument(help="The Referentienummer of a failed message.")
    ],
    config: ConfigOption = None,
) -> None:
    """Work a failed or unexpected message again, with its retry counters reset."""
    _operator_action(config, lambda pipeline, actor: pipeline.replay(referentienummer, actor=actor))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
