"""``DynamoDbCache(connection=...)`` takes what requests-cache's own ``connection`` takes (a
boto3 DynamoDB resource) and more: a client, a resource, a ``Table``, a resource's client, a
boto3 ``Session``. Anything else, another service's client or resource included, is a
``TypeError`` at construction, not a cache whose every call fails and is counted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from lambda_http_cache import DynamoDbCache
from requests_cache import CachedSession

from scripts.local_servers import OriginServer
from tests.helpers import PATIENT, scan_all

BODY = '{"price": 1.5, "qty": [1, 2]}'

# How a user builds each kind; the endpoint is the local server's (AWS_ENDPOINT_URL_DYNAMODB,
# as the table_name fixture sets it), as in Lambda it is the region's.
ACCEPTED: dict[str, Callable[[str], Any]] = {
    "client": lambda name: boto3.client("dynamodb"),
    "resource": lambda name: boto3.resource("dynamodb"),
    "table": lambda name: boto3.resource("dynamodb").Table(name),
    "resource's client": lambda name: boto3.resource("dynamodb").meta.client,
    "session": lambda name: boto3.Session(),
}


def _backend(table_name: str, connection: Any) -> DynamoDbCache:
    # No memory tier: the second request is answered by the table itself. The config is
    # for a client the cache makes (from a Session).
    return DynamoDbCache(
        table_name,
        connection=connection,
        create_table=False,
        memory_cache_bytes=0,
        config=PATIENT,
    )


@pytest.mark.parametrize("make", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_each_kind_of_connection_stores_and_hits(
    table_name: str, origin: OriginServer, ddb: Any, make: Callable[[str], Any]
) -> None:
    connection = make(table_name)
    url = origin.route("/connection", BODY, {"Content-Type": "application/json"})
    writer = _backend(table_name, connection)
    first = CachedSession(backend=writer, expire_after=60).get(url)
    reader = _backend(table_name, connection)
    second = CachedSession(backend=reader, expire_after=60).get(url)

    assert not first.from_cache
    assert second.from_cache
    assert second.content == BODY.encode()
    assert origin.hits["/connection"] == 1
    assert writer.stats["errors"] == reader.stats["errors"] == 0
    assert writer.stats["bypassed"] == reader.stats["bypassed"] == 0
    # Typed as the library writes it, not wrapped once more by a resource's serializer.
    (item,) = scan_all(ddb, table_name)
    assert set(item["key"]) == {"S"}
    assert item["url"] == {"S": url}


def test_the_users_resource_keeps_its_python_values(table_name: str, origin: OriginServer) -> None:
    """The cache speaks typed values through its own copy of the resource's client; the
    resource (and its client, shared by its tables) still speaks Python values."""
    resource = boto3.resource("dynamodb")
    url = origin.route("/resource", BODY)
    backend = _backend(table_name, resource)
    CachedSession(backend=backend, expire_after=60).get(url)

    (item,) = resource.Table(table_name).scan()["Items"]
    assert isinstance(item["key"], str)
    assert item["url"] == url
    assert backend.table.client is not resource.meta.client
    assert backend.stats["errors"] == 0


def test_a_client_is_used_as_it_is(table_name: str) -> None:
    client = boto3.client("dynamodb", config=PATIENT)
    assert _backend(table_name, client).table.client is client


REJECTED: dict[str, tuple[Callable[[], Any], str]] = {
    "s3 client": (lambda: boto3.client("s3"), "not a s3 client"),
    "s3 resource": (lambda: boto3.resource("s3"), "not a s3 resource"),
    "streams client": (lambda: boto3.client("dynamodbstreams"), "not a dynamodbstreams client"),
    "table name": (lambda: "http_cache", "not str"),
    "boto3 module": (lambda: boto3, "not module"),
}


@pytest.mark.parametrize("case", REJECTED.values(), ids=REJECTED.keys())
def test_anything_else_is_a_type_error_at_construction(
    table_name: str, case: tuple[Callable[[], Any], str]
) -> None:
    make, what = case
    with pytest.raises(TypeError) as raised:
        DynamoDbCache(table_name, connection=make(), create_table=False)
    message = str(raised.value)
    assert message.startswith("connection must be a boto3 DynamoDB client, resource or Table")
    assert what in message


def test_session_keywords_belong_to_the_session(table_name: str) -> None:
    with pytest.raises(TypeError, match="connection is a boto3 Session: give profile_name"):
        DynamoDbCache(table_name, connection=boto3.Session(), profile_name="other")
