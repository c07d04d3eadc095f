"""Where the log goes and in what form: text lines or JSON lines (``[logging] format``).

Both forms are redacted as ``redaction.RedactingFormatter`` does: personal data never
reaches a line, also not through an exception's text or its traceback. A JSON line redacts
each field before it is encoded, because the encoding escapes what the patterns look for
(a BSN after a line break becomes ``\\n123456789``, which no longer stands alone).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from .config import LogFormat
from .redaction import RedactingFilter, RedactingFormatter, redact

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: Libraries whose info lines are about themselves, not about the work (the scheduler's
#: "job executed", the HTTP server's start-up, each request to the node).
QUIET_LOGGERS = ("httpx", "httpcore", "apscheduler", "alembic", "uvicorn")


class JsonLinesFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message and, when the
    record has one, exception (its traceback); every text redacted."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)

    def formatException(self, ei: object) -> str:  # noqa: N802 (logging's name)
        # the cached exc_text is what other handlers reuse: keep it redacted too
        return redact(super().formatException(ei))  # type: ignore[arg-type]


def formatter(form: LogFormat) -> logging.Formatter:
    if form is LogFormat.JSON:
        return JsonLinesFormatter()
    return RedactingFormatter(TEXT_FORMAT)


def configure(level: int = logging.INFO, form: LogFormat = LogFormat.TEXT) -> None:
    """Log to standard error (the journal, under systemd) at ``level``, in ``form``."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(form))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
