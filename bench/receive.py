"""Receive-mode benchmark: durable acknowledgements a second with 1, 8 and 32 pushers, against
the poll path's rate measured in the same run.

The connector is the daemon (``run_daemon`` in receive mode, as ``skn-connector run`` runs
it, in a subprocess pinned to one CPU; logging unconfigured, as in bench/pipeline.py): a
SQLite file store (WAL, synchronous=FULL), the gemeentebelastingen reference adapter with its
sample back-office, its receive endpoint over mutual TLS. The simulated node runs in a
process of its own on the other CPU with the backlog in its memory (the mix of
bench/pipeline.py) and delivers it with N concurrent pushers (``node/pusher.py``: one
connection each, kept alive), each waiting for its acknowledgement before the next
delivery. An acknowledgement comes only after the delivery's commit, so each one counted
is durable. The daemon decides and answers meanwhile, as it would in production; the
answers go back to the node (its send operation).

Measured per number of pushers: acknowledgements a second (from the first delivery to the
last acknowledgement), the CPU the daemon and the node each used a delivery over that time
(``/proc``: the rate is the share of a CPU the daemon gets over its CPU a delivery, so this
tells a change of the connector's cost from a change of the machine's load), the time from
sending a delivery to its acknowledgement (p50, p99), the deliveries refused as busy (503),
answers a second end to end (from the first delivery to the last answer the node received),
and the 99th percentile of the time from a delivery's intake to its answer written and to
its hold applied (``receive.decide_delay_max`` holds deciding back while deliveries keep
coming: this is what that costs). The poll path is ``bench/pipeline.py``'s run for the
same number of messages (fetch, store, confirm, decide, answer, deliver), in a fresh process
too. Nothing about speed is asserted. Run ``python -m bench.receive --help``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.pipeline import Template, machine, payloads, run_in_subprocess, templates
from bench.pipeline import latencies as latencies_of

DEFAULT_PUSHERS = (1, 8, 32)
DEFAULT_MESSAGES = 3000
#: The targets of the receive-mode work, at 8 pushers.
TARGET_PUSHERS = 8
TARGET_P99_SECONDS = 0.25


@dataclass
class Result:
    pushers: int
    messages: int
    ack_seconds: float
    answer_seconds: float
    p50: float
    p99: float
    busy: int
    #: from a delivery's intake to its answer written, and to its hold applied (p99, s)
    answer_p99: float = float("nan")
    hold_p99: float = float("nan")
    #: CPU seconds a delivery, from the first delivery to the last acknowledgement: the
    #: daemon's process, and the node's
    daemon_cpu: float = float("nan")
    node_cpu: float = float("nan")

    @property
    def ack_rate(self) -> float:
        return self.messages / self.ack_seconds

    @property
    def answer_rate(self) -> float:
        return self.messages / self.answer_seconds


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def _serve_node(
    connection: Any,
    tls_dir: Path,
    mix: list[Template],
    size: int,
    cpu: int | None,
    url: str,
    workers: int,
) -> None:
    """The node's process: serve, wait for "go", deliver the backlog, report."""
    from skn_connector.demo import CREDITOR_ID
    from skn_connector.node.pusher import Pusher
    from skn_connector.node.simulator import NodeState, Simulator

    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    simulator = Simulator(port=0, tls_dir=tls_dir)
    simulator.state = NodeState(keep_sent=False)
    for payload in payloads(mix, size):
        simulator.state.queue_raw(CREDITOR_ID, payload)
    with simulator:
        connection.send(simulator.url)
        daemon_pid: int = connection.recv()  # "go": the daemon listens
        pusher = Pusher(simulator.state, url, tls_dir, workers=workers)
        daemon_cpu, node_cpu = process_cpu(daemon_pid), time.process_time()
        started = time.perf_counter()
        pusher.start()
        acknowledged = answered = float("nan")
        daemon_cpu_acked = node_cpu_acked = float("nan")
        deadline = started + 600
        while time.perf_counter() < deadline:
            stats = simulator.state.stats()
            now = time.perf_counter() - started
            if acknowledged != acknowledged and stats["acknowledged"] >= size:  # nan: not yet
                acknowledged = now
                daemon_cpu_acked = process_cpu(daemon_pid) - daemon_cpu
                node_cpu_acked = time.process_time() - node_cpu
            if answered != answered and stats["sent"] >= size:
                answered = now
            if acknowledged == acknowledged and answered == answered:
                break
            time.sleep(0.002)
        pusher.stop()
        stats = simulator.state.stats()
        connection.send(
            {
                "ack_seconds": acknowledged,
                "answer_seconds": answered,
                "latencies": list(pusher.latencies),
                "busy": stats["pushed"] - stats["acknowledged"],
                "daemon_cpu": daemon_cpu_acked / size,
                "node_cpu": node_cpu_acked / size,
            }
        )


