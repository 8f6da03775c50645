"""`make serve` (tools/serve/serve.py): both functions and the web client, the page's URL
printed, the functions' CORS_ORIGINS set to the page's origin, an embedded Postgres as the
gallery database (no GALLERY_URL set), everything stopped on TERM."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from tools import ROOT
from tools.measure.harness import free_port
from tools.measure.postgres_server import PostgresServer


def request(port: int, method: str, path: str = "/", headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_serve_prints_the_page_and_lets_it_call_both_functions(tmp_path):
    ports = {"VERIFY_PORT": free_port(), "GESTURE_PORT": free_port(), "WEB_PORT": free_port()}
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "PYTHONUNBUFFERED": "1"}
    env.pop("CORS_ORIGINS", None)
    env.pop("GALLERY_URL", None)
    env["GALLERY_DATA"] = str(tmp_path / "pg")
    out = tmp_path / "serve.out"
    with out.open("wb") as log:
        process = subprocess.Popen([sys.executable, "tools/serve/serve.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        page = f"http://127.0.0.1:{ports['WEB_PORT']}/"
        deadline = time.monotonic() + 90
        while f"web client       {page}" not in out.read_text(errors="replace"):
            assert process.poll() is None and time.monotonic() < deadline, out.read_text(errors="replace")[-2000:]
            time.sleep(0.2)
        with urllib.request.urlopen(page + "verify.html", timeout=10) as response:
            assert response.status == 200 and b'src="js/verify.js"' in response.read()
            assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        for origin in (page.rstrip("/"), f"http://localhost:{ports['WEB_PORT']}"):
            for port in (ports["VERIFY_PORT"], ports["GESTURE_PORT"]):
                answer = request(port, "OPTIONS", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
                assert answer.status == 204 and answer.getheader("Access-Control-Allow-Origin") == origin
        assert request(ports["WEB_PORT"], "GET", "/examples/hand-open.json").status == 200
        assert request(ports["WEB_PORT"], "GET", "/examples/../../README.md").status == 404
        # The gallery works with nothing configured: an erasure reaches the embedded Postgres.
        conn = http.client.HTTPConnection("127.0.0.1", ports["VERIFY_PORT"], timeout=60)
        conn.request("POST", "/", json.dumps({"gallery": "serve", "delete": {"id": "nobody"}}), {"Content-Type": "application/json"})
        erased = conn.getresponse()
        assert erased.status == 200 and json.loads(erased.read()) == {"gallery": "serve", "deleted": {"id": "nobody", "templates": 0}}
        conn.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert "serve: stopped" in out.read_text(errors="replace")
    for port in ports.values():
        try:
            request(port, "GET")
        except OSError:
            continue
        raise AssertionError(f"port {port} still answers after serve stopped")
    assert not PostgresServer(tmp_path / "pg").running(), "the embedded Postgres outlived serve"
