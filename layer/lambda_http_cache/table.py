"""The cache table: the few DynamoDB data-plane calls the cache makes, on a low-level client.

Building a :class:`CacheTable` makes no network call. The control plane (CreateTable,
DescribeTable, UpdateTimeToLive) is touched only when ``create_table`` is on and an
operation finds the table missing: provisioning belongs to CDK or CloudFormation.
"""

from __future__ import annotations

import copy
import inspect
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import boto3
from boto3.resources.base import ServiceResource
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from .config import DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_ATTEMPTS, DEFAULT_READ_TIMEOUT
from .item import Item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger(__name__)

# boto3.Session keywords that requests-cache's DynamoDbCache forwards; the rest go to the client.
SESSION_KWARGS = frozenset(inspect.signature(boto3.Session.__init__).parameters) - {"self"}
CLIENT_KWARGS = frozenset(
    {"endpoint_url", "config", "verify", "use_ssl", "api_version", "region_name"}
)
# What boto3 registers on a DynamoDB resource's client (boto3/dynamodb/transform.py): Python
# values in, Python values out. The cache speaks typed attribute values, which these handlers
# would wrap once more ({"S": k} sent as {"M": {"S": {"S": k}}}) and unwrap in answers.
HIGH_LEVEL_HANDLERS = (
    ("provide-client-params.dynamodb", "dynamodb-create-params-copy"),
    ("before-parameter-build.dynamodb", "dynamodb-condition-expression"),
    ("before-parameter-build.dynamodb", "dynamodb-attr-value-input"),
    ("after-call.dynamodb", "dynamodb-attr-value-output"),
)
CONNECTION_KINDS = (
    "a boto3 DynamoDB client, resource or Table (boto3.client('dynamodb'), "
    "boto3.resource('dynamodb'), resource.Table(name)) or a boto3 Session"
)
BATCH_WRITE_LIMIT = 25
BATCH_WRITE_ATTEMPTS = 8  # times a batch is sent before what is left unprocessed is an error


def bounded_config(
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> Config:
    """Short timeouts and no retries: a slow table must cost a bounded delay, not minutes
    (botocore's defaults for DynamoDB are 60 s timeouts and ten retries)."""
    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
    )


def make_client(
    connection: Any = None,
    *,
    config: Config | None = None,
    **kwargs: Any,
) -> DynamoDBClient:
    """A low-level DynamoDB client: the one ``connection`` stands for (see
    :func:`connection_client`), or a new one from boto3 session/client keywords, bounded by
    :func:`bounded_config` unless ``config`` says otherwise. The endpoint comes from boto3's own
    settings (``AWS_ENDPOINT_URL_DYNAMODB``) unless ``endpoint_url`` is given. A boto3
    ``Session`` as ``connection`` makes the new client from that session."""
    config = config or bounded_config()
    session_kwargs = {k: v for k, v in kwargs.items() if k in SESSION_KWARGS}
    client_kwargs = {k: v for k, v in kwargs.items() if k in CLIENT_KWARGS - {"region_name"}}
    if isinstance(connection, boto3.Session):
        # The session's own credentials and profile; only the region may be given again.
        if set(session_kwargs) - {"region_name"}:
            raise TypeError(
                "connection is a boto3 Session: give "
                f"{', '.join(sorted(set(session_kwargs) - {'region_name'}))} to the Session"
            )
        if "region_name" in session_kwargs:
            client_kwargs["region_name"] = session_kwargs["region_name"]
        elif connection.region_name is None:
            client_kwargs.update(region_fallback())
        return connection.client("dynamodb", config=config, **client_kwargs)
    if connection is not None:
        return connection_client(connection)
    if "region_name" not in session_kwargs:
        client_kwargs.update(region_fallback())
    if session_kwargs:
        return boto3.Session(**session_kwargs).client("dynamodb", config=config, **client_kwargs)
    return boto3.client("dynamodb", config=config, **client_kwargs)


