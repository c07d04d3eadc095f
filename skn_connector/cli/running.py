"""Running the connector and its companions: ``run``, the simulator, the demo,
``config check``, ``plugins list`` and ``new-adapter``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ..engine.records import RunSummary

from .app import app, config_app, plugins_app
from .common import (
    EXIT_FAILURE,
    ConfigOption,
    CreditorOption,
    InsecureDevOption,
    JsonOption,
    fail,
    load_deployment,
    print_json,
    setup_logging,
    table,
    user_errors,
)

# -- run ------------------------------------------------------------------------------------


@app.command()
def run(
    config: ConfigOption = None,
    creditor: CreditorOption = None,
    once: Annotated[
        bool,
        typer.Option(
            "--once", help="Process until the messagebox and outbox are empty, then exit."
        ),
    ] = False,
    insecure_dev: InsecureDevOption = False,
    max_wait: Annotated[
        float,
        typer.Option(help="With --once: seconds to wait for a node or back-office to recover."),
    ] = 120.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the connector for every creditor of the configuration (or the one --creditor
    names): as a daemon, or once."""
    setup_logging(verbose)
    with user_errors():
        deployment = load_deployment(config)
        creditors = deployment.creditors if creditor is None else (deployment.select(creditor),)
        settings = creditors[0]
        setup_logging(verbose, settings.logging.format)
        from ..operations.running import AnotherInstanceWorks, run_daemon, run_once

        if not once:
            from ..http.server import start_face

            if len(creditors) > 1:
                from ..operations.running import run_daemon_for

                run_daemon_for(creditors, insecure_dev=insecure_dev, faces=[start_face])
                return
            run_daemon(settings, insecure_dev=insecure_dev, faces=[start_face])
            return
        summaries = []
        for each in creditors:
            try:
                summaries.append(run_once(each, insecure_dev=insecure_dev, max_wait=max_wait))
            except AnotherInstanceWorks as exc:
                fail(str(exc), EXIT_FAILURE)
    failed = False
    for each, summary in zip(creditors, summaries, strict=True):
        prefix = f"{each.creditor.name}: " if len(creditors) > 1 else ""
        _say_summary(prefix, summary)
        failed = failed or not summary.ok or bool(summary.processing_failures)
    if failed:
        raise typer.Exit(EXIT_FAILURE)


def _say_summary(prefix: str, summary: RunSummary) -> None:
    answered = ", ".join(f"{n} {t}" for t, n in sorted(summary.answered.items())) or "none"
    if summary.answered["GeenMedewerking"]:
        # a made-up debtor is the first thing a new user tries: say what that answer means
        answered += " (GeenMedewerking: no adapter knew the debtor; -v shows how it was looked up)"
    typer.echo(
        f"{prefix}fetched {summary.fetched}, quarantined {summary.quarantined}, duplicates "
        f"{summary.duplicates}, answered: {answered}, delivered {summary.delivered}, "
        f"waiting: {summary.pending_inbox} to process, {summary.pending_outbox} to deliver"
        + (f", {summary.to_approve} for approval (see 'tasks list')" if summary.to_approve else "")
    )
    for error in summary.errors:
        typer.echo(f"skn-connector: {prefix}{error}", err=True)


# -- console --------------------------------------------------------------------------------


