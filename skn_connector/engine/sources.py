"""The legal, covenant and SKN sources the rules rest on, by stable id.

They live in ``rules/sources.toml``, shipped with the package. The policy table, the
conversation table, the docs and the plugins cite them by id; :func:`resolve` turns an
id into the source (title, article, version, public URL), so that ``skn-connector policy
show`` and ``conversations rules`` can say on what ground a rule rests, and an unknown id
is a load error. docs/sources.md is rendered from the same file (:func:`render_markdown`).
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

#: What a source is. ``interpretation`` is our own reading where no source settles it.
KINDS: dict[str, str] = {
    "law": "Law and regulations",
    "covenant": "Covenants and NVVK norms",
    "skn": "The Schuldenknooppunt: afsprakenstelsel and documentation portal",
    "practice": "Practice of the creditors",
    "interpretation": "Our interpretations and choices",
}
#: A source id: a word of capitals and digits, then parts joined by ``-`` (``FW-art-358``,
#: ``LEIDRAAD-2008-26.1``, ``AWB-art-4:104``); a word alone has three letters at least
#: (``ATW``), so that ``[P]`` or ``[OK]`` in prose is no citation.
ID_PATTERN = r"(?:[A-Z][A-Z0-9]+(?:-[A-Za-z0-9.:]*[A-Za-z0-9])+|[A-Z][A-Z0-9]{2,})"
_ID = re.compile(rf"^{ID_PATTERN}$")
#: How prose cites a source: the id in square brackets, ``[FW-art-358]``.
CITATION = re.compile(rf"\[({ID_PATTERN})\]")
#: A bracketed word without a ``-`` is a citation only when it is a source's id: ``[ATW]``
#: cites, ``[BSN]`` (a redaction placeholder) does not.
_WORD = re.compile(r"^[A-Z][A-Z0-9]{2,}$")
_REQUIRED = ("id", "kind", "title", "where", "version", "url", "says", "checked")


class SourceError(ValueError):
    """The sources file is not valid, or an id names no source; the message says which."""


@dataclass(frozen=True)
class Source:
    id: str
    kind: str
    title: str
    where: str
    version: str
    url: str
    says: str
    checked: str
    also: tuple[str, ...] = ()
    based_on: tuple[str, ...] = ()

    @property
    def interpretation(self) -> bool:
        """Our own reading, not a source's words."""
        return self.kind == "interpretation"

    def cite(self) -> str:
        """One line: title, where (version) URL."""
        mark = "our interpretation: " if self.interpretation else ""
        return f"{mark}{self.title}, {self.where} ({self.version}) {self.url}"

    def as_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "where": self.where,
            "version": self.version,
            "url": self.url,
            "says": self.says,
            "checked": self.checked,
        }
        if self.also:
            document["also"] = list(self.also)
        if self.based_on:
            document["based_on"] = list(self.based_on)
        return document


def _text() -> str:
    return (resources.files("skn_connector.engine") / "rules" / "sources.toml").read_text(
        encoding="utf-8"
    )