def connection_client(connection: Any) -> DynamoDBClient:
    """The low-level client behind a DynamoDB client, resource or ``Table``, as the table
    needs it: without the typing a resource adds to its client; a :class:`TypeError` for
    anything else (another service's client or resource too), before any call is made.

    A client is used as it is. A resource's client (``resource.meta.client``, shared by its
    tables) carries boto3's high-level handlers, which would turn every typed attribute value
    the cache sends into a map of it: every call would fail ("Type mismatch for key"). The
    cache uses a copy of that client without them: same credentials, endpoint, settings and
    connection pool; the resource itself is left as it was."""
    client = connection.meta.client if isinstance(connection, ServiceResource) else connection
    if not isinstance(client, BaseClient):
        raise TypeError(
            f"connection must be {CONNECTION_KINDS}, not {type(connection).__qualname__}"
        )
    service = client.meta.service_model.service_name
    if service != "dynamodb":
        kind = "resource" if client is not connection else "client"
        raise TypeError(f"connection must be {CONNECTION_KINDS}, not a {service} {kind}")
    if client is connection and not has_high_level_handlers(client):
        return client  # type: ignore[no-any-return]
    return without_high_level_handlers(client)


def has_high_level_handlers(client: BaseClient) -> bool:
    """Whether ``client`` carries boto3's resource-level handlers (a resource's client passed
    as a client). botocore keeps the handlers' ids in its emitter."""
    emitter = getattr(client.meta.events, "_emitter", client.meta.events)
    ids = getattr(emitter, "_unique_id_handlers", None) or {}
    return any(unique_id in ids for _, unique_id in HIGH_LEVEL_HANDLERS)


def without_high_level_handlers(client: BaseClient) -> DynamoDBClient:
    """A copy of ``client`` sharing everything (credentials, endpoint, connection pool,
    settings) but its event handlers, from which boto3's resource-level ones are removed.
    botocore gives every client its own copy of its session's handlers the same way."""
    events = copy.copy(client.meta.events)
    for event_name, unique_id in HIGH_LEVEL_HANDLERS:
        events.unregister(event_name, unique_id=unique_id)
    # Not copy.copy(client): botocore's client answers unknown attributes through its own
    # meta, which a half-built copy does not have yet.
    low_level = object.__new__(type(client))
    low_level.__dict__.update(vars(client))
    low_level.meta = copy.copy(client.meta)
    low_level.meta.events = events
    return low_level  # type: ignore[return-value]


