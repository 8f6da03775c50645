#!/usr/bin/env python3
"""Serve both functions locally from the repo, on the bundled models, until Ctrl-C.

Starts verify_face and predict_gesture with functions-framework (the serving harness,
tools/measure/harness.py), each in its own process with its log on this terminal, and the
reference web client (web/, tools/serve/web.py) on a third port, with the functions'
CORS_ORIGINS set to the page's origin; waits until both functions answer health, prints
the URLs and example calls, and stops everything on Ctrl-C, when a function exits, or
when whatever started this (make) is gone.

    make serve                      # sets up .venv, then runs this with .venv/bin/python
    .venv/bin/python tools/serve/serve.py
    API_KEY=secret VERIFY_PORT=9090 .venv/bin/python tools/serve/serve.py

Galleries (verify_face's `gallery` calls): without GALLERY_URL, an embedded Postgres with
pgvector (the `pgserver` wheel, tools/requirements/serve.txt; no Docker) is started on a
Unix socket with its data in build/gallery-pgdata/ (kept between runs; delete the folder to
start empty; GALLERY_DATA names another) and stopped with the functions; LOCAL_GALLERY=off
serves without one.

Environment: HOST (default 127.0.0.1; 0.0.0.0 serves other machines too), VERIFY_PORT
(8080), GESTURE_PORT (8081), WEB_PORT (8082), READY_TIMEOUT_S (60), PYTHON (the
interpreter that serves; default this one), plus any setting the functions read (see
shared/settings/). CORS_ORIGINS, when set, replaces the page's origins. A browser lets a
page use the camera on https or on localhost / 127.0.0.1 only, so with HOST=0.0.0.0 other
machines get the page without a camera (choosing photos and landmark files still works).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

from tools import ROOT, testdata
from tools.measure.harness import Server
from tools.measure.postgres_server import PostgresServer
from tools.serve.web import WebServer

# ---- settings (environment variables override these) ----------------------------------
HOST = os.environ.get("HOST", "127.0.0.1")
PORTS = {"verify_face": int(os.environ.get("VERIFY_PORT", "8080")), "predict_gesture": int(os.environ.get("GESTURE_PORT", "8081"))}
WEB_PORT = int(os.environ.get("WEB_PORT", "8082"))
READY_TIMEOUT_S = float(os.environ.get("READY_TIMEOUT_S", "60"))
PYTHON = os.environ.get("PYTHON", sys.executable)
LOCAL_GALLERY = os.environ.get("LOCAL_GALLERY", "on") != "off"
GALLERY_DATA = Path(os.environ.get("GALLERY_DATA", ROOT / "build" / "gallery-pgdata"))


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does: TIME_WAIT is not "in use"
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def browser_host(host: str) -> str:
    """The host a browser on this machine uses to reach `host` (a wildcard is not one)."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else f"[{host}]" if ":" in host else host


def page_origins(host: str, port: int) -> str:
    """CORS_ORIGINS for the page served on host:port: as the browser names it, and as
    localhost / 127.0.0.1 name the same page on this machine."""
    names = [browser_host(host)]
    if names[0] in ("127.0.0.1", "localhost"):
        names = ["127.0.0.1", "localhost"]
    return ",".join(f"http://{name}:{port}" for name in names)


def cors_origins() -> str:
    """The functions' CORS_ORIGINS: the environment's when set, else the page's origins."""
    return os.environ.get("CORS_ORIGINS") or page_origins(HOST, WEB_PORT)


def examples(servers: dict[str, Server], page: str = "") -> str:
    """The banner: URLs, then a health, a verify and a gesture call to copy."""
    verify, gesture = servers["verify_face"].url, servers["predict_gesture"].url
    photos = testdata.FACE_PHOTOS  # fetched by the tests; placeholders until then
    p1, p2 = (photos / "obama.jpg", photos / "obama2.jpg") if (photos / "obama.jpg").exists() else ("photo1.jpg", "photo2.jpg")
    # A fingertip held still for the finger-gesture bundle's whole history: the Stop gesture.
    frames = json.loads((ROOT / "models" / "finger-gesture" / "bundle.json").read_text())["preprocessing"]["frames"]
    still = json.dumps({"model": "finger-gesture", "features": [[0, 0]] * frames}, separators=(",", ":"))
    web = f"web client       {page}  (verify.html, gesture.html; the functions' CORS_ORIGINS={cors_origins()})\n"
    return f"""
verify_face      {verify}
predict_gesture  {gesture}
{web if page else ""}
Health and model information:
  curl -s {verify}
  curl -s {gesture}
Same person? (two photos as multipart files)
  curl -s -F img1=@{p1} -F img2=@{p2} {verify}
Enrol in a gallery, then identify (GALLERY_URL, or the embedded Postgres make serve starts):
  curl -s -F gallery=demo -F 'enroll={{"id": "alice"}}' -F img1=@{p1} {verify}
  curl -s -F gallery=demo -F img1=@{p2} {verify}
Gesture from keypoint frames (JSON: features, or raw MediaPipe landmarks; see the README):
  curl -s -H 'Content-Type: application/json' -d '{still}' {gesture}

Ctrl-C stops them all.
"""


def local_gallery() -> PostgresServer | None:
    """The embedded Postgres for GALLERY_URL when none is set (and LOCAL_GALLERY is not off)."""
    if os.environ.get("GALLERY_URL") or not LOCAL_GALLERY:
        return None
    try:
        return PostgresServer(GALLERY_DATA).start()
    except ImportError:
        print("serve: no pgserver in this venv (tools/requirements/serve.txt): serving without a gallery", file=sys.stderr)
        return None


def serve() -> int:
    busy = [port for port in (*PORTS.values(), WEB_PORT) if port_in_use(HOST, port)]
    if busy:
        names = "VERIFY_PORT / GESTURE_PORT / WEB_PORT"
        raise SystemExit(f"serve: error: port {busy[0]} on {HOST} is in use; stop what uses it or set {names}")
    parent = os.getppid()
    env = {"CORS_ORIGINS": cors_origins()}
    if HOST in ("127.0.0.1", "::1", "localhost"):  # nobody else reaches it: the detailed health report for anyone
        env["HEALTH_DETAILS"] = os.environ.get("HEALTH_DETAILS", "open")
    gallery = local_gallery()
    if gallery is not None:
        env["GALLERY_URL"] = gallery.url
        print(f"serve: gallery database: embedded Postgres with pgvector, data in {GALLERY_DATA}", flush=True)
    servers = {
        name: Server(name, ROOT / "functions" / name / "main.py", PYTHON, env=env, host=HOST, port=port) for name, port in PORTS.items()
    }
    web = WebServer(HOST, WEB_PORT, quiet=False)
    try:
        for server in servers.values():
            server.start()
        web.start()
        for server in servers.values():
            server.wait_ready(READY_TIMEOUT_S)
        print(examples(servers, f"http://{browser_host(HOST)}:{WEB_PORT}/"), flush=True)
        while all(s.alive() for s in servers.values()):
            if os.getppid() != parent:  # make (or the shell) is gone: no server outlives it
                return 0
            time.sleep(1)
        print("serve: error: a server exited unexpectedly (see its log above)", file=sys.stderr)
        return 1
    except (RuntimeError, TimeoutError) as exc:  # one did not start: its log is above
        print(f"serve: error: {exc}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C or TERM (make and timeout both forward one) must not cut the cleanup short.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        for server in servers.values():
            server.stop()
        web.stop()
        if gallery is not None:
            gallery.stop()
        print("serve: stopped", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind through serve()'s finally: both stopped
    try:
        return serve()
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
