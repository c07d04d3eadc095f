"""``skn-gemeentebelastingen seed --directory DIR``: create the sample back-office.

Prints an ``[[adapters]]`` entry in TOML that reaches it, ready to paste into a
connector config. Every person in the sample is synthetic.

``skn-gemeentebelastingen upgrade --database PATH`` adds the tables and columns of
this version to a sample made by an earlier one, changing no data.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from .adapter import GemeentebelastingenAdapter
from .backoffice import upgrade_database

_PURPOSE = {
    "100001": "several aanslagen, aanmaning and dwangbevel, a running bankbeslag",
    "100002": "has a partner (100003); one claim betwist, verrekening active",
    "100004": "SHV-known invoice numbers match only partly; a running loonbeslag",
    "100005": "one claim overgedragen to a (fictional) deurwaarder",
}


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def render_toml(options: dict[str, object], name: str = "gemeentebelastingen") -> str:
    """An ``[[adapters]]`` entry with these options, as TOML."""
    lines = [
        "[[adapters]]",
        f"name = {_toml_value(name)}",
        f'use = "{GemeentebelastingenAdapter.name}"',
        "  [adapters.options]",
    ]
    lines += [f"  {key} = {_toml_value(value)}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="skn-gemeentebelastingen",
        description="The gemeentebelastingen reference adapter's sample back-office.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    seed = commands.add_parser(
        "seed", help="create gemeentebelastingen.db with synthetic data and print its options"
    )
    seed.add_argument("--directory", required=True, type=Path, help="where to write the database")
    upgrade = commands.add_parser(
        "upgrade", help="add the tables and columns of this version to an earlier sample"
    )
    upgrade.add_argument("--database", required=True, type=Path, help="the database file")
    args = parser.parse_args(argv)

    if args.command == "upgrade":
        try:
            added = upgrade_database(args.database)
        except FileNotFoundError:
            print(f"There is no database at {args.database}.", file=sys.stderr)
            return 1
        except (ValueError, OSError, sqlite3.Error) as exc:
            print(f"Cannot upgrade {args.database}: {exc}.", file=sys.stderr)
            return 1
        print(f"added: {', '.join(added)}" if added else "already up to date")
        return 0

    try:
        sample = GemeentebelastingenAdapter.create_sample(args.directory)
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
