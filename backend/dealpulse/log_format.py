"""How serve and worker format their log lines: plain text, or one JSON object per line (DEALPULSE_LOG_FORMAT=json)."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

# LogRecord attributes that are not extra fields (everything else a caller passed with `extra=` is kept).
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "task_context"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, task context, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single line of JSON."""
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = getattr(record, "task_context", "")
        if context:
            entry["task"] = context.strip().strip("[]")
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def make_formatter(log_format: str, text_format: str) -> logging.Formatter:
    """The formatter for DEALPULSE_LOG_FORMAT (`text` uses `text_format`)."""
    return JsonFormatter() if log_format == "json" else logging.Formatter(text_format)
