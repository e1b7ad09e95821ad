"""Structured JSON logs for the task Lambdas: one JSON object per line, with the
execution id and the job name on every line (CloudWatch Logs Insights can filter
on them). Standard library only, to keep cold starts short.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "xregion_sync_log_context", default=None)
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


# The log level of the Lambdas (template.yaml) and of the command line (cli.py).
LOG_LEVEL_VARIABLE = "XREGION_SYNC_LOG_LEVEL"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "service": "xregion-sync",
            **(_context.get() or {}),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRIBUTES})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _Current:
    """sys.stdout or sys.stderr as it is at each write (a test or a tool may swap it)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text: str) -> int:
        stream: TextIO = getattr(sys, self.name)
        return stream.write(text)

    def flush(self) -> None:
        getattr(sys, self.name).flush()


# Lambda ships stdout to CloudWatch; the CLI moves the task logs to stderr, where they do
# not mix with its tables and JSON.
_streams: dict[str, _Current] = {"logs": _Current("stdout")}


def configure() -> None:
    """Send this package's logs as JSON lines to stdout (Lambda ships them to CloudWatch)."""
    logger = logging.getLogger("xregion_sync")
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(_streams["logs"])
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
    if logger.level == logging.NOTSET:  # a caller (the CLI) may have chosen a level already
        logger.setLevel(os.environ.get(LOG_LEVEL_VARIABLE, "INFO"))


@contextlib.contextmanager
def logs_on_stderr() -> Iterator[None]:
    """Task logs (and metrics) on stderr within the block: the CLI's stdout is its output."""
    before = _streams["logs"]
    _point_json_handlers(_Current("stderr"))
    try:
        yield
    finally:
        _point_json_handlers(before)


def _point_json_handlers(stream: _Current) -> None:
    _streams["logs"] = stream
    for handler in logging.getLogger("xregion_sync").handlers:
        # configure() makes a StreamHandler; another handler with the JSON formatter (a
        # test's collector) has no stream to point.
        if isinstance(handler, logging.StreamHandler) and isinstance(handler.formatter,
                                                                     JsonFormatter):
            handler.setStream(stream)


def log_stream() -> _Current:
    """Where task logs and EMF metric lines go: stdout in Lambda, stderr under the CLI."""
    return _streams["logs"]


_in_lambda: contextvars.ContextVar[bool] = contextvars.ContextVar("xregion_sync_in_lambda",
                                                                  default=False)


@contextlib.contextmanager
def lambda_invocation() -> Iterator[None]:
    """Within the block a task Lambda runs its step: its metrics are EMF lines in the log
    stream. Elsewhere (xregion_sync.run in a user's program) they are debug records."""
    token = _in_lambda.set(True)
    try:
        yield
    finally:
        _in_lambda.reset(token)


def in_lambda() -> bool:
    return _in_lambda.get()


def set_context(**fields: Any) -> contextvars.Token[dict[str, Any] | None]:
    """Add fields (execution id, job) to every log line until reset_context(token)."""
    return _context.set({k: v for k, v in fields.items() if v is not None})


def reset_context(token: contextvars.Token[dict[str, Any] | None]) -> None:
    _context.reset(token)
