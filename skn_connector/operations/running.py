"""Running the connector, as the faces start it: the daemon, a single run, and the check of
a configuration that promises what ``run`` will accept."""

from __future__ import annotations

from collections.abc import Sequence

from ..config import Settings
from ..engine.records import RunSummary
from ..service import daemon
from ..service.wiring import Checked, check_settings, connector
from ..store.lease import StoreLease


class AnotherInstanceWorks(Exception):
    """The store's lease is held by another instance: this run did nothing."""


def run_daemon(
    settings: Settings,
    *,
    insecure_dev: bool = False,
    faces: Sequence[daemon.FaceStarter] = (),
) -> None:
    """The daemon, serving ``faces`` (the HTTP face) beside its work."""
    daemon.run_daemon(settings, insecure_dev=insecure_dev, faces=faces)


def run_daemon_for(
    creditors: Sequence[Settings],
    *,
    insecure_dev: bool = False,
    faces: Sequence[daemon.FaceStarter] = (),
) -> None:
    """The daemon for every creditor of a deployment, serving ``faces`` beside its work."""
    daemon.run_daemon_for(creditors, insecure_dev=insecure_dev, faces=faces)


def run_once(settings: Settings, *, insecure_dev: bool = False, max_wait: float) -> RunSummary:
    """Fetch, process and deliver until the messagebox and the outbox are empty, holding the
    store's lease (AnotherInstanceWorks when another instance holds it)."""
    with (
        connector(settings, insecure_dev=insecure_dev) as pipeline,
        StoreLease(pipeline.store) as lease,
    ):
        if not lease.acquire():
            raise AnotherInstanceWorks(
                "another instance is working this store (it holds the store's lease); "
                "this run did nothing"
            )
        return daemon.run_once(pipeline, max_wait=max_wait)


def check_configuration(settings: Settings, *, insecure_dev: bool = False) -> Checked:
    """Build every part run builds before it calls the node, then close it (see
    ``service.wiring.check_settings``): what passes, run accepts."""
    return check_settings(settings, insecure_dev=insecure_dev)
