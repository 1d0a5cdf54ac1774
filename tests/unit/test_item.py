"""The item format: entries, aliases, tombstones and leases <-> DynamoDB items.

Pure: items are built and read as plain dicts, the way the table hands them over."""

from __future__ import annotations

import copy
import random
import tracemalloc
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from lambda_http_cache.item import (
    BODY_IDENTITY,
    BODY_ZLIB,
    COMPRESS_MIN_BYTES,
    KIND_LEASE,
    KIND_REDIRECT,
    KIND_RESPONSE,
    KIND_TOMBSTONE,
    MAX_CACHE_KEY_CHARS,
    TOMBSTONE_SECONDS,
    Alias,
    Entry,
    Hop,
    Item,
    ItemError,
    decode_alias,
    decode_body,
    decode_entry,
    encode_entry,
    encode_lease,
    encode_redirect,
    encode_tombstone,
    iso_time,
    item_kind,
    item_size,
    key_fingerprint,
)

FINGERPRINT = "0123456789abcdef" * 2
CREATED = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _entry(content: bytes = b'{"id": 1}', **changes: Any) -> Entry:
    entry = Entry(
        content=content,
        status=200,
        reason="OK",
        url="http://origin.test/items?page=2",
        headers=(("Content-Type", "application/json"), ("ETag", '"v1"')),
        created=CREATED,
        expires=CREATED + timedelta(seconds=300),
        elapsed=0.012345,
        encoding="utf-8",
        request_method="GET",
        request_url="http://origin.test/items?page=2",
        request_headers=(("Accept", "application/json"),),
    )
    return entry._replace(**changes)


def _random_bytes(size: int) -> bytes:
    return random.Random(size).randbytes(size)


def _round_trip(entry: Entry, key: str = "ns:GET http://origin.test/items") -> Entry:
    return decode_entry(encode_entry(key, "ns", entry))


# Round trip ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "stored_as"),
    [
        (b"", BODY_IDENTITY),
        (b'{"id": 1}', BODY_IDENTITY),
        (bytes(range(256)), BODY_IDENTITY),  # every byte value
        (_random_bytes(COMPRESS_MIN_BYTES), BODY_IDENTITY),  # zlib tried, saves nothing
        (_random_bytes(64 * 1024), BODY_IDENTITY),
        (b"a" * (COMPRESS_MIN_BYTES - 1), BODY_IDENTITY),  # below the threshold
        (b'{"name": "widget", "tags": []}' * 2000, BODY_ZLIB),
        (b"\x00\xff\r\n" * 50_000, BODY_ZLIB),  # binary, with bytes text codecs would mangle
    ],
    ids=[
        "empty",
        "small",
        "all-bytes",
        "random-1k",
        "random-64k",
        "under-threshold",
        "json",
        "binary",
    ],
)
def test_a_body_comes_back_byte_for_byte(content: bytes, stored_as: str) -> None:
    item = encode_entry("ns:key", "ns", _entry(content))
    assert item["body_encoding"] == {"S": stored_as}
    assert item["body_size"] == {"N": str(len(content))}
    if stored_as == BODY_ZLIB:
        assert len(item["body"]["B"]) <= len(content) * 7 / 8  # it saved at least an eighth
    elif content:
        assert item["body"]["B"] == content
    else:
        assert "body" not in item  # DynamoDB refuses an empty binary attribute
    decoded = decode_entry(item)
    assert type(decoded.content) is bytes
    assert decoded.content == content


def test_every_field_of_an_entry_survives_the_round_trip() -> None:
    entry = _entry(
        b"moved",
        status=301,
        reason="Moved Permanently",
        history=(
            Hop("GET", "http://origin.test/a", 302, "Found", (("Location", "/b"),)),
            Hop("GET", "http://origin.test/b", 307, "Temporary Redirect", ()),
        ),
        fingerprint=FINGERPRINT,
        age=12.5,
        next=("GET", "http://origin.test/c"),
    )
    assert _round_trip(entry, key=f"ns:GET http://origin.test/a-{FINGERPRINT}") == entry


def test_optional_fields_left_out_stay_out() -> None:
    entry = _entry(expires=None, encoding=None)
    item = encode_entry("ns:key", "ns", entry)
    assert not {"expires", "ttl", "encoding", "age", "next", "history"} & set(item)
    decoded = decode_entry(item)
    assert (decoded.expires, decoded.encoding, decoded.age, decoded.next) == (None, None, 0, None)
    assert decoded.history == () and decoded.fingerprint is None


