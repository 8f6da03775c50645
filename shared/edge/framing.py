"""Where one HTTP/1.x request ends, told from its bytes as they arrive: the serving
worker (shared/edge/server.py) reads each request whole on its event loop before a
thread sees it, and this says when that is.

`RequestFraming.feed(data)` takes the bytes in arrival order and keeps them (as the
pieces received, so they can be handed on without being joined); `complete` turns true
once the headers and the body they announce are in: `Content-Length` bytes, or a
chunked body up to its last chunk and trailer, or nothing (no length, not chunked).

It judges framing only, never validity: a request whose framing it cannot read (two
lengths, a bad chunk size) counts as complete, so gunicorn's own parser, the authority,
answers it (400). A body larger than `max_body` counts as complete once `max_body`
bytes of it are in (or at once, when declared): the function refuses it with 413
without reading the rest.
"""

from __future__ import annotations

HEADER_LIMIT = 64 * 1024  # request line and header fields; gunicorn's defaults allow ~800 KB, no client needs 64
LINE_LIMIT = 4096  # one chunk-size or trailer line


class HeaderTooLarge(ValueError):
    """The header section passed HEADER_LIMIT without ending."""


class RequestFraming:
    """One request's bytes as they arrive. Attributes: pieces (everything fed, in order,
    including any bytes of a pipelined next request); size (their total); head_done (the
    header section is in); length (the declared Content-Length, or None); chunked;
    expect_continue (`Expect: 100-continue` on HTTP/1.1); body (body bytes seen so far,
    decoded for chunked); complete."""

    def __init__(self, max_body: int):
        self.max_body = max_body
        self.pieces: list[bytes] = []
        self.size = 0
        self.head = bytearray()
        self.head_done = False
        self.length: int | None = None
        self.chunked = False
        self.expect_continue = False
        self.body = 0
        self.complete = False
        # chunked state: "size" (a chunk-size line), "data" (`left` bytes), "crlf" (the
        # line ending a chunk's data), "trailer" (fields until an empty line)
        self._state = "size"
        self._left = 0
        self._line = bytearray()

    def feed(self, data: bytes) -> None:
        """Take the next bytes received. Raises HeaderTooLarge."""
        self.pieces.append(data)
        self.size += len(data)
        if self.complete:
            return  # a pipelined request's first bytes: kept, not judged
        if not self.head_done:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if len(self.head) > HEADER_LIMIT:
                    raise HeaderTooLarge(f"request headers are over {HEADER_LIMIT} bytes")
                return
            if end > HEADER_LIMIT:
                raise HeaderTooLarge(f"request headers are over {HEADER_LIMIT} bytes")
            rest = bytes(self.head[end + 4 :])
            self._read_head(bytes(self.head[:end]))
            self.head = bytearray()
            self.head_done = True
            if self.complete:
                return
            data = rest
        if data:
            self._feed_body(data)

    def _read_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        version = lines[0].rsplit(b" ", 1)[-1].strip().upper()
        lengths, codings = [], []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                lengths.append(value)
            elif name == b"transfer-encoding":
                codings.append(value)
            elif name == b"expect" and value == b"100-continue" and version == b"HTTP/1.1":
                self.expect_continue = True
        if codings:
            self.chunked = b"chunked" in b",".join(codings)
            if not self.chunked or lengths:
                self.complete = True  # another coding, or both framings: gunicorn's parser refuses it
            return
        if not lengths:
            self.complete = True  # no body
            return
        if len(set(lengths)) > 1 or not lengths[0].isdigit() or len(lengths[0]) > 18:
            self.complete = True  # unreadable length: gunicorn's parser refuses it
            return
        self.length = int(lengths[0])
        self.complete = self.length == 0 or self.length > self.max_body  # over the limit: 413 unread

    def _feed_body(self, data: bytes) -> None:
        if self.length is not None:
            self.body += len(data)
            self.complete = self.body >= self.length
            return
        at = 0
        while at < len(data) and not self.complete:
            if self._state == "data":
                take = min(self._left, len(data) - at)
                self._left -= take
                self.body += take
                at += take
                if self._left == 0:
                    self._state = "crlf"
                if self.body > self.max_body:
                    self.complete = True  # enough for the function to refuse it (413)
                continue
            end = data.find(b"\n", at)
            if end < 0:
                self._line += data[at:]
                if len(self._line) > LINE_LIMIT:
                    self.complete = True  # gunicorn's parser refuses it
                return
            line = bytes(self._line + data[at:end]).rstrip(b"\r")
            self._line = bytearray()
            at = end + 1
            self._read_line(line)

    def _read_line(self, line: bytes) -> None:
        if self._state == "crlf":
            self._state = "size"
            if line:
                self.complete = True  # data longer than its chunk size: gunicorn's parser refuses it
            return
        if self._state == "trailer":
            self.complete = not line
            return
        digits = line.split(b";", 1)[0].strip()
        hexadecimal = bool(digits) and len(digits) <= 16 and not digits.strip(b"0123456789abcdefABCDEF")
        size = int(digits, 16) if hexadecimal else -1
        if size < 0:
            self.complete = True  # not a chunk size: gunicorn's parser refuses it
        elif size == 0:
            self._state = "trailer"
        else:
            self._state, self._left = "data", size
