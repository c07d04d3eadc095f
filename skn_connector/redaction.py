"""Personal data never reaches a log line, a stored error or a traceback.

Two kinds of masking, applied together by ``redact``:

- patterns: what looks like a BSN, an IBAN or an e-mail address, wherever it appears;
- the personal values of the message being worked: while the pipeline works a message it
  names that message's names, addresses and free text (``personal_values``), so that an
  adapter's exception quoting the debtor's name is masked too, though no pattern knows a
  name. The values are computed only when something is redacted (a failure), not for every
  message.

Log records pass through ``RedactingFormatter``, which redacts the whole formatted record:
the message, the exception's text and the traceback. Errors that are stored or shown are
made with ``error_text``.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar

# nine digits standing alone; not inside a UUID or another identifier (hex and letters around).
# An escaped line break or tab before them (``\n`` in a repr, as a KeyError's text and a
# traceback show a value) stands them alone too: its letter is not part of the number.
_ESCAPE = r"(?<=\\[nrt])"
_BSN_LIKE = re.compile(rf"(?:(?<![0-9A-Za-z])|{_ESCAPE})\d{{9}}(?![0-9A-Za-z])")
_IBAN_LIKE = re.compile(rf"(?:\b|{_ESCAPE})[A-Z]{{2}}\d{{2}}[A-Z]{{4}}\d{{10}}\b")
_EMAIL_LIKE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

# An identifier shown in clear may carry a BSN or an IBAN behind a prefix of letters
# ("KB111222333"), so there only digits around end them; a UUID, whose hex can hold nine
# digits in a row, is left whole.
_BSN_IN_IDENTIFIER = re.compile(r"(?<!\d)\d{9}(?!\d)")
_IBAN_IN_IDENTIFIER = re.compile(r"[A-Z]{2}\d{2}[A-Z]{4}\d{10}(?!\d)")
_UUID = re.compile(r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}")
#: What a personal value of the message in hand is replaced with.
PERSONAL = "[PERSOONSGEGEVEN]"
#: Values shorter than this are not masked as such (a house number, an initial): they would
#: mask half of every text.
_SHORTEST = 3


class _Values:
    """The personal values of the message in hand, computed on first use."""

    def __init__(self, source: Callable[[], Iterable[str]]) -> None:
        self._source = source
        self._pattern: re.Pattern[str] | None = None
        self._empty = False

    def pattern(self) -> re.Pattern[str] | None:
        if self._pattern is None and not self._empty:
            values = sorted(
                {v.strip() for v in self._source() if len(v.strip()) >= _SHORTEST},
                key=len,
                reverse=True,
            )
            if values:
                self._pattern = re.compile("|".join(re.escape(v) for v in values), re.IGNORECASE)
            else:
                self._empty = True
        return self._pattern


_IN_HAND: ContextVar[tuple[_Values, ...]] = ContextVar("skn_personal_values", default=())


@contextlib.contextmanager
def personal_values(source: Callable[[], Iterable[str]]) -> Iterator[None]:
    """While in this block, ``redact`` also masks the values ``source()`` returns (called
    at most once, and only if something is redacted)."""
    token = _IN_HAND.set((*_IN_HAND.get(), _Values(source)))
    try:
        yield
    finally:
        _IN_HAND.reset(token)


def redact(text: str) -> str:
    """Mask the personal values of the message in hand, e-mail addresses, BSN-like (nine
    digits) and IBAN-like strings."""
    for values in _IN_HAND.get():
        pattern = values.pattern()
        if pattern is not None:
            text = pattern.sub(PERSONAL, text)
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


def error_text(exc: BaseException, *, limit: int = 2000) -> tuple[str, str]:
    """(the exception's class, its text redacted) for storing and showing an error."""
    return type(exc).__name__, redact(str(exc))[:limit]


class RedactingFilter(logging.Filter):
    """Redacts a record's message for handlers whose formatter is not a RedactingFormatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


class RedactingFormatter(logging.Formatter):
    """Formats a record, then redacts all of it: the message, the exception's text and the
    traceback (``logging.Filter`` sees only the message)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))

    def formatException(self, ei: object) -> str:  # noqa: N802 (logging's name)
        # the cached exc_text is what other handlers reuse: keep it redacted too
        return redact(super().formatException(ei))  # type: ignore[arg-type]


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
