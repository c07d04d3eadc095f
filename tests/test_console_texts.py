"""The console's words: every language has every text, and every text a template names is
there; the templates escape everything (autoescape) and hold no script and no style."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

from skn_connector.http.console.texts import LANGUAGES, Texts

CONSOLE = Path(str(resources.files("skn_connector.http.console")))


def _keys(document: dict[str, object], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for key, value in document.items():
        if isinstance(value, dict):
            found |= _keys(value, f"{prefix}{key}.")
        else:
            found.add(prefix + key)
    return found


def test_every_language_has_the_same_texts() -> None:
    keys = {
        language: _keys(tomllib.loads((CONSOLE / "texts" / f"{language}.toml").read_text()))
        for language in LANGUAGES
    }
    assert keys["nl"] == keys["en"]


def test_every_text_a_template_names_exists() -> None:
    named = set()
    for template in (CONSOLE / "templates").glob("*.html"):
        source = template.read_text()
        named |= set(re.findall(r"""\bt\(["']([a-z_]+\.[a-z_]+)["']""", source))
        assert "<script" not in source, template.name
        assert " style=" not in source, template.name
        assert "|safe" not in source and "Markup(" not in source, template.name
    for language in LANGUAGES:
        texts = Texts(language)
        for key in sorted(named):
            texts(key)  # raises KeyError when missing


def test_dates_in_dutch() -> None:
    texts = Texts("nl")
    assert texts.day("2026-12-03") == "3 december 2026"
    assert texts.moment("2026-12-03T13:05:00+00:00") == "3 december 2026, 14:05"
    assert texts.label("taskkind", "beoordeling") == "Voorstel beoordelen"
    assert texts.label("taskkind", "no-such-kind") == "no-such-kind"