def parse_sources(text: str, *, origin: str = "sources.toml") -> dict[str, Source]:
    """Read and check a sources file: every field present, ids unique and well formed,
    URLs https, interpretations based on sources that exist."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SourceError(f"{origin}: not valid TOML: {exc}") from None
    sources: dict[str, Source] = {}
    for number, raw in enumerate(data.get("source", []), start=1):
        where = f"{origin}: source {raw.get('id', number)!s}"
        for key in _REQUIRED:
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise SourceError(f"{where}: {key!r} is required (a non-empty text)")
        if not _ID.match(raw["id"]):
            raise SourceError(f"{where}: the id is not of the form WORD or WORD-part-part")
        if raw["id"] in sources:
            raise SourceError(f"{where}: the id is used twice")
        if raw["kind"] not in KINDS:
            raise SourceError(f"{where}: kind {raw['kind']!r} is not one of {', '.join(KINDS)}")
        also = tuple(raw.get("also", ()))
        for url in (raw["url"], *also):
            if not url.startswith("https://"):
                raise SourceError(f"{where}: {url!r} is not an https:// URL")
        based_on = tuple(raw.get("based_on", ()))
        if raw["kind"] == "interpretation" and not based_on:
            raise SourceError(f"{where}: an interpretation names the sources it is based on")
        sources[raw["id"]] = Source(
            id=raw["id"],
            kind=raw["kind"],
            title=raw["title"],
            where=raw["where"],
            version=raw["version"],
            url=raw["url"],
            says=raw["says"],
            checked=raw["checked"],
            also=also,
            based_on=based_on,
        )
    for source in sources.values():
        for basis in source.based_on:
            if basis not in sources:
                raise SourceError(
                    f"{origin}: source {source.id}: based_on names {basis!r}, which is not a source"
                )
    return sources


@functools.cache
def load_sources() -> Mapping[str, Source]:
    """Every source of the packaged file, by id (read and checked once per process)."""
    return parse_sources(_text())


def resolve(source_id: str) -> Source:
    """The source with this id; SourceError when there is none."""
    try:
        return load_sources()[source_id]
    except KeyError:
        raise SourceError(f"{source_id!r} is not a source (see docs/sources.md)") from None


def resolve_all(ids: Any, where: str) -> tuple[Source, ...]:
    """The sources a rule cites; SourceError naming the rule (``where``) and the bad id."""
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise SourceError(f"{where}: 'sources' must be a list of source ids")
    if not ids:
        raise SourceError(f"{where}: 'sources' names no source")
    known = load_sources()
    for source_id in ids:
        if source_id not in known:
            raise SourceError(
                f"{where}: unknown source {source_id!r} (the ids are in "
                "engine/rules/sources.toml and docs/sources.md)"
            )
    return tuple(known[i] for i in ids)


def cited_in(text: str) -> list[str]:
    """The source ids a text cites as ``[ID]``: every bracketed ``WORD-part`` (known or
    not, so that a mistyped id is found), and a bracketed single word that is an id."""
    known = load_sources()
    return [found for found in CITATION.findall(text) if not _WORD.match(found) or found in known]


def _rules_file(name: str) -> dict[str, Any]:
    text = (resources.files("skn_connector.engine") / "rules" / name).read_text(encoding="utf-8")
    return tomllib.loads(text)


def cited_by() -> dict[str, list[str]]:
    """Which rules of the packaged policy and conversation tables cite each source, and
    which sources each interpretation is based on: by source id."""
    found: dict[str, list[str]] = {}

    def add(ids: Iterable[str], rule: str) -> None:
        for source_id in ids:
            found.setdefault(source_id, []).append(rule)

    policy = _rules_file("policy.toml")
    for event, raw in policy.get("events", {}).items():
        add(raw.get("sources", ()), f"policy {event}")
    for kind, layer in policy.get("kinds", {}).items():
        for event, raw in layer.items():
            add(raw.get("sources", ()), f"policy {event} ({kind})")
    for covenant, raw in policy.get("covenants", {}).items():
        add(raw.get("sources", ()), f"covenant {covenant}")
    conversations = _rules_file("conversations.toml")
    for number, raw in enumerate(conversations.get("rule", []), start=1):
        add(raw.get("sources", ()), f"conversation rule {number}")
    for source in load_sources().values():
        add(source.based_on, source.id)
    return found


def _anchor(source_id: str) -> str:
    return source_id


def render_markdown(
    sources: Iterable[Source] | None = None, citing: Mapping[str, list[str]] | None = None
) -> str:
    """docs/sources.md: the reader's page, grouped by kind, one entry per source, each with
    the rules that cite it (``citing``, by default :func:`cited_by`)."""
    entries = list(sources if sources is not None else load_sources().values())
    citing = cited_by() if citing is None else citing
    lines = [
        "# Sources",
        "",
        "<!-- Generated from skn_connector/engine/rules/sources.toml by scripts/sources_md.py;",
        "     edit that file, not this page (tests/test_sources.py checks they agree). -->",
        "",
        "Every rule of skn-connector that stops, lifts or allows enforcement, every deadline",
        "and every provisional choice of the message catalog cites the sources on this page by",
        "their id. `skn-connector policy show` and `skn-connector conversations rules` print",
        "each rule's sources in full; the docs and the plugins cite them as `[ID]`.",
        "",
        "An entry under *Our interpretations and choices* is the connector's own reading where",
        "no source settles the question: it says what we decided and what it rests on, and a",
        "creditor may decide otherwise (`[policy]` in the configuration). *checked* says how",
        "each entry was checked; an entry marked *not re-read* must be verified before a",
        "decision rests on it. Article texts were read in consolidated versions; the links go",
        "to the text in force on wetten.overheid.nl.",
        "",
    ]
    for kind, heading in KINDS.items():
        group = [s for s in entries if s.kind == kind]
        if not group:
            continue
        lines += [f"## {heading}", ""]
        for source in group:
            lines += [
                f'<a id="{_anchor(source.id)}"></a>',
                f"### `{source.id}`",
                "",
                f"**{source.title}**, {source.where}. {source.version}.",
                "",
                source.says,
                "",
                f"- URL: <{source.url}>",
            ]
            lines += [f"- also: <{url}>" for url in source.also]
            if source.based_on:
                lines.append(
                    "- based on: " + ", ".join(f"[`{b}`](#{_anchor(b)})" for b in source.based_on)
                )
            lines.append(f"- checked: {source.checked}")
            if citing.get(source.id):
                lines.append("- cited by: " + ", ".join(citing[source.id]))
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
