"""The ``skn-connector`` application and its command groups; the commands register on them."""

from __future__ import annotations

import typer

from .common import command_group

app = typer.Typer(
    name="skn-connector",
    help="A creditor's connector to the Schuldenknooppunt: daemon, simulator and tools.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"skn-connector {version('skn-connector')}")
        raise typer.Exit()


@app.callback()
def _main(
    show_version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """A creditor's connector to the Schuldenknooppunt: daemon, simulator and tools."""


config_app = command_group("Check the configuration.")
plugins_app = command_group("Adapter plugins.")
messages_app = command_group("Messages received and sent.")
quarantine_app = command_group("Messages that could not be accepted.")
tasks_app = command_group("What a person must look at or decide.")
conversations_app = command_group("The conversation state machine.")
holds_app = command_group("Holds on enforcement.")
policy_app = command_group("The enforcement policy.")
portal_app = command_group("The web-portal CSV files.")
secrets_app = command_group("Secrets referred to as secret:NAME.")
audit_app = command_group("The hash-chained audit trail.")
retention_app = command_group("The retention of personal data.")
users_app = command_group("The console's accounts.")
for group, name in (
    (config_app, "config"),
    (plugins_app, "plugins"),
    (messages_app, "messages"),
    (quarantine_app, "quarantine"),
    (tasks_app, "tasks"),
    (conversations_app, "conversations"),
    (holds_app, "holds"),
    (policy_app, "policy"),
    (portal_app, "portal"),
    (secrets_app, "secrets"),
    (audit_app, "audit"),
    (retention_app, "retention"),
    (users_app, "users"),
):
    app.add_typer(group, name=name)
