"""Structured logs: one ``key=value`` line per record, the same in every process."""

from __future__ import annotations

import logging
import sys
import time


class KeyValueFormatter(logging.Formatter):
    """``ts=... level=... logger=... process=... msg="..."`` (messages carry their own k=v)."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        msg = record.getMessage().replace('"', "'")
        line = (
            f'ts={ts}.{int(record.msecs):03d}Z level={record.levelname.lower()} '
            f'logger={record.name} process={self.process} msg="{msg}"'
        )
        if record.exc_info:
            exc = self.formatException(record.exc_info).replace("\n", "\\n").replace('"', "'")
            line += f' exc="{exc}"'
        return line


def configure_logging(process: str, level: str = "info") -> None:
    """Send key=value logs to stderr at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter(process))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("hypercorn.access").setLevel(logging.WARNING)
