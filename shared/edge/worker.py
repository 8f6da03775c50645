"""The serving worker: gunicorn's threaded worker, reading each request whole on its event
loop before a thread sees it (see shared/edge/server.py for why and how)."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import selectors
import socket
import time
from collections import deque
from dataclasses import dataclass
from functools import partial
from typing import Any

from gunicorn import http, util  # type: ignore[import-untyped]  # gunicorn has no type information
from gunicorn.http.unreader import SocketUnreader  # type: ignore[import-untyped]
from gunicorn.workers.gthread import TConn, ThreadWorker  # type: ignore[import-untyped]

from shared.edge.framing import HeaderTooLarge, RequestFraming
from shared.logs import event
from shared.settings import Settings, get_settings

log = logging.getLogger(__name__)
RECV_BYTES = 64 * 1024
SMALL_REQUEST = 16 * 1024  # never refused for the buffer budget: health checks, landmark frames
LINGER_S = 2.0  # after an early answer, how long unread upload bytes are drained before closing
REASONS = {408: "Request Timeout", 431: "Request Header Fields Too Large", 503: "Service Unavailable"}


@dataclass(frozen=True)
class ReadLimits:
    """Socket-level deadlines and memory for reading requests (defaults: the settings
    REQUEST_HEADER_TIMEOUT_S and the like). Attributes: header_timeout_s;
    body_timeout_s (after the headers); body_min_rate (bytes/s: each body byte adds
    1/rate s); buffer_bytes (all requests' held bytes); max_body (MAX_REQUEST_BYTES: a
    larger declared body goes to the function at once, which refuses it unread)."""

    header_timeout_s: float
    body_timeout_s: float
    body_min_rate: int
    buffer_bytes: int
    max_body: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ReadLimits:
        return cls(
            settings.request_header_timeout_s,
            settings.request_body_timeout_s,
            settings.request_body_min_rate,
            settings.request_buffer_mb * 2**20,
            settings.max_request_bytes,
        )


class PrefixUnreader(SocketUnreader):
    """gunicorn's socket reader that first hands out the pieces already received."""

    def __init__(self, pieces: list[bytes], sock: socket.socket):
        super().__init__(sock)
        self.pieces = deque(pieces)

    def chunk(self, size_hint: int | None = None) -> bytes:
        return self.pieces.popleft() if self.pieces else super().chunk(size_hint)

    def take_pieces(self) -> bytes:
        """What is held and not yet handed out (a pipelined request's bytes)."""
        held = self.take_buffered() + b"".join(self.pieces)
        self.pieces.clear()
        return held


class BufferedConn(TConn):
    """A connection whose thread-side socket calls (writing the answer) are bounded in time."""

    io_timeout_s: float = 10.0

    def init(self) -> None:
        super().init()
        self.sock.settimeout(self.io_timeout_s)


class _Captured:
    """A socket stand-in that keeps what gunicorn's error page would have sent."""

    def __init__(self, sock: Any):
        self._sock, self.sent = sock, b""

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def gettimeout(self) -> float:
        return 0.0  # write_nonblock then writes straight to sendall

    def status(self) -> tuple[int, str]:
        parts = self.sent.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        return (int(parts[1]), parts[2]) if len(parts) == 3 and parts[1].isdigit() else (500, "Internal Server Error")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


@dataclass
class Reading:
    """One request being read on the event loop. Attributes: framing; deadline (monotonic)."""

    framing: RequestFraming
    deadline: float
    continued: bool = False


