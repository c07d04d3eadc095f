"""``skn-connector drill``: a year (or any number of days) on a fake clock, against the
simulated node and the three reference adapters' sample back-offices, with a verdict that
counts what must never happen (docs/reliability.md, "The drill")."""

from .run import DrillOptions, DrillReport, run_drill

__all__ = ["DrillOptions", "DrillReport", "run_drill"]
