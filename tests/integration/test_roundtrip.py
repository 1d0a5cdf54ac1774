"""What you read is what the origin sent: numbers, layouts, encodings and binary bodies come
back byte for byte from the DynamoDB server, with the same headers."""

from __future__ import annotations

import gzip
import json
import time
from datetime import datetime
from typing import Any

import pytest
import requests

from scripts.local_servers import OriginServer
from tests.helpers import cached_session, scan_all

JSON = {"Content-Type": "application/json"}

NUMBER_BODIES = {
    "int": '{"a": 1}',
    "list": "[1, 2]",
    "float": '{"price": 1.5}',
    "negative": '{"delta": -42, "t": -0.25}',
    "2**63": '{"big": 9223372036854775808}',
    "30 digits": '{"precise": 1.23456789012345678901234567890}',
    "nested": '{"a": [1, {"b": [2.5, -3, {"c": 4e10}]}], "d": {"e": {"f": 0}}}',
}

BODIES: dict[str, tuple[bytes, dict[str, str]]] = {
    "compact json": (b'{"b":"z","a":"y","n":[1,2,3]}', JSON),
    "pretty json": (json.dumps({"b": "z", "a": [1, 2]}, indent=4).encode(), JSON),
    "raw utf-8 json": ('{"name":"Zoë","city":"Kraków","emoji":"😀"}'.encode(), JSON),
    "escaped json": (b'{"name":"Zo\\u00eb","emoji":"\\ud83d\\ude00"}', JSON),
    "html": (
        b"<!doctype html><html><body><p>caf\xc3\xa9 &amp; 1 < 2</p></body></html>",
        {"Content-Type": "text/html; charset=utf-8"},
    ),
    "binary": (bytes(range(256)) * 4, {"Content-Type": "application/octet-stream"}),
    "empty": (b"", {"Content-Type": "text/plain"}),
    "large json": (json.dumps([{"id": i, "price": i * 1.25} for i in range(3000)]).encode(), JSON),
}


def _fetch_twice(table_name: str, url: str) -> tuple[Any, Any]:
    """Fetch in one container, then again in a new one: the second answer comes from the
    table, not from the first container's memory."""
    first = cached_session(table_name).get(url)
    second = cached_session(table_name).get(url)
    return first, second


@pytest.mark.parametrize("body", NUMBER_BODIES.values(), ids=NUMBER_BODIES.keys())
def test_json_numbers_are_hits_and_byte_identical(
    table_name: str, origin: OriginServer, body: str
) -> None:
    url = origin.route("/numbers", body)
    first, second = _fetch_twice(table_name, url)
    assert not first.from_cache
    assert second.from_cache
    assert second.content == body.encode()
    assert second.json() == json.loads(body)
    assert origin.hits["/numbers"] == 1


@pytest.mark.parametrize("case", BODIES.values(), ids=BODIES.keys())
def test_bodies_and_headers_round_trip(
    table_name: str, origin: OriginServer, case: tuple[bytes, dict[str, str]]
) -> None:
    body, headers = case
    url = origin.route("/body", body, headers)
    first, second = _fetch_twice(table_name, url)
    assert second.from_cache
    assert second.content == body
    assert _without_age(second) == dict(first.headers)
    assert second.status_code == first.status_code
    assert second.encoding == first.encoding
    assert second.text == first.text


