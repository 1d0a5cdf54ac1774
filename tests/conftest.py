"""Shared fixtures: one moto DynamoDB server process per test session, a counting proxy in
front of it, a fresh cache table per test and a local origin.

Tests are laid out by what they need, and marked by their folder: ``tests/unit`` (pure, no
server: seconds), ``tests/integration`` (the local servers), ``tests/deploy`` (the layer build
and the CDK app: the package registries and Node). ``pytest -m unit`` runs the fast part."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.local_servers import (
    LOCAL_CREDENTIALS,
    DynamoDbProxy,
    MotoServer,
    OriginServer,
    RawOrigin,
    create_cache_table,
    dynamodb_client,
)

_table_numbers = itertools.count()
TESTS = Path(__file__).resolve().parent
LAYERS = ("unit", "integration", "deploy")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its folder's layer, so ``-m`` selects by what a test needs."""
    for item in items:
        folder = item.path.resolve().relative_to(TESTS).parts[0]
        if folder in LAYERS:
            item.add_marker(folder)


@pytest.fixture(scope="session", autouse=True)
def aws_environment() -> Iterator[None]:
    """Local credentials and region; never a real account."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in LOCAL_CREDENTIALS.items():
            patch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_LAMBDA_FUNCTION_NAME"):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(autouse=True)
def logging_as_imported() -> Iterator[None]:
    """Every test starts with the library's logger as an import leaves it (no handler,
    propagating), and the handlers a test adds to any logger go with it. A handler that joins
    a Powertools Logger (observability.join_powertools_logger), or a Powertools Logger made by
    an example, writes to that test's captured output, which no later test may inherit,
    whatever order the tests run in."""
    import logging

    def pristine() -> None:
        library = logging.getLogger("lambda_http_cache")
        library.handlers.clear()
        library.propagate = True
        library.setLevel(logging.NOTSET)

    def loggers() -> list[logging.Logger]:
        # Not the root logger: pytest's own capture handlers come and go there per phase.
        return [
            each
            for each in list(logging.Logger.manager.loggerDict.values())
            if isinstance(each, logging.Logger)
        ]

    pristine()
    saved = {id(each): list(each.handlers) for each in loggers()}
    yield
    for each in loggers():
        each.handlers[:] = saved.get(id(each), [])
    pristine()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="session")
def dynamodb_proxy(moto_server: MotoServer) -> Iterator[DynamoDbProxy]:
    with DynamoDbProxy(moto_server.endpoint) as proxy:
        yield proxy


@pytest.fixture
def proxy(dynamodb_proxy: DynamoDbProxy) -> Iterator[DynamoDbProxy]:
    """The counting proxy, with counts and faults cleared for this test."""
    dynamodb_proxy.reset()
    yield dynamodb_proxy
    dynamodb_proxy.reset()


@pytest.fixture
def ddb(moto_server: MotoServer) -> Any:
    """A plain boto3 client straight to the server (not through the proxy)."""
    return dynamodb_client(moto_server.endpoint)


@pytest.fixture
def table_name(ddb: Any, proxy: DynamoDbProxy, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new cache table; the library's endpoint (AWS_ENDPOINT_URL_DYNAMODB) is the proxy."""
    name = f"http_cache_{next(_table_numbers)}"
    create_cache_table(ddb, name)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.endpoint)
    monkeypatch.setenv("HTTP_CACHE_TABLE", name)
    proxy.reset()
    return name


@pytest.fixture
def origin() -> Iterator[OriginServer]:
    with OriginServer() as server:
        yield server


@pytest.fixture
def bucket(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A bucket on the local server; the library's S3 endpoint points there."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server.endpoint)
    name = f"large-bodies-{next(_table_numbers)}"
    boto3.client("s3", endpoint_url=moto_server.endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def raw_origin() -> Iterator[RawOrigin]:
    """An origin on a raw socket (scripts/local_servers.py), for answers OriginServer cannot
    send."""
    server = RawOrigin()
    yield server
    server.close()
