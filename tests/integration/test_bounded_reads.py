"""The cache never reads a body the caller has not read: a ``stream=True`` response is not
stored, and reaches the caller untouched (its ``raw`` the origin's own stream), as soon as
requests alone would return it, whatever the body is (a gzip bomb, a slow drip). Such a
request is still served from the cache when an entry exists. Without ``stream=True``,
requests reads the body whole itself, and the size limits apply as they always have."""

from __future__ import annotations

import hashlib
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from urllib3.response import BaseHTTPResponse

from scripts.local_servers import OriginServer, RawOrigin, Route, dripped
from tests.helpers import cached_session, scan_all

BOUND = 1024 * 1024  # max_body_bytes of every session here
PATTERN = bytes(range(256))  # so that a chunk out of place shows
CACHEABLE = {"Content-Type": "application/octet-stream", "Cache-Control": "max-age=600"}


def body_of(size: int) -> bytes:
    return (PATTERN * (size // len(PATTERN) + 1))[:size]


def gzipped(size: int) -> bytes:
    """``body_of(size)`` gzip-compressed, without ever holding it uncompressed."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = []
    block = PATTERN * 4096  # 1 MB
    for start in range(0, size, len(block)):
        parts.append(compressor.compress(block[: size - start]))
    parts.append(compressor.flush())
    return b"".join(parts)


def digest_of(size: int) -> str:
    """The SHA-256 of ``body_of(size)``, computed block by block."""
    digest = hashlib.sha256()
    block = PATTERN * 4096
    for start in range(0, size, len(block)):
        digest.update(block[: size - start])
    return digest.hexdigest()


def serve_gzipped(origin: OriginServer, path: str, size: int) -> str:
    """``body_of(size)``, gzip-encoded, chunked: no Content-Length says how large it is."""
    headers = {**CACHEABLE, "Content-Encoding": "gzip"}
    origin.routes[path] = Route(gzipped(size), headers, chunked=16 * 1024)
    return origin.url(path)


def session(table_name: str) -> Any:
    return cached_session(table_name, max_body_bytes=BOUND)


def stored_responses(ddb: Any, table_name: str) -> list[dict[str, Any]]:
    return [i for i in scan_all(ddb, table_name) if i.get("kind", {}).get("S") == "response"]


def streamed(chunks: Iterator[bytes]) -> tuple[int, str]:
    """The length and SHA-256 of what ``chunks`` yield, holding one chunk at a time."""
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def untouched(response: requests.Response) -> bool:
    """Whether ``response`` is as requests alone returns it for ``stream=True``: its body
    unread, its ``raw`` the origin's own urllib3 response."""
    return response._content is False and isinstance(response.raw, BaseHTTPResponse)


def test_a_streamed_gzip_bomb_is_not_read_by_the_cache_and_reaches_the_caller_whole(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    inflated = 64 * 1024 * 1024
    url = serve_gzipped(origin, "/bomb", inflated)
    assert len(origin.routes["/bomb"].body) < inflated / 200  # type: ignore[union-attr]
    cache = session(table_name)
    cache.cache.responses.lookup("warm-up")  # the table's client is made outside the measure
    tracemalloc.start()
    try:
        response = cache.get(url, stream=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # None of the body read: what a request costs (the old bounded read held the bound).
    assert peak < BOUND / 3
    assert untouched(response)
    assert cache.cache.stats["not_stored"] == 1
    assert cache.cache.stats["oversize"] == 0
    assert stored_responses(ddb, table_name) == []
    tracemalloc.start()
    try:
        received = streamed(response.iter_content(64 * 1024))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == (inflated, digest_of(inflated))  # byte for byte, in order
    assert peak < 3 * BOUND  # the caller's own read, a chunk at a time


@pytest.mark.parametrize("gzip", [False, True], ids=["as-is", "gzip"])
def test_a_small_streamed_body_is_not_stored_and_reaches_the_caller_whole(
    table_name: str, origin: OriginServer, ddb: Any, gzip: bool
) -> None:
    size = 10 * 1024
    if gzip:
        url = serve_gzipped(origin, "/small", size)
    else:
        url = origin.route("/small", body_of(size), CACHEABLE)
    cache = session(table_name)
    response = cache.get(url, stream=True)
    assert not response.from_cache
    assert untouched(response)
    assert cache.cache.stats["not_stored"] == 1
    assert stored_responses(ddb, table_name) == []
    assert response.content == body_of(size)
    again = session(table_name).get(url, stream=True)  # nothing stored: the origin again
    assert not again.from_cache
    assert again.content == body_of(size)
    assert origin.hits["/small"] == 2


def test_a_streamed_request_is_served_what_a_request_without_stream_stored(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    size = 10 * 1024
    url = serve_gzipped(origin, "/stored", size)
    first = session(table_name).get(url)
    assert (first.from_cache, first.content) == (False, body_of(size))
    assert len(stored_responses(ddb, table_name)) == 1
    again = session(table_name).get(url, stream=True)  # another container
    assert again.from_cache
    assert streamed(again.iter_content(4096)) == (size, digest_of(size))
    assert origin.hits["/stored"] == 1


def test_a_streamed_request_to_a_slow_drip_returns_as_fast_as_requests_would(
    table_name: str, raw_origin: RawOrigin, ddb: Any
) -> None:
    """With ``stream=True`` requests returns as soon as the headers are in, and the caller
    reads at its own pace (or stops); the cache must not make it wait for the whole body
    (here 6 s of it)."""
    raw_origin.answers["/feed"] = dripped()
    url = raw_origin.url("/feed")
    started = time.monotonic()
    with requests.Session().get(url, stream=True, timeout=5) as response:
        assert response.status_code == 200
    without_cache = time.monotonic() - started
    assert without_cache < 1.0
    cache = session(table_name)
    started = time.monotonic()
    response = cache.get(url, stream=True, timeout=5)
    with_cache = time.monotonic() - started
    assert untouched(response)
    first = next(response.iter_content(1))
    response.close()
    assert first == b"x"
    assert with_cache < 1.5, f"stream=True waited {with_cache:.1f} s for the body"
    assert cache.cache.stats["not_stored"] == 1
    assert stored_responses(ddb, table_name) == []


def test_without_stream_bodies_are_stored_or_refused_as_before(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    small, large = body_of(BOUND), body_of(BOUND + 1)
    small_url = origin.route("/small", small, CACHEABLE)
    large_url = origin.route("/large", large, CACHEABLE)
    cache = session(table_name)
    assert cache.get(small_url).content == small
    assert cache.get(large_url).content == large
    assert cache.cache.stats["oversize"] == 1
    assert len(stored_responses(ddb, table_name)) == 1
    hit = session(table_name).get(small_url)
    assert (hit.from_cache, hit.content) == (True, small)
    streamed_hit = session(table_name).get(small_url, stream=True)
    assert (streamed_hit.from_cache, streamed_hit.content) == (True, small)
    large_again = cache.get(large_url, stream=True)
    assert not large_again.from_cache
    assert large_again.content == large
