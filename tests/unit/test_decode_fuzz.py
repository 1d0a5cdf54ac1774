"""Decoding is valid by construction: whatever an item holds, decode_entry and decode_alias
give values every reader can use as they are (times with a zone and in range, finite numbers,
strings, URLs the parser takes), or raise ItemError; nothing else."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lambda_http_cache.bounded import footprint
from lambda_http_cache.item import (
    EARLIEST_TIME,
    LATEST_TIME,
    MAX_SECONDS,
    Alias,
    Entry,
    Hop,
    ItemError,
    decode_alias,
    decode_entry,
    encode_entry,
    encode_lease,
    encode_redirect,
    encode_tombstone,
)
from lambda_http_cache.memory import MemoryTier
from requests.structures import CaseInsensitiveDict

from tests.item_strategies import Mutation, mutated, mutations

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
ENTRY = Entry(
    content=b'{"id": 1}' * 200,
    status=200,
    reason="OK",
    url="http://origin.test/final",
    headers=(("Content-Type", "application/json"), ("ETag", '"v1"'), ("Vary", "Accept")),
    created=NOW,
    expires=NOW + timedelta(seconds=300),
    elapsed=0.25,
    encoding="utf-8",
    request_method="GET",
    request_url="http://origin.test/start",
    request_headers=(("accept", "application/json"),),
    history=(
        Hop("GET", "http://origin.test/start", 301, "Moved", (("Location", "/middle"),)),
        Hop("GET", "http://origin.test/middle", 302, "Found", (("Location", "/final"),)),
    ),
    age=3.0,
    next=("GET", "http://origin.test/next"),
)
ITEMS = {
    "response": encode_entry("ns:GET http://origin.test/final", "ns", ENTRY),
    "alias": encode_redirect(
        "ns:GET http://origin.test/start",
        "ns",
        Alias("GET http://origin.test/final", NOW, 1),
    ),
    "lease": encode_lease("ns:k~lease", "ns", NOW, NOW + timedelta(seconds=5), "other"),
    "tombstone": encode_tombstone("ns:k", "ns", NOW),
}


def valid_time(value: Any) -> None:
    assert isinstance(value, datetime) and value.utcoffset() == timedelta(0)
    assert EARLIEST_TIME <= value < LATEST_TIME
    value + timedelta(seconds=2**31)  # no delta this package adds can overflow it


def valid_headers(headers: Any) -> None:
    assert isinstance(headers, tuple)
    assert all(isinstance(n, str) and isinstance(v, str) for n, v in headers)


def valid_entry(entry: Entry) -> None:
    assert isinstance(entry.content, bytes)
    for status in (entry.status, *(hop.status for hop in entry.history)):
        assert type(status) is int and 100 <= status <= 999
    valid_time(entry.created)
    if entry.expires is not None:
        valid_time(entry.expires)
    for seconds in (entry.elapsed, entry.age):
        assert math.isfinite(seconds) and 0 <= seconds <= MAX_SECONDS
    for text in (entry.reason, entry.url, entry.request_method, entry.request_url):
        assert isinstance(text, str)
    assert entry.encoding is None or isinstance(entry.encoding, str)
    valid_headers(entry.headers)
    valid_headers(entry.request_headers)
    for hop in entry.history:
        assert all(isinstance(text, str) for text in (hop.method, hop.url, hop.reason))
        valid_headers(hop.headers)
    assert entry.next is None or all(isinstance(text, str) for text in entry.next)
    # What readers do with it: a response, its text, its freshness, the memory tier.
    response = entry.to_response("key")
    response.text  # noqa: B018
    list(response.iter_content(100, decode_unicode=True))
    response.is_expired  # noqa: B018
    CaseInsensitiveDict(response.headers).get("Cache-Control")
    MemoryTier(10**9).put("key", entry)
    assert footprint(entry) > len(entry.content)


def valid_alias(alias: Alias) -> None:
    assert isinstance(alias.target, str) and alias.target
    assert type(alias.hop) is int and alias.hop >= 0
    if alias.expires is not None:
        valid_time(alias.expires)
        alias.is_expired(datetime.now(UTC))


@settings(max_examples=500, deadline=None)
@given(st.lists(mutations(ITEMS), min_size=1, max_size=3))
def test_a_mutated_item_decodes_to_valid_values_or_is_an_item_error(
    changes: list[Mutation],
) -> None:
    items = mutated(ITEMS, changes)
    for item in items.values():
        try:
            entry = decode_entry(item)
        except ItemError:
            pass
        else:
            valid_entry(entry)
        try:
            metadata = decode_entry(item, with_body=False)
        except ItemError:
            pass
        else:
            valid_entry(metadata)
        try:
            alias = decode_alias(item)
        except ItemError:
            pass
        else:
            valid_alias(alias)


def test_the_unmutated_items_are_valid() -> None:
    valid_entry(decode_entry(ITEMS["response"]))
    valid_alias(decode_alias(ITEMS["alias"]))
