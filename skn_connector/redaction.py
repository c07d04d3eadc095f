"""Personal data never reaches a log line: a filter that masks what looks like it."""

from __future__ import annotations

import logging
import re

# nine digits standing alone; not inside a UUID or another identifier (hex and letters around)
_BSN_LIKE = re.compile(r"(?<![0-9A-Za-z])\d{9}(?![0-9A-Za-z])")
_IBAN_LIKE = re.compile(r"\b[A-Z]{2}\d{2}[A-Z]{4}\d{10}\b")
_EMAIL_LIKE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

# An identifier shown in clear may carry a BSN or an IBAN behind a prefix of letters
# ("KB111222333"), so there only digits around end them; a UUID, whose hex can hold nine
# digits in a row, is left whole.
_BSN_IN_IDENTIFIER = re.compile(r"(?<!\d)\d{9}(?!\d)")
_IBAN_IN_IDENTIFIER = re.compile(r"[A-Z]{2}\d{2}[A-Z]{4}\d{10}(?!\d)")
_UUID = re.compile(r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}")


def redact(text: str) -> str:
    """Mask e-mail addresses, BSN-like (nine digits) and IBAN-like strings."""
    # e-mail first: an address may hold nine digits, and its rest would stay otherwise
    text = _EMAIL_LIKE.sub("[E-MAIL]", text)
    return _IBAN_LIKE.sub("[IBAN]", _BSN_LIKE.sub("[BSN]", text))


def mask_in_identifier(value: str, mask: str) -> str:
    """``value`` with each e-mail address, BSN-like number and IBAN in it replaced by ``mask``."""
    if _UUID.fullmatch(value):
        return value
    for pattern in (_EMAIL_LIKE, _IBAN_IN_IDENTIFIER, _BSN_IN_IDENTIFIER):
        value = pattern.sub(mask, value)
    return value


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
