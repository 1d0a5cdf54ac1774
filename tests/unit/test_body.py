"""Reading a body for the cache (body.py): at most one byte past the bound, and whatever was
read is put back, so the caller reads the same body as without a cache."""

from __future__ import annotations

import gzip
import io
from typing import Any

import pytest
import requests
from lambda_http_cache.body import Replay, declared_length, read_within
from urllib3.response import HTTPResponse

BODY = bytes(range(256)) * 400  # 102,400 bytes


class Counting(io.BytesIO):
    """A socket file that counts what is read from it and can fail after ``fail_after``."""

    def __init__(self, data: bytes, fail_after: int | None = None) -> None:
        super().__init__(data)
        self.fail_after = fail_after
        self.served = 0

    def read(self, size: int | None = -1) -> bytes:
        if self.fail_after is not None and self.served >= self.fail_after:
            raise OSError("connection reset by peer")
        data = super().read(size)
        self.served += len(data)
        return data


def unread(
    data: bytes, headers: dict[str, str] | None = None, method: str = "GET", **fp: Any
) -> tuple[requests.Response, Counting]:
    """A response as requests hands over one of a ``stream=True`` request: nothing read."""
    socket_file = Counting(data, **fp)
    raw = HTTPResponse(
        body=socket_file,
        headers=headers or {},
        status=200,
        preload_content=False,
        decode_content=False,
    )
    response = requests.Response()
    response.raw = raw
    response.status_code = 200
    response.headers = requests.structures.CaseInsensitiveDict(headers or {})
    response.request = requests.Request(method, "http://origin.test/").prepare()
    return response, socket_file


def test_a_body_within_the_bound_becomes_the_content_and_stays_readable() -> None:
    response, _ = unread(gzip.compress(BODY), {"Content-Encoding": "gzip"})
    assert read_within(response, len(BODY))
    assert response.content == BODY
    assert b"".join(response.iter_content(1000)) == BODY
    assert response.raw.read(10) + response.raw.read() == BODY


def test_a_body_over_the_bound_is_read_one_byte_past_it_and_replayed_whole() -> None:
    response, _ = unread(gzip.compress(BODY), {"Content-Encoding": "gzip"})
    assert not read_within(response, 1000)
    replay = response.raw
    assert isinstance(replay, Replay)
    assert sum(len(chunk) for chunk in replay._replay_buffer) == 1001  # decoded, and no more
    assert replay.headers["Content-Encoding"] == "gzip"  # the original's, passed through
    chunks = list(response.iter_content(777))
    assert all(len(chunk) <= 777 for chunk in chunks)
    assert b"".join(chunks) == BODY


def test_a_replay_reads_exact_amounts_across_what_was_read_and_what_was_not() -> None:
    response, _ = unread(BODY)
    assert not read_within(response, 5000)
    replay = response.raw
    sizes = [1, 4999, 2, 50_000, 3]
    parts = [replay.read(size) for size in sizes]
    assert [len(part) for part in parts] == sizes
    assert b"".join(parts) + replay.read() == BODY
    assert replay.read(10) == b"" and list(replay.stream(10)) == []
    buffer = bytearray(8)
    assert replay.readinto(buffer) == 0


def test_a_stream_that_fails_part_way_gives_what_was_read_then_the_same_failure() -> None:
    response, _ = unread(BODY, fail_after=3000)
    with pytest.raises(Exception, match="connection reset"):
        read_within(response, len(BODY))
    received = bytearray()
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for chunk in response.iter_content(1000):
            received += chunk
    assert bytes(received) == BODY[: len(received)] and len(received) >= 3000


def test_a_declared_length_over_the_bound_reads_nothing() -> None:
    response, socket_file = unread(BODY, {"Content-Length": str(len(BODY))})
    assert not read_within(response, len(BODY) - 1)
    assert socket_file.served == 0 and not isinstance(response.raw, Replay)
    assert response.content == BODY


@pytest.mark.parametrize(
    ("headers", "method", "status"),
    [
        ({"Content-Length": "999999", "Content-Encoding": "gzip"}, "GET", 200),  # not the size
        ({"Content-Length": "999999", "Transfer-Encoding": "chunked"}, "GET", 200),
        ({"Content-Length": "999999"}, "HEAD", 200),  # no body, whatever it says
        ({"Content-Length": "999999"}, "GET", 304),
        ({"Content-Length": "12, 12"}, "GET", 200),
        ({"Content-Length": "-5"}, "GET", 200),
        ({"Content-Length": "\u0661\u0662"}, "GET", 200),  # digits, but not ASCII ones
    ],
)
def test_only_a_plain_content_length_counts_as_the_body_size(
    headers: dict[str, str], method: str, status: int
) -> None:
    response, _ = unread(b"", headers, method)
    response.status_code = status
    assert declared_length(response) is None


def test_a_body_already_read_is_left_to_the_caller_check() -> None:
    response, socket_file = unread(BODY)
    assert response.content == BODY  # read, as without stream=True
    served = socket_file.served
    assert read_within(response, 10)  # the size check after it refuses it, as before
    assert socket_file.served == served and response.content == BODY
