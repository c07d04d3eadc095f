"""Helpers for the receive-mode tests: a free port, a daemon subprocess, TLS clients."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from skn_connector.node.certs import DevPki

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "skn-connector")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def node_context(pki: DevPki) -> ssl.SSLContext:
    """TLS as the node delivers: its certificate as the client's, trusting the dev CA."""
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    context.load_cert_chain(str(pki.node_cert), str(pki.node_key))
    return context


def listening(port: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Daemon:
    """``skn-connector run -c CONFIG`` as a subprocess; stderr goes to a file."""

    def __init__(self, config: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.log = log
        self.env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        with self.log.open("ab") as err:
            self.process = subprocess.Popen(
                [CLI, "run", "--config", str(self.config)],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=self.env,
            )
        return self

    def kill(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait(30)

    def stop(self) -> int:
        """SIGTERM, and the exit code (SIGKILL after 30 s)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def __enter__(self) -> Daemon:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")
