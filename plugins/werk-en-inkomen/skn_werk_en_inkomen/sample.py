"""``skn-werk-en-inkomen seed --directory DIR``: create the sample back-office.

Prints an ``[[adapters]]`` entry in TOML that reaches it, ready to paste into a
connector config. Every person in the sample is synthetic.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .adapter import WerkEnInkomenAdapter

_PURPOSE = {
    "200001": "ordinary terugvordering with a running verrekening; leenbijstand with dwangbevel",
    "200002": "fraud: terugvordering (opzet) and boete (grove schuld), plus an ordinary claim",
    "200003": "fraud qualified verwijtbaar; a running loonbeslag",
    "200004": "couple with partner 200005: a hoofdelijk terugvordering; one claim alone",
    "200006": "verhaal betwist; an old claim overgedragen to a (fictional) deurwaarder",
}


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def render_toml(options: dict[str, object], name: str = "werk_en_inkomen") -> str:
    """An ``[[adapters]]`` entry with these options, as TOML."""
    lines = [
        "[[adapters]]",
        f"name = {_toml_value(name)}",
        f'use = "{WerkEnInkomenAdapter.name}"',
        "  [adapters.options]",
    ]
    lines += [f"  {key} = {_toml_value(value)}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="skn-werk-en-inkomen",
        description="The werk en inkomen reference adapter's sample back-office.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    seed = commands.add_parser(
        "seed", help="create werk_en_inkomen.db with synthetic data and print its options"
    )
    seed.add_argument("--directory", required=True, type=Path, help="where to write the database")
    args = parser.parse_args(argv)

    try:
        sample = WerkEnInkomenAdapter.create_sample(args.directory)
    except OSError as exc:
        print(
            f"Cannot create the sample in {args.directory}: {exc.strerror or exc}; "
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


if __name__ == "__main__":
    raise SystemExit(main())