class BufferingWorker(ThreadWorker):
    """gunicorn's threaded worker; every request is read whole before a thread gets it."""

    limits: ReadLimits

    def init_process(self) -> None:
        self.limits = ReadLimits.from_settings(get_settings())
        BufferedConn.io_timeout_s = self.limits.header_timeout_s
        self.reading: dict[TConn, Reading] = {}
        self.lingering: dict[TConn, float] = {}
        self.held: dict[TConn, int] = {}  # bytes of requests read and not yet answered
        self.held_total = 0
        super().init_process()  # runs the loop

    # ---- gunicorn's hooks ---------------------------------------------------------------

    def accept(self, listener: socket.socket) -> None:
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self.enqueue_req(BufferedConn(self.cfg, client, address, listener.getsockname()))

    def enqueue_req(self, conn: TConn) -> None:
        """A connection with a request to come: read it whole first (a new connection, a
        kept-alive one that became readable, or one with pipelined bytes left over)."""
        if self.cfg.is_ssl:  # TLS ends in front of the function on every platform served
            super().enqueue_req(conn)
            return
        seed = conn.parser.unreader.take_pieces() if isinstance(getattr(conn.parser, "unreader", None), PrefixUnreader) else b""
        now = time.monotonic()
        reading = Reading(RequestFraming(self.limits.max_body), now + self.limits.header_timeout_s)
        self.reading[conn] = reading
        conn.sock.setblocking(False)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))
        if seed:
            self._take(conn, reading, seed)

    def handle_request(self, req: Any, conn: TConn) -> Any:
        if getattr(conn, "continued", False):
            req._expected_100_continue = False  # "100 Continue" went out while the body was read
            conn.continued = False
        return super().handle_request(req, conn)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """gunicorn's own refusals (a malformed request line or header, a field over its
        limits) as JSON errors like every other answer, instead of its HTML page."""
        captured = _Captured(client)
        super().handle_error(req, captured, addr, exc)
        status, reason = captured.status()
        message = f"{reason}: {str(exc)[:200]}" if status < 500 else "internal error; see the function's logs"
        body = json.dumps({"error": {"code": reason.lower().replace(" ", "_"), "message": message}}).encode()
        head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        with contextlib.suppress(OSError):
            util.write_nonblock(client, head.encode() + body)

    def finish_request(self, conn: TConn, fs: Any) -> None:
        self.held_total -= self.held.pop(conn, 0)
        unreader = getattr(conn.parser, "unreader", None)
        if isinstance(unreader, PrefixUnreader) and unreader.pieces:
            unreader.unread(unreader.take_pieces())  # so gunicorn sees the pipelined bytes
        super().finish_request(conn, fs)

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for conn, reading in [(c, r) for c, r in self.reading.items() if r.deadline <= now]:
            if reading.framing.size:
                part = "body" if reading.framing.head_done else "headers"
                self._refuse(conn, 408, "request_timeout", f"the request's {part} did not arrive in time", part=part)
            else:
                self._close(conn)  # nothing sent: no answer owed
        for conn in [c for c, until in self.lingering.items() if until <= now]:
            self._close(conn)

    # ---- reading ------------------------------------------------------------------------

    def _on_readable(self, conn: TConn, _sock: Any) -> None:
        if conn in self.lingering:
            self._drain(conn)
            return
        reading = self.reading.get(conn)
        if reading is None:
            return
        try:
            data = conn.sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)  # the client went away
            return
        self._take(conn, reading, data)

    def _take(self, conn: TConn, reading: Reading, data: bytes) -> None:
        framing = reading.framing
        if self.held_total + len(data) > self.limits.buffer_bytes and framing.size + len(data) > SMALL_REQUEST:
            message = "the function is receiving too many large requests at once; retry shortly"
            self._refuse(conn, 503, "busy", message, retry_after=5)
            return
        head_done = framing.head_done
        try:
            framing.feed(data)
        except HeaderTooLarge as exc:
            self._refuse(conn, 431, "headers_too_large", str(exc))
            return
        self.held[conn] = framing.size
        self.held_total += len(data)
        if framing.head_done and not head_done:  # the body's clock starts with the headers
            allowance = (framing.length or 0) / self.limits.body_min_rate if self.limits.body_min_rate else 0.0
            reading.deadline = time.monotonic() + self.limits.body_timeout_s + allowance
        elif framing.chunked and self.limits.body_min_rate:
            reading.deadline += len(data) / self.limits.body_min_rate
        if framing.complete:
            self._dispatch(conn, reading)
        elif framing.expect_continue and not reading.continued:
            reading.continued = True
            self._send(conn, b"HTTP/1.1 100 Continue\r\n\r\n")

    def _dispatch(self, conn: TConn, reading: Reading) -> None:
        """The request is whole: hand it to a thread, parsed from the bytes held."""
        self._forget(conn)
        conn.data_ready = True
        conn.continued = reading.continued
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.parser.unreader = PrefixUnreader(reading.framing.pieces, conn.sock)
        super().enqueue_req(conn)

    # ---- answering early and closing ----------------------------------------------------

    def _refuse(self, conn: TConn, status: int, code: str, message: str, *, retry_after: int = 0, **fields: Any) -> None:
        """Answer `status` with a JSON error from the event loop, then close (after a short
        drain, so the client reads the answer rather than a reset)."""
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        retry = f"Retry-After: {retry_after}\r\n" if retry_after else ""
        head = (
            f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"{retry}Connection: close\r\n\r\n"
        )
        event(log, logging.WARNING, f"request refused while reading: {status}", status=status, error=code, **fields)
        self._send(conn, head.encode() + body)
        self._forget(conn)
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        self.lingering[conn] = time.monotonic() + LINGER_S
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _drain(self, conn: TConn) -> None:
        try:
            if conn.sock.recv(RECV_BYTES):
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self._close(conn)

    def _send(self, conn: TConn, data: bytes) -> None:
        """Best effort, without blocking: a few hundred bytes into an empty send buffer."""
        with contextlib.suppress(OSError):
            conn.sock.send(data)

    def _forget(self, conn: TConn) -> None:
        """Stop reading `conn` on the event loop; its held bytes stay counted until answered."""
        self.reading.pop(conn, None)
        self.lingering.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def _close(self, conn: TConn) -> None:
        self._forget(conn)
        self.held_total -= self.held.pop(conn, 0)
        self.nr_conns -= 1
        conn.close()
