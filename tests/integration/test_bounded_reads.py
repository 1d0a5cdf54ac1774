"""The cache never reads more of a body than it may store: a ``stream=True`` response is read
at most one byte past the bound (a compression bomb costs the bound, not what it inflates
to), a ``Content-Length`` over the bound is not read at all, and whatever the cache read, the
caller gets the whole body, byte for byte, as without a cache."""

from __future__ import annotations

import hashlib
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from lambda_http_cache.body import Replay

from scripts.local_servers import OriginServer, Route
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


def test_a_gzip_bomb_costs_the_bound_and_the_caller_still_gets_all_of_it(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    inflated = 64 * 1024 * 1024
    url = serve_gzipped(origin, "/bomb", inflated)
    assert len(origin.routes["/bomb"].body) < inflated / 200  # type: ignore[union-attr]
    cache = session(table_name)
    tracemalloc.start()
    try:
        response = cache.get(url, stream=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * BOUND  # the bound and a chunk, not 64 MB
    assert cache.cache.stats["oversize"] == 1
    assert stored_responses(ddb, table_name) == []
    assert isinstance(response.raw, Replay)
    tracemalloc.start()
    try:
        received = streamed(response.iter_content(64 * 1024))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == (inflated, digest_of(inflated))  # byte for byte, in order
    assert peak < 3 * BOUND  # what was read is handed on, not held


@pytest.mark.parametrize("size", [BOUND - 1, BOUND], ids=["just-under", "at-the-bound"])
def test_a_streamed_body_within_the_bound_is_stored_and_served(
    table_name: str, origin: OriginServer, ddb: Any, size: int
) -> None:
    url = serve_gzipped(origin, "/fits", size)
    first = session(table_name).get(url, stream=True)
    assert (first.from_cache, first.content) == (False, body_of(size))
    assert len(stored_responses(ddb, table_name)) == 1
    again = session(table_name).get(url, stream=True)  # another container
    assert again.from_cache
    assert streamed(again.iter_content(4096)) == (size, digest_of(size))
    assert origin.hits["/fits"] == 1


def test_a_streamed_body_one_byte_over_is_not_stored_but_reaches_the_caller_whole(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    url = serve_gzipped(origin, "/over", BOUND + 1)
    cache = session(table_name)
    response = cache.get(url, stream=True)
    assert cache.cache.stats["oversize"] == 1
    assert stored_responses(ddb, table_name) == []
    response.encoding = "latin-1"  # every byte a character
    assert response.text.encode("latin-1") == body_of(BOUND + 1)  # content, then text
    assert response.raw.closed  # passes through to the origin's own response


def test_the_raw_stream_of_an_oversize_body_gives_it_whole(
    table_name: str, origin: OriginServer
) -> None:
    url = serve_gzipped(origin, "/raw", 3 * BOUND)
    response = session(table_name).get(url, stream=True)
    first = response.raw.read(10)
    rest = response.raw.read()
    assert first + rest == body_of(3 * BOUND)
    assert response.raw.read() == b""
    response.close()  # releases the connection as requests does


def test_a_content_length_over_the_bound_is_not_read_by_the_cache(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    body = body_of(16 * BOUND)
    url = origin.route("/declared", body, CACHEABLE)
    cache = session(table_name)
    tracemalloc.start()
    try:
        response = cache.get(url, stream=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < BOUND / 2  # not even the bound's worth read
    assert cache.cache.stats["oversize"] == 1
    assert not isinstance(response.raw, Replay)  # the origin's own stream, untouched
    assert response.headers["Content-Length"] == str(len(body))
    assert response.content == body
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
    assert isinstance(cache.get(large_url, stream=True), requests.Response)
