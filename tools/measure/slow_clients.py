#!/usr/bin/env python3
"""Slow clients against one served function: how many held connections it takes before
health stops answering, per way of serving.

A slow-header client sends a POST's header section one byte a second; a slow-body client
sends whole headers announcing a 1 MB body, then one body byte a second. `SlowClients`
holds a number of each open (re-opening any the server closes, as an attacker would);
for each configuration the tool doubles the number held (1, 2, 4 ... 128 of each kind)
until health (GET /) does not answer within `--health-timeout` seconds, and prints a table.

    .venv/bin/python tools/measure/slow_clients.py                  # both servers, THREADS=2 and the default
    .venv/bin/python tools/measure/slow_clients.py --max 64 --threads 2

Only loopback addresses are used; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

from tools import ROOT
from tools.measure import harness

SLOW_HEADER = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Padding: " + b"a" * 200
SLOW_BODY_HEAD = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"


class SlowClients:
    """`headers` slow-header and `bodies` slow-body connections to host:port, each sending
    a byte a second from one background thread, re-opened when the server closes them.
    Attributes: reopened (connections the server closed and this re-opened); answers
    (the first line of each answer the server sent them, e.g. 408)."""

    def __init__(self, host: str, port: int, headers: int, bodies: int):
        self.host, self.port = host, port
        self.kinds = ["header"] * headers + ["body"] * bodies
        self.socks: list[socket.socket | None] = [None] * len(self.kinds)
        self.sent = [0] * len(self.kinds)
        self.reopened = 0
        self.answers: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SlowClients:
        for i in range(len(self.kinds)):
            self._open(i)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.socks:
            if sock is not None:
                sock.close()

    def _open(self, i: int) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=5)
        if self.kinds[i] == "body":
            sock.sendall(SLOW_BODY_HEAD)
        sock.setblocking(False)
        self.socks[i], self.sent[i] = sock, 0

    def _tick(self, i: int) -> None:
        sock = self.socks[i]
        assert sock is not None
        try:
            answer = sock.recv(4096)
            if answer or answer == b"":  # an answer, or the server closed: note it, reconnect
                if answer:
                    self.answers.append(answer.split(b"\r\n", 1)[0].decode(errors="replace"))
                sock.close()
                self.reopened += 1
                self._open(i)
                return
        except BlockingIOError:
            pass
        except OSError:
            sock.close()
            self.reopened += 1
            self._open(i)
            return
        byte = SLOW_HEADER[self.sent[i] % len(SLOW_HEADER) : self.sent[i] % len(SLOW_HEADER) + 1] if self.kinds[i] == "header" else b"0"
        try:
            sock.send(byte)
            self.sent[i] += 1
        except OSError:
            pass

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            for i in range(len(self.kinds)):
                with contextlib.suppress(OSError):  # could not reconnect this second: try again the next
                    self._tick(i)


def health_seconds(host: str, port: int, timeout_s: float) -> float | None:
    """Seconds GET / took to answer 200, or None when it did not within `timeout_s`."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        return time.perf_counter() - started if response.status == 200 else None
    except OSError:
        return None
    finally:
        conn.close()


def largest_survived(server: harness.Server, most: int, health_timeout_s: float) -> tuple[int, int | None]:
    """(the largest n of each kind held while health still answered, the first n at which it
    did not, or None)."""
    survived, n = 0, 1
    while n <= most:
        with SlowClients(server.host, server.port, n, n):
            time.sleep(2.0)
            ok = health_seconds(server.host, server.port, health_timeout_s) is not None
        if not ok:
            return survived, n
        survived, n = n, n * 2
        time.sleep(1.0)
    return survived, None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--function", default="verify_face", choices=harness.FUNCTIONS)
    p.add_argument("--max", type=int, default=128, help="most connections of each kind tried (default 128)")
    p.add_argument("--threads", default="2,default", help="THREADS values, comma-separated; 'default' = unset (cpu x 4)")
    p.add_argument("--health-timeout", type=float, default=5.0)
    args = p.parse_args(argv)
    harness.keep_logs_in(ROOT / "build" / "slow-clients-logs")
    rows = []
    try:
        for framework in (True, False):
            for threads in args.threads.split(","):
                env = {} if threads == "default" else {"THREADS": threads}
                server = harness.start(args.function, env=env, framework_server=framework)
                try:
                    survived, failed = largest_survived(server, args.max, args.health_timeout)
                finally:
                    server.stop()
                name = "functions-framework (gunicorn gthread)" if framework else "functions/serve.py (buffering worker)"
                rows.append((name, threads, survived, failed))
    finally:
        harness.stop_all()
    print(f"\n{args.function}: slow-header + slow-body connections held (each kind) before health took over {args.health_timeout:g} s\n")
    print("| server | THREADS | held with health answering | health refused at |")
    print("|---|---|---|---|")
    for name, threads, survived, failed in rows:
        refused = f"{failed} + {failed}" if failed else f"not within {args.max} + {args.max}"
        print(f"| {name} | {threads} | {survived} + {survived} | {refused} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
