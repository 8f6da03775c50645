"""A real Postgres with pgvector for the local default, tests and measurements: the
PostgreSQL 16 build and pgvector extension that the `pgserver` wheel ships, run as a plain
server on a Unix socket in its data folder (no TCP port, no Docker).

`start()` creates the data folder on first use and starts the server; `stop()` stops it at
once (pg_ctl -m immediate: as a database that went away looks to a client) and `start()`
brings it back with its data; `remove()` stops it and deletes the folder.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path
from typing import Any


class PostgresServer:
    """The embedded server over the folder `pgdata` (created when absent); `url` once started."""

    def __init__(self, pgdata: Path | str):
        self.pgdata = Path(pgdata).resolve()
        self.url = ""
        self._server: Any = None

    def start(self) -> PostgresServer:
        import pgserver

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        if self._server is None:
            self._server = pgserver.get_server(self.pgdata, cleanup_mode=None)  # stopped by stop(), not at exit
        else:
            with self._server._lock:
                self._server.ensure_postgres_running()
        self.url = self._server.get_uri()
        return self

    def running(self) -> bool:
        from pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        return info is not None and info.is_running()

    def stop(self) -> None:
        """Stop now: open connections are cut, as when a database host goes away."""
        from pgserver._commands import pg_ctl

        if self._server is not None and self.running():
            with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
                pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self.pgdata, user=self._server.system_user, timeout=30)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.pgdata, ignore_errors=True)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through the bundled psql (for set-up in tools and tests)."""
        from pgserver._commands import POSTGRES_BIN_PATH

        command = [str(POSTGRES_BIN_PATH / "psql"), "-v", "ON_ERROR_STOP=1", self.url_for(database)]
        out = subprocess.run(command, input=sql.encode(), capture_output=True, check=True)
        return out.stdout.decode()

    def url_for(self, database: str) -> str:
        """The URL of another database on this server."""
        return self._server.get_uri(database)

    def create_database(self, name: str) -> str:
        """A fresh, empty database (dropped first when it exists); its URL."""
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE);\nCREATE DATABASE "{name}";')
        return self.url_for(name)