class CacheTable:
    """Get, put, delete and scan items of one table."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        create_table: bool = False,
        ttl: bool = True,
        consistent_read: bool = False,
    ) -> None:
        self.client = client
        self.table_name = table_name
        self.create_table = create_table
        self.ttl = ttl
        self.consistent_read = consistent_read

    # Data plane ---------------------------------------------------------------------------

    def get(self, key: str, *, consistent: bool | None = None) -> dict[str, Any] | None:
        answer = self._call(
            self.client.get_item,
            TableName=self.table_name,
            Key={"key": {"S": key}},
            ConsistentRead=self.consistent_read if consistent is None else consistent,
        )
        return answer.get("Item")

    def put(self, item: Item, *, condition: str | None = None, **expression: Any) -> bool:
        """Write ``item`` (if ``condition`` holds); whether it was written. A failed condition
        is an answer, False; any other failure raises."""
        kwargs: dict[str, Any] = {"TableName": self.table_name, "Item": item}
        if condition:
            kwargs["ConditionExpression"] = condition
            kwargs.update(expression)
        try:
            self._call(self.client.put_item, **kwargs)
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def put_replacing(
        self, item: Item, *, condition: str, **expression: Any
    ) -> dict[str, Any] | None:
        """Write ``item`` if ``condition`` holds; the item it replaced (an empty dict if
        none), or None if the condition failed."""
        try:
            answer = self._call(
                self.client.put_item,
                TableName=self.table_name,
                Item=item,
                ConditionExpression=condition,
                ReturnValues="ALL_OLD",
                **expression,
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return None
            raise
        return dict(answer.get("Attributes") or {})

    def delete(self, key: str) -> bool:
        """Delete one item; whether it existed."""
        answer = self._call(
            self.client.delete_item,
            TableName=self.table_name,
            Key={"key": {"S": key}},
            ReturnValues="ALL_OLD",
        )
        return "Attributes" in answer

    def scan(
        self,
        *,
        prefix: str | None = None,
        projection: Iterable[str] | None = None,
        count_only: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Every page of a full scan (not only the first megabyte), optionally only keys
        starting with ``prefix``; yields items, or one ``{"Count": n}`` per page."""
        kwargs: dict[str, Any] = {"TableName": self.table_name}
        names: dict[str, str] = {}
        if prefix is not None:
            kwargs["FilterExpression"] = "begins_with(#k, :prefix)"
            kwargs["ExpressionAttributeValues"] = {":prefix": {"S": prefix}}
            names["#k"] = "key"
        if count_only:
            kwargs["Select"] = "COUNT"
        elif projection:
            placeholders = []
            for index, attribute in enumerate(projection):
                names[f"#p{index}"] = attribute
                placeholders.append(f"#p{index}")
            kwargs["ProjectionExpression"] = ", ".join(placeholders)
        if names:
            kwargs["ExpressionAttributeNames"] = names
        # botocore's paginator follows LastEvaluatedKey. A table missing with create_table on
        # is created, as _call does for every other call; there is nothing in it to scan.
        try:
            for page in self.client.get_paginator("scan").paginate(**kwargs):
                if count_only:
                    yield {"Count": page.get("Count", 0)}
                else:
                    yield from page.get("Items", [])
        except ClientError as error:
            if not self.create_table or error_code(error) != "ResourceNotFoundException":
                raise
            self.ensure_exists()

    def delete_many(self, keys: Iterable[str]) -> None:
        """Delete keys in batches of 25, each key once (DynamoDB refuses a batch naming a key
        twice), sending again after a pause what DynamoDB leaves unprocessed.

        Not boto3's BatchWriter: it sends unprocessed items again at once and without limit,
        so bounding it takes more code than this loop."""
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), BATCH_WRITE_LIMIT):
            self._delete_batch(unique[start : start + BATCH_WRITE_LIMIT])

    def _delete_batch(self, keys: list[str]) -> None:
        requests: dict[str, Any] = {
            self.table_name: [{"DeleteRequest": {"Key": {"key": {"S": k}}}} for k in keys]
        }
        for attempt in range(BATCH_WRITE_ATTEMPTS):
            answer = self._call(self.client.batch_write_item, RequestItems=requests)
            requests = dict(answer.get("UnprocessedItems") or {})
            if not requests:
                return
            time.sleep(min(0.05 * 2**attempt, 2.0))
        raise RuntimeError(f"DynamoDB left {len(requests[self.table_name])} deletes unprocessed")

    # Control plane, only on demand ----------------------------------------------------------

    def _call(self, operation: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
        try:
            return operation(**kwargs)  # type: ignore[no-any-return]
        except ClientError as error:
            if not self.create_table or error_code(error) != "ResourceNotFoundException":
                raise
        self.ensure_exists()
        return operation(**kwargs)  # type: ignore[no-any-return]

    def ensure_exists(self) -> None:
        """Create the table with the schema the CDK construct declares, and enable TTL."""
        logger.info("Creating DynamoDB table %s", self.table_name)
        try:
            self.client.create_table(
                TableName=self.table_name,
                AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
        except ClientError as error:
            if error_code(error) != "ResourceInUseException":
                raise
        self.client.get_waiter("table_exists").wait(
            TableName=self.table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        if self.ttl:
            try:
                self.client.update_time_to_live(
                    TableName=self.table_name,
                    TimeToLiveSpecification={"AttributeName": "ttl", "Enabled": True},
                )
            except ClientError as error:
                # Already enabled, or a server without the TTL API: expiry is still enforced
                # by the library on every read.
                logger.info("TTL not enabled on %s: %s", self.table_name, error)


def region_fallback() -> dict[str, str]:
    """``region_name`` from ``AWS_REGION`` when ``AWS_DEFAULT_REGION`` is not set: botocore
    reads only the latter, Lambda sets both, and outside Lambda either is a user's way to say
    the region."""
    region = os.environ.get("AWS_REGION")
    if region and not os.environ.get("AWS_DEFAULT_REGION"):
        return {"region_name": region}
    return {}


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def attribute(item: Mapping[str, Any], name: str) -> Any:
    """The plain value of a string attribute, or None."""
    value = item.get(name)
    return value.get("S") if isinstance(value, dict) else None
