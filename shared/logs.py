"""Structured JSON logs on stdout, one object per line, as Cloud Logging parses them.

Each record carries `severity` and `message`; extra fields go in ``extra={"fields": {...}}``.
Never put photo bytes, base64, embeddings or keypoints in a log field.
"""

from __future__ import annotations

import json
import logging
import sys

_SEVERITY = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARNING", "ERROR": "ERROR", "CRITICAL": "CRITICAL"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "severity": _SEVERITY.get(record.levelname, "DEFAULT"),
            "message": record.getMessage(),
            "logger": record.name,
        }
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)  # logs only, never responses
        return json.dumps(entry, default=str)


def setup_logging(level: int = logging.INFO) -> None:
    """Send the `shared` and function loggers, and Python warnings (Pillow's, numpy's),
    to stdout as JSON lines (idempotent, cheap). Called by the serving edge at start."""
    logging.captureWarnings(True)
    for name in ("shared", "functions", "py.warnings"):
        logger = logging.getLogger(name)
        if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
            continue
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False


def event(logger: logging.Logger, level: int, message: str, **fields: object) -> None:
    """Log `message` with structured fields."""
    logger.log(level, message, extra={"fields": fields})
