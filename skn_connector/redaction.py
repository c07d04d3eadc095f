"""Personal data never reaches a log line: a filter that masks what looks like it."""

from __future__ import annotations

import logging
import re

# nine digits standing alone; not inside a UUID or another identifier (hex and letters around)
_BSN_LIKE = re.compile(r"(?<![0-9A-Za-z])\d{9}(?![0-9A-Za-z])")
_IBAN_LIKE = re.compile(r"\b[A-Z]{2}\d{2}[A-Z]{4}\d{10}\b")


def redact(text: str) -> str:
    """Mask BSN-like (nine digits) and IBAN-like strings."""
    return _IBAN_LIKE.sub("[IBAN]", _BSN_LIKE.sub("[BSN]", text))


class RedactingFilter(logging.Filter):
    """Applied to every handler: the formatted message is redacted before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