def test_the_ttl_attribute_is_the_expiry_in_epoch_seconds_unless_turned_off() -> None:
    entry = _entry()
    assert entry.expires is not None
    item = encode_entry("ns:key", "ns", entry)
    assert item["ttl"] == {"N": str(int(entry.expires.timestamp()))}
    assert item["kind"] == {"S": KIND_RESPONSE} and item["namespace"] == {"S": "ns"}
    assert "ttl" not in encode_entry("ns:key", "ns", entry, ttl=False)


def test_the_fingerprint_of_a_decoded_entry_comes_from_its_key() -> None:
    item = encode_entry(f"ns:GET http://o/-{FINGERPRINT}", "ns", _entry(fingerprint=None))
    assert decode_entry(item).fingerprint == FINGERPRINT
    item = encode_entry("ns:GET http://o/", "ns", _entry(fingerprint=FINGERPRINT))
    assert decode_entry(item).fingerprint is None  # nothing in the item can claim one


def test_metadata_only_decoding_leaves_the_body_alone() -> None:
    item = encode_entry("ns:key", "ns", _entry(b"x" * 5000))
    item["body"] = {"B": b"not zlib at all"}
    entry = decode_entry(item, with_body=False)
    assert entry.content == b"" and entry.status == 200
    with pytest.raises(ItemError):
        decode_entry(item)


def test_a_body_stored_outside_the_item_must_be_fetched_and_passed_in() -> None:
    content = b"large body " * 10_000
    item = encode_entry("ns:key", "ns", _entry(content))
    stored = item.pop("body")["B"]
    item["body_location"] = {"S": "s3://bucket/lambda-http-cache/abc"}
    with pytest.raises(ItemError, match="not fetched"):
        decode_entry(item)
    assert decode_entry(item, stored).content == content


# Bounded decoding ------------------------------------------------------------------------


def test_a_declared_size_over_the_limit_is_refused_before_any_inflating() -> None:
    content = b"z" * 100_000
    item = encode_entry("ns:key", "ns", _entry(content))
    assert decode_entry(item, max_body_bytes=100_000).content == content
    with pytest.raises(ItemError, match="over the limit"):
        decode_entry(item, max_body_bytes=99_999)


def test_a_compressed_body_never_inflates_past_its_declared_size() -> None:
    bomb = zlib.compress(b"\x00" * 5_000_000, 9)  # 5 MB from about 5 KB
    item = encode_entry("ns:key", "ns", _entry(b"small"))
    item["body"] = {"B": bomb}
    item["body_encoding"] = {"S": BODY_ZLIB}
    item["body_size"] = {"N": "100"}
    tracemalloc.start()
    try:
        with pytest.raises(ItemError, match="inflates past"):
            decode_entry(item)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # inflating stopped at the declared size, not at 5 MB


@pytest.mark.parametrize(
    ("stored", "encoding", "size", "message"),
    [
        (b"\x78\x9c garbage", BODY_ZLIB, 10, "unreadable"),
        (zlib.compress(b"x" * 1000)[:-6], BODY_ZLIB, 1000, "truncated"),
        (zlib.compress(b"x" * 1000), BODY_ZLIB, 1001, "item says 1001"),
        (b"abc", BODY_IDENTITY, 4, "item says 4"),
        (b"abc", "gzip", 3, "unknown body encoding"),
        (b"abc", BODY_IDENTITY, -1, "over the limit"),
    ],
    ids=["garbage", "truncated", "short-zlib", "short-identity", "unknown-encoding", "negative"],
)
def test_an_unreadable_body_is_an_item_error(
    stored: bytes, encoding: str, size: int, message: str
) -> None:
    with pytest.raises(ItemError, match=message):
        decode_body(stored, encoding, size)


def _set(name: str, value: Any) -> Callable[[Item], None]:
    return lambda item: item.__setitem__(name, value)


def _drop(name: str) -> Callable[[Item], None]:
    return lambda item: item.pop(name)


