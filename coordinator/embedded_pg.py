"""The embedded PostgreSQL of the single-machine default (the ``pgserver`` package)."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger("reckon.pg")


class EmbeddedPostgres:
    """A real PostgreSQL server whose data lives in ``datadir``; stopped by :meth:`stop`."""

    def __init__(self, datadir: Path) -> None:
        self.datadir = datadir
        self._server: Any = None

    def start(self) -> str:
        """Start (or attach to) the server and return its connection URL."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver

        self.datadir.mkdir(parents=True, exist_ok=True)
        # PostgreSQL's unix socket lives in the data directory: keep its path short.
        if len(str(self.datadir.resolve())) > 90:
            raise OSError(f"data directory path too long for a unix socket: {self.datadir}")
        self._server = pgserver.get_server(str(self.datadir), cleanup_mode="stop")
        uri: str = self._server.get_uri()
        log.info("embedded postgres up datadir=%s", self.datadir)
        return uri

    def stop(self) -> None:
        """Stop the server (data stays on disk)."""
        if self._server is not None:
            try:
                self._server.cleanup()
            except (OSError, RuntimeError) as e:  # already stopped, or pg_ctl failed
                log.warning("embedded postgres stop error=%s", e)
            self._server = None


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def environ_database_url(environ: dict[str, str] | None = None) -> str | None:
    """``RECKON_DATABASE_URL`` if set and non-empty."""
    env = os.environ if environ is None else environ
    value = env.get("RECKON_DATABASE_URL", "").strip()
    return value or None
