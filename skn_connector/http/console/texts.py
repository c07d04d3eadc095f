"""The console's words, one file per language (``texts/nl.toml``, ``texts/en.toml``): a page
names a text by its key, ``t("task.title", id=3)``."""

from __future__ import annotations

import functools
import tomllib
from datetime import date, datetime
from importlib import resources
from typing import Any, Final
from zoneinfo import ZoneInfo

AMSTERDAM: Final = ZoneInfo("Europe/Amsterdam")
LANGUAGES: Final = ("nl", "en")


class Texts:
    """The texts of one language."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._texts = _load(language)
        self.months: list[str] = list(self._texts["months"]["names"])

    def __call__(self, key: str, **values: Any) -> str:
        section, _, name = key.partition(".")
        text = self._texts.get(section, {}).get(name)
        if not isinstance(text, str):
            raise KeyError(f"no text {key!r} in {self.language}.toml")
        return text.format(**values) if values else text

    def label(self, section: str, code: str | None) -> str:
        """A code's words (a task kind, a state, a measure), or the code itself."""
        if code is None:
            return self("app.none")
        text = self._texts.get(section, {}).get(code)
        return text if isinstance(text, str) else code

    def day(self, value: str | date | None) -> str:
        """A day as Dutch people write it: 3 december 2026."""
        if value is None or value == "":
            return self("app.none")
        if isinstance(value, str):  # a day, or a moment (its day in the Netherlands)
            day: date = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        else:
            day = value
        if isinstance(day, datetime):
            day = day.astimezone(AMSTERDAM).date()
        return f"{day.day} {self.months[day.month - 1]} {day.year}"

    def moment(self, value: str | datetime | None) -> str:
        """A time in the Netherlands: 3 december 2026, 14:05."""
        if value is None or value == "":
            return self("app.none")
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        local = moment.astimezone(AMSTERDAM)
        return f"{self.day(local.date())}, {local:%H:%M}"


@functools.cache
def _load(language: str) -> dict[str, Any]:
    if language not in LANGUAGES:
        raise ValueError(f"no texts for language {language!r}")
    source = resources.files("skn_connector.http.console") / "texts" / f"{language}.toml"
    return tomllib.loads(source.read_text(encoding="utf-8"))


def texts(language: str) -> Texts:
    return Texts(language)