@pytest.mark.parametrize(
    "corrupt",
    [
        _set("v", {"N": "2"}),  # a newer format
        _drop("v"),
        _set("kind", {"S": "something"}),
        _set("kind", {"S": KIND_TOMBSTONE}),
        _drop("status"),
        _set("status", {"S": "200"}),  # wrong type
        _set("status", {"N": "two hundred"}),
        _set("created", {"S": "2025-03-01T12:00:00"}),  # no time zone
        _set("created", {"S": "yesterday"}),
        _set("expires", {"S": "never"}),
        _set("headers", {"M": {"Content-Type": {"N": "1"}}}),
        _set("headers", {"S": "Content-Type: text/plain"}),
        _set("request", {"S": "GET /"}),
        _set("history", {"L": [{"S": "hop"}]}),
        _set("body_size", {"N": "lots"}),
        _set("body", {"S": "text, not binary"}),
    ],
)
def test_a_corrupt_or_foreign_item_is_an_item_error(corrupt: Callable[[Item], None]) -> None:
    item = encode_entry("ns:key", "ns", _entry(history=(Hop("GET", "http://o/", 302, "", ()),)))
    decode_entry(copy.deepcopy(item))  # the item itself is fine
    corrupt(item)
    with pytest.raises(ItemError):
        decode_entry(item)


def test_item_errors_are_value_errors() -> None:
    assert issubclass(ItemError, ValueError)


# Aliases, tombstones, leases ------------------------------------------------------------


def test_an_alias_round_trips_and_expires_with_its_target() -> None:
    expires = CREATED + timedelta(seconds=60)
    alias = Alias(target="GET http://o/final", expires=expires, hop=2)
    item = encode_redirect("ns:GET http://o/start", "ns", alias)
    assert item_kind(item) == KIND_REDIRECT
    assert item["ttl"] == {"N": str(int(expires.timestamp()))}
    assert decode_alias(item) == alias
    assert not alias.is_expired(expires - timedelta(microseconds=1))
    assert alias.is_expired(expires)
    unbounded = Alias(target="GET http://o/final", expires=None)
    item = encode_redirect("ns:GET http://o/start", "ns", unbounded)
    assert "ttl" not in item
    assert decode_alias(item) == unbounded and not unbounded.is_expired(
        datetime.max.replace(tzinfo=UTC)
    )


def test_an_alias_never_leads_into_another_credential_partition() -> None:
    other = "fedcba9876543210" * 2
    mine = f"ns:GET http://o/start-{FINGERPRINT}"
    assert decode_alias(encode_redirect(mine, "ns", Alias(f"GET http://o/end-{FINGERPRINT}", None)))
    for target in (f"GET http://o/end-{other}", "GET http://o/end"):
        with pytest.raises(ItemError, match="credential partition"):
            decode_alias(encode_redirect(mine, "ns", Alias(target, None)))
    with pytest.raises(ItemError, match="credential partition"):
        decode_alias(encode_redirect("ns:GET http://o/start", "ns", Alias(f"x-{other}", None)))


@pytest.mark.parametrize("target", ["", "k" * (MAX_CACHE_KEY_CHARS + 1)])
def test_an_alias_target_must_be_a_cache_key(target: str) -> None:
    with pytest.raises(ItemError, match="not a cache key"):
        decode_alias(encode_redirect("ns:key", "ns", Alias(target, None)))


def test_responses_and_aliases_are_not_read_as_each_other() -> None:
    response = encode_entry("ns:key", "ns", _entry())
    alias = encode_redirect("ns:key", "ns", Alias("GET http://o/", None))
    with pytest.raises(ItemError):
        decode_alias(response)
    with pytest.raises(ItemError, match="redirect"):
        decode_entry(alias)


def test_a_tombstone_is_a_miss_that_lives_a_day() -> None:
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    item = encode_tombstone("ns:GET http://o/x", "ns", now)
    assert item_kind(item) == KIND_TOMBSTONE
    assert item["created"] == {"S": "2025-03-01T12:00:00.000000+00:00"}
    assert int(item["ttl"]["N"]) == int(now.timestamp()) + TOMBSTONE_SECONDS == 1740830400 + 86400
    with pytest.raises(ItemError, match="tombstone"):
        decode_entry(item)


def test_a_lease_records_holder_and_times_to_the_millisecond() -> None:
    since = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    until = since + timedelta(seconds=2)
    item = encode_lease("ns:GET http://o/x~lease", "ns", since, until, holder="container-1")
    assert item_kind(item) == KIND_LEASE
    assert item["holder"] == {"S": "container-1"}
    assert float(item["since"]["N"]) == round(since.timestamp(), 3)
    assert float(item["until"]["N"]) == round(until.timestamp(), 3)
    assert int(item["ttl"]["N"]) == int(until.timestamp()) + 3600
    with pytest.raises(ItemError, match="lease"):
        decode_entry(item)


