"""bench/console.py works on a small store and asks every page it names (no timing)."""

from __future__ import annotations

from pathlib import Path

from bench import console


def test_every_page_of_the_benchmark_answers(tmp_path: Path) -> None:
    mix = console.Mix(messages=400, holds=40)
    timings, size = console.measure(tmp_path, mix, repeat=1)
    names = [t.name for t in timings]
    assert names[0] == "Overzicht" and names[-1] == "Login (no session)"
    assert (
        len(names)
        == len(
            console.pages(
                {
                    "busy_day": "x",
                    "task": 1,
                    "klantnummer": "k",
                    "conversation": "c",
                    "quarantine": 1,
                }
            )
        )
        + 1
    )
    assert all(len(t.seconds) == 1 and t.p95_ms > 0 for t in timings)
    lines = console.report(mix, timings, size, 200)
    assert lines[0].startswith("store: 400 messages, 40 holds")
