"""The reference web client's static server: web/ as it is (no build step), plus the
request examples of docs/examples/ under /examples/, on one port of this machine.

    server = WebServer(host="127.0.0.1", port=8082).start()   # in a thread
    server.url        # http://127.0.0.1:8082/
    server.stop()

Every answer carries a Content-Security-Policy that lets the page load scripts, styles and
images from this server only: nothing from a CDN or any other host. `connect-src` stays
open to http(s) because the page calls the two functions wherever they are deployed.
`make serve` (tools/serve/serve.py) starts it beside the functions; the browser tests too.
"""

from __future__ import annotations

import http.server
import threading
from functools import partial
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from tools import ROOT

WEB = ROOT / "web"
EXAMPLES = ROOT / "docs" / "examples"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob: mediastream:; connect-src 'self' http: https:; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Files under web/; /examples/<name>.json from docs/examples/; nothing else."""

    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".json": "application/json",
    }

    def translate_path(self, path: str) -> str:
        parts = unquote(urlsplit(path).path).split("/")
        if len(parts) == 3 and parts[1] == "examples" and parts[2].endswith(".json") and "\\" not in parts[2]:
            candidate = EXAMPLES / parts[2]
            if candidate.resolve().parent == EXAMPLES.resolve():
                return str(candidate)
        return super().translate_path(path)  # under `directory`; it refuses '..' itself

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")  # a developer's edit shows on reload
        super().end_headers()

    def list_directory(self, path: str | Path) -> None:  # type: ignore[override]
        self.send_error(404, "Not Found")

    def log_message(self, format: str, *args: object) -> None:
        if self.server.quiet:  # type: ignore[attr-defined]
            return
        super().log_message(format, *args)


class WebServer:
    """web/ on host:port (0 = a free port), served from a daemon thread until stop()."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True, root: Path = WEB):
        handler = partial(_Handler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer((host, port), handler)
        self.httpd.quiet = quiet  # type: ignore[attr-defined]
        self.httpd.daemon_threads = True
        self.host = host
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="web", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def origin(self) -> str:
        return self.url.rstrip("/")

    def start(self) -> WebServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever(), which may never have run
            self.httpd.shutdown()
        self.httpd.server_close()