def test_stored_times_sort_as_text_in_time_order() -> None:
    """The conditional write that never replaces a newer response compares these as text."""
    paris = timezone(timedelta(hours=1))
    times = [
        datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC),
        datetime(2025, 3, 1, 12, 0, 0, 1, tzinfo=UTC),
        datetime(2025, 3, 1, 13, 30, 0, tzinfo=paris),  # 12:30 UTC
        datetime(2025, 3, 1, 12, 45, 0, 999999, tzinfo=UTC),
    ]
    texts = [iso_time(t) for t in times]
    assert all(len(text) == len(texts[0]) for text in texts)
    assert sorted(texts) == [iso_time(t) for t in sorted(times)]
    assert texts[2] == "2025-03-01T12:30:00.000000+00:00"


@pytest.mark.parametrize(
    ("key", "fingerprint"),
    [
        (f"ns:GET http://o/-{FINGERPRINT}", FINGERPRINT),
        (f"ns:GET http://o/?a=b-{FINGERPRINT}", FINGERPRINT),
        ("ns:GET http://o/", None),
        (f"ns:GET http://o/-{FINGERPRINT.upper()}", None),
        (f"ns:GET http://o/-{FINGERPRINT[:-1]}", None),
        (f"ns:GET http://o/-{FINGERPRINT}0", None),
        (f"-{FINGERPRINT}", None),  # nothing before it
    ],
)
def test_key_fingerprint(key: str, fingerprint: str | None) -> None:
    assert key_fingerprint(key) == fingerprint


# Entries as responses --------------------------------------------------------------------


def test_an_entry_becomes_a_new_response_with_its_age_as_of_now() -> None:
    created = datetime.now(UTC) - timedelta(seconds=30)
    entry = _entry(b"body", created=created, age=100.0, fingerprint=FINGERPRINT)
    response = entry.to_response("the-key")
    assert response.content == b"body"
    assert 130 <= int(response.headers["Age"]) <= 131
    assert response.cache_key == "the-key"
    assert response.request.credential_fingerprint == FINGERPRINT
    response.headers["X-Changed"] = "1"
    assert "X-Changed" not in entry.to_response().headers  # each hit gets its own copy


def test_history_from_a_hop_drops_the_hops_before_it() -> None:
    hops = tuple(Hop("GET", f"http://o/{n}", 302, "Found", ()) for n in range(3))
    entry = _entry(history=hops)
    assert entry.with_history_from(0) is entry
    assert entry.with_history_from(2).history == hops[2:]


# Sizes ------------------------------------------------------------------------------------


def test_item_size_follows_dynamodbs_rules() -> None:
    assert item_size({"key": {"S": "ab:c"}}) == 3 + 4
    assert item_size({"b": {"B": b"\x00" * 10}}) == 1 + 10
    assert item_size({"n": {"N": "-123.4500"}}) == 1 + 4  # 12345: 3 bytes, plus 1
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert item_size({"l": {"L": [{"N": "1"}, {"BOOL": True}]}}) == 1 + 3 + (1 + 2) + (1 + 1)


def test_item_size_of_sets_nulls_and_multibyte_text() -> None:
    assert item_size({"é": {"S": "ü€"}}) == 2 + 5  # UTF-8 bytes, not characters
    assert item_size({"z": {"NULL": True}}) == 1 + 1
    assert item_size({"ss": {"SS": ["a", "bc"]}}) == 2 + 3
    assert item_size({"bs": {"BS": [b"\x00", b"\x01\x02"]}}) == 2 + 3
    assert item_size({"ns": {"NS": ["1", "1234"]}}) == 2 + (1 + 1) + (2 + 1)
    with pytest.raises(ValueError, match="unknown attribute type"):
        item_size({"x": {"Q": "?"}})


def test_item_size_counts_the_stored_body_not_the_original() -> None:
    content = b"repetitive " * 10_000
    item = encode_entry("ns:key", "ns", _entry(content))
    metadata = {name: value for name, value in item.items() if name != "body"}
    assert item_size(item) == item_size(metadata) + len("body") + len(item["body"]["B"])
    assert item_size(item) < len(content) // 10
