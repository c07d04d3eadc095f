"""A stop asked for while the daemon starts (its faces and receive endpoint come up before
the scheduler runs) ends it cleanly: it was a SchedulerNotRunningError and exit code 1,
found by the receive fault tier."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.config import load_settings
from skn_connector.demo import write_config
from skn_connector.node.simulator import Simulator
from skn_connector.service.daemon import run_daemon


@pytest.fixture
def handlers() -> Iterator[None]:
    """run_daemon sets SIGTERM and SIGINT handlers in this process: put pytest's back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_a_sigterm_while_the_faces_start_stops_the_daemon_cleanly(
    tmp_path: Path, handlers: None
) -> None:
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    started: list[float] = []

    def stopped_during_start(*_args: Any) -> None:
        started.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGTERM)  # its handler runs here, before the scheduler
        return None

    with Simulator(port=0, tls_dir=tmp_path / "tls") as node:
        settings = load_settings(write_config(tmp_path, node, sample.options))
        began = time.monotonic()
        run_daemon(settings, faces=[stopped_during_start])  # returns: it stopped
    assert started, "the face was not started"
    assert time.monotonic() - began < 30