def process_cpu(pid: int) -> float:
    """Seconds of CPU (user and system, all threads) process ``pid`` has used; NaN where
    ``/proc`` cannot tell."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def _pin(pid: int, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(pid, {cpu})


def _cpus() -> tuple[int | None, int | None]:
    """(the connector's CPU, the node's): the last two the process may use."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None, None
    if len(cpus) < 2:
        return cpus[-1], None
    return cpus[-1], cpus[-2]


def _listening(port: int, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def run_pushers(
    pushers: int, size: int, workdir: Path, *, decide_delay_max: str | None = None
) -> Result:
    """One measurement: a fresh store, back-office and node, ``size`` messages delivered by
    ``pushers`` concurrent pushers to the daemon (``decide_delay_max``: the setting, when
    not its default)."""
    from skn_connector.adapters.registry import resolve_adapter_class
    from skn_connector.demo import add_receive_mode, write_config

    sample = resolve_adapter_class("gemeentebelastingen").create_sample(workdir / "backoffice")
    mix = templates(sample.debtors)
    tls = workdir / "tls"
    port = _free_port()
    url = f"https://127.0.0.1:{port}/skn"
    connector_cpu, node_cpu = _cpus()
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    node = context.Process(
        target=_serve_node,
        args=(child, tls, list(mix), size, node_cpu, url, pushers),
        name="simulated-node",
        daemon=True,
    )
    node.start()
    try:
        if not parent.poll(600):
            raise RuntimeError("the simulated node did not start within 10 minutes")
        node_url = parent.recv()
        config = write_config(workdir, SimpleNamespace(url=node_url, tls_dir=tls), sample.options)
        limits = {} if decide_delay_max is None else {"decide_delay_max": decide_delay_max}
        add_receive_mode(config, tls, port, **limits)
        log = (workdir / "daemon.log").open("wb")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "bench.receive", "--daemon", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            _pin(daemon.pid, connector_cpu)
            if not _listening(port):
                raise RuntimeError("the daemon's receive endpoint did not start")
            parent.send(daemon.pid)  # go
            if not parent.poll(900):
                raise RuntimeError("the node did not finish delivering within 15 minutes")
            report: dict[str, Any] = parent.recv()
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(60)
            log.close()
    finally:
        node.join(30)
        if node.is_alive():
            node.kill()
    if report["answer_seconds"] != report["answer_seconds"]:
        tail = (workdir / "daemon.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"not every message was answered; the daemon's log ends:\n{tail}")
    latencies = report["latencies"]
    holds, answers, _ = latencies_of(workdir / "skn-connector.db")
    return Result(
        pushers=pushers,
        messages=size,
        ack_seconds=report["ack_seconds"],
        answer_seconds=report["answer_seconds"],
        p50=_percentile(latencies, 0.5),
        p99=_percentile(latencies, 0.99),
        busy=report["busy"],
        answer_p99=_percentile(answers, 0.99),
        hold_p99=_percentile(holds, 0.99),
        daemon_cpu=report["daemon_cpu"],
        node_cpu=report["node_cpu"],
    )


def _daemon(config: Path) -> int:
    """The connector's process: the daemon's own code (``run_daemon``), with logging left
    unconfigured as in bench.pipeline (warnings only; the CLI's INFO line per message costs
    about a tenth of the CPU more)."""
    from skn_connector.config import load_settings
    from skn_connector.service.daemon import run_daemon

    run_daemon(load_settings(config))
    return 0


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(results: Sequence[Result], poll_rate: float) -> list[str]:
    lines = [
        f"{'pushers':>8}{'messages':>10}{'acks/s':>9}{'ack p50':>10}{'ack p99':>10}"
        f"{'busy (503)':>12}{'answers/s':>11}{'answer p99':>12}{'hold p99':>10}"
        f"{'acks/poll':>11}{'cpu/ack':>9}{'node cpu':>10}",
    ]
    for r in results:
        lines.append(
            f"{r.pushers:>8}{r.messages:>10}{r.ack_rate:>9.0f}{r.p50:>9.3f}s{r.p99:>9.3f}s"
            f"{r.busy:>12}{r.answer_rate:>11.0f}{r.answer_p99:>11.2f}s{r.hold_p99:>9.2f}s"
            f"{r.ack_rate / poll_rate:>10.2f}x"
            f"{r.daemon_cpu * 1e6:>6.0f} µs{r.node_cpu * 1e6:>7.0f} µs"
        )
    lines.append(f"poll path (bench.pipeline, the same messages): {poll_rate:.0f} msg/s end to end")
    lines.append(
        "cpu/ack: the daemon's CPU a delivery, first delivery to last acknowledgement (deciding "
        "included where it ran meanwhile); node cpu: the simulated node's"
    )
    target = next((r for r in results if r.pushers == TARGET_PUSHERS), None)
    if target is not None:
        lines += [
            "",
            f"targets, at {TARGET_PUSHERS} pushers:",
            f"  acknowledgements a second at least the poll path's: {target.ack_rate:.0f} "
            f"against {poll_rate:.0f}: {_met(target.ack_rate >= poll_rate)}",
            f"  p99 acknowledgement under {TARGET_P99_SECONDS * 1000:.0f} ms: "
            f"{target.p99 * 1000:.0f} ms: {_met(target.p99 < TARGET_P99_SECONDS)}",
        ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.receive",
        description="Receive mode: durable acknowledgements a second, against the poll path.",
    )
    parser.add_argument(
        "--pushers",
        default=",".join(str(p) for p in DEFAULT_PUSHERS),
        help="comma-separated numbers of concurrent pushers (default 1,8,32)",
    )
    parser.add_argument(
        "--messages",
        type=int,
        default=DEFAULT_MESSAGES,
        help=f"messages per measurement (default {DEFAULT_MESSAGES})",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="measurements each; the median is shown"
    )
    parser.add_argument(
        "--decide-delay-max",
        help="receive.decide_delay_max for the daemon (default: the setting's default; "
        '"0s": decide while receiving, without waiting for a pause)',
    )
    parser.add_argument("--daemon", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.daemon is not None:
        return _daemon(args.daemon)
    try:
        counts = [int(p) for p in args.pushers.split(",") if p.strip()]
    except ValueError:
        parser.error("--pushers takes whole numbers separated by commas")
    if not counts or min(counts) < 1 or args.messages < 1 or args.rounds < 1:
        parser.error("--pushers, --messages and --rounds take positive whole numbers")
    print(
        "Receive benchmark: the node delivers over mutual TLS to the daemon in receive mode; "
        "each acknowledgement after its durable commit; decided and answered meanwhile"
    )
    print(*machine(), sep="\n")
    polls = sorted(run_in_subprocess(args.messages, None).rate for _ in range(args.rounds))
    poll_rate = polls[len(polls) // 2]
    print(f"... poll path: {poll_rate:.0f} msg/s", file=sys.stderr, flush=True)
    results = []
    for pushers in counts:
        runs = []
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="skn-bench-receive-") as tmp:
                runs.append(
                    run_pushers(
                        pushers, args.messages, Path(tmp), decide_delay_max=args.decide_delay_max
                    )
                )
            print(
                f"... {pushers} pushers: {runs[-1].ack_rate:.0f} acks/s",
                file=sys.stderr,
                flush=True,
            )
        runs.sort(key=lambda r: r.ack_rate)
        results.append(runs[len(runs) // 2])
    print()
    delay = args.decide_delay_max or "the default"
    print(
        f"{args.messages} messages per measurement; rounds {args.rounds}; "
        f"receive.decide_delay_max {delay}"
    )
    print("\n".join(report(results, poll_rate)))
    if len(polls) > 1:
        print(f"poll path rounds (msg/s): {' '.join(f'{p:.0f}' for p in polls)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