def test_gzip_encoded_origin_response(table_name: str, origin: OriginServer) -> None:
    body = json.dumps({"items": list(range(500))}, separators=(",", ":")).encode()
    url = origin.route(
        "/gz", gzip.compress(body), {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    )
    first, second = _fetch_twice(table_name, url)
    assert first.content == body  # requests decoded it
    assert second.from_cache
    assert second.content == body
    assert _without_age(second) == dict(first.headers)


def _without_age(hit: requests.Response) -> dict[str, str]:
    """A hit's headers are the origin's plus its current Age (RFC 9111, 5.1)."""
    headers = dict(hit.headers)
    assert headers.pop("Age").isdigit()
    return headers


def test_ttl_is_the_expiration_in_epoch_seconds(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    url = origin.route("/ttl", '{"a": 1}')
    response = cached_session(table_name, expire_after=120).get(url)
    (item,) = scan_all(ddb, table_name)
    assert response.expires is not None
    stored_expires = datetime.fromisoformat(item["expires"]["S"])
    assert item["ttl"] == {"N": str(int(stored_expires.timestamp()))}
    # requests-cache recomputes the returned response's expiry a moment later
    assert abs((stored_expires - response.expires).total_seconds()) < 2
    assert abs((stored_expires - response.created_at).total_seconds() - 120) < 2


def test_no_ttl_when_the_response_never_expires(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    url = origin.route("/forever", '{"a": 1}')
    cached_session(table_name, expire_after=-1).get(url)
    (item,) = scan_all(ddb, table_name)
    assert "ttl" not in item
    assert "expires" not in item


def test_ttl_follows_cache_control_max_age(table_name: str, origin: OriginServer, ddb: Any) -> None:
    url = origin.route("/cc", '{"a": 1}', {**JSON, "Cache-Control": "max-age=60"})
    response = cached_session(table_name, cache_control=True, expire_after=3600).get(url)
    (item,) = scan_all(ddb, table_name)
    assert abs(int(item["ttl"]["N"]) - int(response.created_at.timestamp()) - 60) <= 1


def test_items_are_readable_at_rest(table_name: str, origin: OriginServer, ddb: Any) -> None:
    """Metadata is plain typed attributes, as the console and `aws dynamodb get-item` show."""
    url = origin.route("/readable?q=1", '{"a": 1}')
    cached_session(table_name, namespace="svc").get(url)
    (item,) = scan_all(ddb, table_name)
    assert item["key"]["S"].startswith("svc:")
    assert item["namespace"] == {"S": "svc"}
    assert item["method"] == {"S": "GET"}
    assert item["url"] == {"S": url}
    assert item["status"] == {"N": "200"}
    assert item["headers"]["M"]["Content-Type"] == {"S": "application/json"}
    assert item["body"] == {"B": b'{"a": 1}'}
    assert item["body_encoding"] == {"S": "identity"}
    assert set(item) >= {"created", "expires", "ttl", "v", "kind", "request", "body_size"}


def test_an_expired_item_still_in_the_table_is_not_served(
    table_name: str, origin: OriginServer
) -> None:
    """DynamoDB deletes expired items late: the library checks expiry itself."""
    url = origin.route("/stale", '{"a": 1}')
    session = cached_session(table_name, expire_after=1)
    session.get(url)
    session.settings.expire_after = 300
    time.sleep(1.1)
    again = session.get(url)
    assert not again.from_cache
    assert origin.hits["/stale"] == 2


def test_drop_in_for_requests_cache_cached_session(table_name: str, origin: OriginServer) -> None:
    """As requests-cache's documentation shows it, with this backend in place of its own."""
    from lambda_http_cache import DynamoDbCache
    from requests_cache import CachedSession

    url = origin.route("/drop-in", '{"price": 1.5, "qty": [1, 2]}')
    first = CachedSession(backend=DynamoDbCache(table_name), expire_after=60).get(url)
    second = CachedSession(backend=DynamoDbCache(table_name), expire_after=60).get(url)
    assert not first.from_cache
    assert second.from_cache
    assert second.content == b'{"price": 1.5, "qty": [1, 2]}'


def test_no_ttl_attribute_when_ttl_is_off(table_name: str, origin: OriginServer, ddb: Any) -> None:
    url = origin.route("/no-ttl", '{"a": 1}')
    cached_session(table_name, ttl=False, expire_after=60).get(url)
    (item,) = scan_all(ddb, table_name)
    assert "expires" in item
    assert "ttl" not in item


def test_delete_takes_a_key_given_twice(table_name: str, origin: OriginServer, ddb: Any) -> None:
    """requests-cache's delete() passes its keys on as given; DynamoDB refuses a batch that
    names a key twice, which would leave every key of that batch in place."""
    session = cached_session(table_name)
    first = session.get(origin.route("/delete/1", "{}")).cache_key
    second = session.get(origin.route("/delete/2", "{}")).cache_key
    assert len(scan_all(ddb, table_name)) == 2
    session.cache.delete(first, first, second)
    assert scan_all(ddb, table_name) == []
    assert session.cache.stats["errors"] == 0
