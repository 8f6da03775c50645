"""RequestFraming: when one HTTP/1.x request is whole, from bytes in any split."""

from __future__ import annotations

import pytest

from shared.edge.framing import HEADER_LIMIT, HeaderTooLarge, RequestFraming

HEAD = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


def fed(data: bytes, max_body: int = 1000, step: int = 0) -> RequestFraming:
    framing = RequestFraming(max_body)
    pieces = [data[i : i + step] for i in range(0, len(data), step)] if step else [data]
    for piece in pieces:
        framing.feed(piece)
    return framing


@pytest.mark.parametrize("step", [0, 1, 3, 7])
def test_content_length_body_is_whole_at_its_last_byte(step):
    request = HEAD + b"Content-Length: 5\r\n\r\nhello"
    assert fed(request, step=step).complete
    assert not fed(request[:-1], step=step).complete
    assert fed(request, step=step).pieces and b"".join(fed(request, step=step).pieces) == request


@pytest.mark.parametrize("step", [0, 1, 2, 5])
def test_chunked_body_is_whole_after_its_last_chunk_and_trailer(step):
    body = b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n"
    request = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + body
    framing = fed(request, step=step)
    assert framing.complete and framing.body == 15
    assert not fed(request[:-2], step=step).complete


def test_no_body_is_whole_with_its_headers():
    assert fed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").complete
    assert not fed(b"GET / HTTP/1.1\r\nHost: x\r\n").complete


def test_a_body_over_the_limit_is_handed_on_unread_or_at_the_limit():
    assert fed(HEAD + b"Content-Length: 1001\r\n\r\n").complete  # declared: at once, 413 unread
    chunked = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"400\r\n" + b"a" * 1001
    assert fed(chunked).complete  # streamed: once past the limit


@pytest.mark.parametrize(
    "head",
    [
        b"Content-Length: 5\r\nContent-Length: 6\r\n",  # two lengths
        b"Content-Length: -5\r\n",
        b"Content-Length: 0x10\r\n",
        b"Transfer-Encoding: gzip\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    ],
)
def test_unreadable_framing_goes_to_the_parser_at_once(head):
    assert fed(HEAD + head + b"\r\n").complete


@pytest.mark.parametrize("size_line", [b"zz\r\n", b"0x5\r\n", b"+5\r\n", b"1_0\r\n", b"\r\n"])
def test_bad_chunk_sizes_go_to_the_parser_at_once(size_line):
    assert fed(HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + size_line).complete


def test_expect_continue_is_noted_on_http_1_1_only():
    assert fed(HEAD + b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n").expect_continue
    old = b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
    assert not fed(old).expect_continue


def test_headers_over_the_limit_are_refused():
    with pytest.raises(HeaderTooLarge):
        fed(HEAD + b"X-Big: " + b"a" * HEADER_LIMIT)
    with pytest.raises(HeaderTooLarge):
        fed(HEAD + b"X-Big: " + b"a" * HEADER_LIMIT + b"\r\n\r\n")


def test_pipelined_bytes_are_kept_not_judged():
    first = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    framing = fed(first + b"POST / HTTP/1.1\r\nContent-Len")
    assert framing.complete and b"".join(framing.pieces).endswith(b"Content-Len")
