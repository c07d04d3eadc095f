"""``skn-cjib``: the sample back-office of the CJIB reference adapter.

``skn-cjib seed --directory DIR`` creates it and prints an ``[[adapters]]`` entry in
TOML that reaches it, ready to paste into a connector config. ``skn-cjib escalate
--database FILE --date YYYY-MM-DD`` runs the back-office's surcharge run (the Wahv
verhogingen that are due on that date). Every person in the sample is synthetic.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from sqlalchemy import exc as sa_exc

from .adapter import CjibAdapter
from .backoffice import escalate

_PURPOSE = {
    "700001": "two Wahv fines with verhogingen (one fully increased), a running bankbeslag",
    "700002": "a schadevergoedingsmaatregel (niet-saneerbaar) and a Wahv fine",
    "700003": "a Wahv fine handed to a (fictional) deurwaarder, and an open one",
    "700004": "gijzeling and rijbewijsinname pending; a geldboete by vonnis (niet-saneerbaar)",
}


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def render_toml(options: dict[str, object], name: str = "cjib") -> str:
    """An ``[[adapters]]`` entry with these options, as TOML."""
    lines = [
        "[[adapters]]",
        f"name = {_toml_value(name)}",
        f'use = "{CjibAdapter.name}"',
        "  [adapters.options]",
    ]
    lines += [f"  {key} = {_toml_value(value)}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def _seed(directory: Path) -> int:
    try:
        sample = CjibAdapter.create_sample(directory)
    except OSError as exc:
        print(
            f"Cannot create the sample in {directory}: {exc.strerror or exc}; "
            "choose a writable directory.",
            file=sys.stderr,
        )
        return 1
    out = ["# sample back-office: synthetic data only (names end in -Voorbeeld)"]
    for debtor in sample.debtors:
        out.append(
            f"# klantnummer {debtor.klantnummer_se}: {_PURPOSE.get(debtor.klantnummer_se, '')}"
        )
    print("\n".join(out))
    print(render_toml(dict(sample.options)), end="")
    return 0


def _escalate(database: Path, day: date) -> int:
    if not database.is_file():
        print(f"There is no database at {database}; run 'skn-cjib seed' first.", file=sys.stderr)
        return 1
    try:
        done = escalate(database, day)
    except sa_exc.DBAPIError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
        print(f"The surcharge run failed ({reason}); nothing was changed.", file=sys.stderr)
        return 1
    for item in done:
        print(
            f"{item.zaaknummer}: verhoging {item.stap} of {item.bedrag} "
            f"(increases now {item.verhogingen})"
        )
    print(f"# {len(done)} verhogingen applied on {day.isoformat()}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="skn-cjib", description="The cjib reference adapter's sample back-office."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    seed = commands.add_parser("seed", help="create cjib.db with synthetic data, print its options")
    seed.add_argument("--directory", required=True, type=Path, help="where to write the database")
    run = commands.add_parser(
        "escalate", help="apply the Wahv verhogingen due on a date (the back-office's own run)"
    )
    run.add_argument("--database", required=True, type=Path, help="the cjib.db to change")
    run.add_argument(
        "--date",
        type=date.fromisoformat,
        default=date.today(),
        help="the day of the run, YYYY-MM-DD (default: today)",
    )
    args = parser.parse_args(argv)
    if args.command == "seed":
        return _seed(args.directory)
    return _escalate(args.database, args.date)


if __name__ == "__main__":
    raise SystemExit(main())
