"""bench/receive.py works on a tiny backlog and reports (no timing)."""

from __future__ import annotations

import math
from pathlib import Path

from bench import receive


def test_a_tiny_run_acknowledges_and_answers_everything_and_reports(tmp_path: Path) -> None:
    result = receive.run_pushers(2, 20, tmp_path)
    assert result.messages == 20 and result.busy >= 0
    assert result.ack_seconds > 0 and result.answer_seconds >= result.ack_seconds * 0.5
    assert 0 < result.p50 <= result.p99
    # read from /proc: the daemon's handshakes and commits take some CPU, the node's less
    assert not math.isnan(result.daemon_cpu) and result.daemon_cpu > 0
    assert not math.isnan(result.node_cpu) and result.node_cpu >= 0
    text = "\n".join(receive.report([result, receive.Result(8, 20, 1.0, 2.0, 0.1, 0.2, 0)], 10.0))
    assert "acks/s" in text and "targets, at 8 pushers" in text and "poll path" in text
    assert "cpu/ack" in text and "node cpu" in text
