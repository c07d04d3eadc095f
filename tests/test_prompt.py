"""When the prompted receive job runs: in a lull of the asks, never later than its bound after
the oldest ask it has not run for; or, without a bound, a moment after the first ask."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.config import ConfigError, load_settings
from skn_connector.demo import add_receive_mode, write_config
from skn_connector.node.certs import write_dev_pki
from skn_connector.service.prompt import Prompt


class Runs:
    def __init__(self) -> None:
        self.at: list[float] = []
        self.ran = threading.Event()

    def __call__(self) -> None:
        self.at.append(time.monotonic())
        self.ran.set()


def _ask_for(prompt: Prompt, seconds: float, every: float = 0.01) -> tuple[float, float]:
    """Ask every ``every`` seconds for ``seconds``; when the first and the last ask came."""
    began = last = time.monotonic()
    while time.monotonic() - began < seconds:
        prompt.ask()
        last = time.monotonic()
        time.sleep(every)
    return began, last


def test_a_stream_of_asks_waits_for_the_bound() -> None:
    runs = Runs()
    with Prompt(runs, batch=5, settle=0.1, within=0.4) as prompt:
        began, last = _ask_for(prompt, 0.6)
        assert runs.ran.wait(2)
        time.sleep(0.3)
    # no run before the bound, however many asks (far more than a batch) came
    assert runs.at[0] - began >= 0.4
    assert runs.at[0] - began < 0.4 + 0.3  # a loaded machine's thread wakes up late
    # the asks after the first run waited too: once more, a settle after the last ask
    assert len(runs.at) == 2
    assert 0.1 <= runs.at[1] - last < 0.1 + 0.3


def test_a_lull_runs_the_job_at_once() -> None:
    runs = Runs()
    with Prompt(runs, settle=0.05, within=5.0) as prompt:
        prompt.ask(3)
        asked = time.monotonic()
        assert runs.ran.wait(2)
    assert 0.05 <= runs.at[0] - asked < 0.3


def test_without_a_bound_a_whole_batch_runs_the_job() -> None:
    runs = Runs()
    with Prompt(runs, batch=10, settle=5.0) as prompt:
        asked = time.monotonic()
        prompt.ask(10)
        assert runs.ran.wait(2)
    assert runs.at[0] - asked < 1.0


@pytest.mark.parametrize(("value", "seconds"), [("0s", 0), ("3s", 3), ("2m", None)])
def test_the_bound_is_a_setting(tmp_path: Path, value: str, seconds: int | None) -> None:
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    tls = tmp_path / "tls"
    write_dev_pki(tls)
    node = SimpleNamespace(url="https://127.0.0.1:1/skn", tls_dir=tls)
    config = write_config(tmp_path, node, sample.options)  # type: ignore[arg-type]
    add_receive_mode(config, tls, 8443, decide_delay_max=value)
    if seconds is None:
        with pytest.raises(ConfigError, match="decide_delay_max"):
            load_settings(config)
        return
    settings = load_settings(config)
    assert settings.receive is not None
    assert settings.receive.decide_delay_max.total_seconds() == seconds
