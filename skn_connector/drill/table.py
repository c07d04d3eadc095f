"""The drill's table: the same seed gives the same text, byte for byte (no times, no ids)."""

from __future__ import annotations

from .run import DrillReport

COLUMNS = (
    "creditor",
    "questions",
    "answers",
    "late",
    "lost",
    "answered twice",
    "holds",
    "released",
    "measures taken",
    "on held claims",
    "write-offs",
    "back-office down (days)",
    "tasks decided",
)


def table(report: DrillReport) -> str:
    """The table in Markdown, and a line of what the days held."""
    o = report.options
    lines = [
        f"drill: {o.days} days ({report.working_days} working days) from seed {o.seed}; "
        f"{report.messages} messages placed, {report.duplicates_placed} delivered twice; "
        f"node down {report.node_down_days} working days",
        "stories: " + ", ".join(f"{name} {count}" for name, count in report.stories.items()),
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|---|" + "---:|" * (len(COLUMNS) - 1),
    ]
    for key, c in report.counts.items():
        cells = (
            key,
            c.questions,
            c.answers,
            c.late,
            c.lost,
            c.duplicated,
            c.holds,
            c.releases,
            c.measures,
            c.on_held,
            c.write_offs,
            c.backoffice_down_days,
            c.tasks_resolved,
        )
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    lines.append("")
    lines.append(
        f"{len(report.findings)} findings" if report.findings else "no findings: the drill passes"
    )
    return "\n".join(lines)