@app.command()
def console(
    config: ConfigOption = None,
    creditor: CreditorOption = None,
    listen: Annotated[
        str | None,
        typer.Option(help="HOST:PORT to serve on (default: [http] listen of the configuration)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Serve the console (and health and metrics) alone against the configuration's store,
    without the daemon's work: for a second machine or while the daemon runs elsewhere."""
    setup_logging(verbose)
    with user_errors():
        deployment = load_deployment(config)
        creditors = deployment.creditors if creditor is None else (deployment.select(creditor),)
        settings = creditors[0]
        setup_logging(verbose, settings.logging.format)
        from ..config import ConfigError, listen_address
        from ..http.server import serve_console

        try:
            address = listen_address(listen) if listen else settings.http.address
        except ValueError as exc:
            raise ConfigError(f"--listen: {exc}") from None
        if address is None:
            fail("give --listen HOST:PORT or set [http] listen in the configuration")
        serve_console(
            settings,
            address,
            on_ready=lambda url: typer.echo(f"the console is served on {url}/ (Ctrl-C stops)"),
            creditors=creditors,
        )


# -- simulator ------------------------------------------------------------------------------


@app.command()
def simulator(
    port: Annotated[
        int, typer.Option(min=0, max=65534, help="Port of the SOAP service (0: a free port).")
    ] = 8450,
    admin_port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Port of the admin API (default: port + 1)."),
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
    from ..node.certs import PkiError
    from ..node.simulator import SimulatorError, run_simulator

    try:
        run_simulator(port, admin_port, tls, push=push)
    except (SimulatorError, PkiError) as exc:
        fail(str(exc), EXIT_FAILURE)
    except OSError as exc:  # the port is taken, or not ours to bind
        fail(
            f"the simulator cannot listen on 127.0.0.1:{port} ({exc.strerror}); pick another --port"
        )


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

    from ..redaction import configure_logging

    configure_logging(logging.DEBUG if verbose else logging.WARNING)
    from ..demo import run_demo

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
        deployment = load_deployment(config)
        from ..operations.running import check_configuration

        # the parts run builds, built the same way (then closed): what passes here, run takes
        for settings in deployment.creditors:
            check_configuration(settings, insecure_dev=insecure_dev)
    lines = []
    for settings in deployment.creditors:
        for deprecated in settings.deprecations():
            typer.echo(f"skn-connector: warning: {settings.source}: {deprecated}", err=True)
        names = ", ".join(f"{a.name} ({a.use})" for a in settings.adapters)
        lines.append(f"participant {settings.node.participant_id}; adapters: {names}")
    if not deployment.several:
        typer.echo(f"{deployment.source}: OK; {lines[0]}")
        return
    typer.echo(f"{deployment.source}: OK; {len(lines)} creditors")
    for settings, line in zip(deployment.creditors, lines, strict=True):
        typer.echo(f"  {settings.creditor.name}: {line}")


# -- plugins --------------------------------------------------------------------------------


@plugins_app.command("list")
def plugins_list(as_json: JsonOption = False) -> None:
    """Adapters installed under the entry-point group skn_connector.adapters."""
    from ..adapters.registry import AdapterLoadError, available_adapters, resolve_adapter_class

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


@app.command("new-adapter")
def new_adapter(
    name: Annotated[str, typer.Argument(help="The adapter's name, e.g. my-backoffice.")],
    directory: Annotated[
        Path | None, typer.Option(help="Where to write the new plugin (default: here).")
    ] = None,
) -> None:
    """Write a working adapter skeleton, with its conformance test, to start from."""
    from ..scaffold import write_adapter_skeleton

    try:
        written = write_adapter_skeleton(name, directory or Path.cwd())
    except (ValueError, FileExistsError) as exc:
        fail(str(exc))
    typer.echo(f"wrote {len(written)} files under {written[0].parent}; see its README.md")


@app.command("init")
def init(
    directory: Annotated[
        Path, typer.Option(help="Where to write the starter (default: here).")
    ] = Path("."),
    port: Annotated[
        int, typer.Option(min=1, max=65534, help="The simulator's SOAP port it reaches.")
    ] = 8450,
    tls: Annotated[
        Path | None,
        typer.Option(help="The simulator's --tls folder (default: tls in the directory)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Write over a configuration.")] = False,
) -> None:
    """Write a starter: a configuration that reaches the simulated node, a sample back-office
    and example messages about its debtors."""
    from ..starter import StarterExists, write_starter

    try:
        written = write_starter(directory, port=port, tls=tls, force=force)
    except StarterExists as exc:
        fail(str(exc))
    names = ", ".join(p.name for p in written.examples)
    typer.echo(
        f"wrote {written.config} (0600), a sample back-office in {written.backoffice.parent} "
        f"and example messages ({names}). Next:\n"
        f"  skn-connector simulator --port {port} --tls {tls or directory / 'tls'}"
        "   # in a second terminal\n"
        f"  skn-connector config check\n"
        f"  curl -X POST http://127.0.0.1:{port + 1}/_admin/messages "
        "-H 'Content-Type: application/json' -d @saldoverzoek.json\n"
        "  skn-connector run --once"
    )


@config_app.command("example")
def config_example() -> None:
    """Print the full configuration: every setting, commented, with its default."""
    from ..starter import example_config

    typer.echo(example_config(), nl=False)
