"""The table is shared: other containers see entries and redirect aliases, scans read every
page, and building the cache makes no request at all."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from lambda_http_cache import DynamoDbCache
from requests_cache import CachedSession

from scripts.local_servers import DynamoDbProxy, OriginServer
from tests.helpers import cached_session, scan_all

ROOT = Path(__file__).resolve().parents[2]


def test_a_second_container_sees_the_first_ones_entries(
    table_name: str, origin: OriginServer
) -> None:
    url = origin.route("/shared", '{"n": 1}')
    assert not cached_session(table_name).get(url).from_cache
    again = cached_session(table_name).get(url)
    assert again.from_cache
    assert origin.hits["/shared"] == 1


def test_a_second_process_sees_entries_and_redirect_aliases(
    table_name: str, origin: OriginServer
) -> None:
    final = origin.route("/final", '{"price": 9.99}')
    origin.route("/hop", b"", {"Location": "/final"}, status=302)
    origin.route("/start", b"", {"Location": "/hop"}, status=301)
    first = cached_session(table_name).get(origin.url("/start"))
    assert first.url == final
    assert [r.status_code for r in first.history] == [301, 302]

    script = textwrap.dedent(
        """
        import json, sys
        from tests.helpers import cached_session
        session = cached_session(sys.argv[1])
        out = {}
        for path in ("/hop", "/start"):
            r = session.get(sys.argv[2] + path)
            out[path] = [r.from_cache, r.text, [h.status_code for h in r.history]]
        print(json.dumps(out))
        """
    )
    hits_before = dict(origin.hits)
    result = subprocess.run(
        [sys.executable, "-c", script, table_name, origin.url("")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layer'}"},
        check=True,
    )
    seen = json.loads(result.stdout)
    # /hop was only ever an intermediate hop: the alias stored by the first process serves it,
    # with the part of the chain a request to /hop went through
    assert seen["/hop"] == [True, '{"price": 9.99}', [302]]
    assert seen["/start"] == [True, '{"price": 9.99}', [301, 302]]
    assert dict(origin.hits) == hits_before


def test_redirects_are_stored_in_the_table_as_responses(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    """Every container sees a chain: each redirect is an item of its own, walked hop by hop."""
    origin.route("/final", "{}")
    origin.route("/hop", b"", {"Location": "/final"}, status=302)
    origin.route("/start", b"", {"Location": "/hop"}, status=301)
    cached_session(table_name, namespace="ns").get(origin.url("/start"))
    statuses = sorted(int(item["status"]["N"]) for item in scan_all(ddb, table_name))
    assert statuses == [200, 301, 302]
    session = cached_session(table_name, namespace="ns")
    again = session.get(origin.url("/start"))
    assert again.from_cache and [r.status_code for r in again.history] == [301, 302]
    assert (origin.hits["/start"], origin.hits["/hop"], origin.hits["/final"]) == (1, 1, 1)
    assert len(session.cache.redirects) == 0
    assert len(session.cache.responses) == 3


def _fill(table_name: str, origin: OriginServer, count: int, size: int) -> CachedSession:
    session = cached_session(table_name)
    for number in range(count):
        # incompressible bodies, so the items really take `size` bytes each
        body = os.urandom(size)
        session.get(origin.route(f"/big/{number}", body, {"Content-Type": "image/png"}))
    return session


def test_scans_read_every_page(table_name: str, origin: OriginServer, ddb: Any) -> None:
    session = _fill(table_name, origin, count=14, size=100_000)
    first_page = ddb.scan(TableName=table_name)
    assert "LastEvaluatedKey" in first_page, "the table must hold more than one scan page"
    assert len(session.cache.responses) == 14
    assert len(list(session.cache.responses.values())) == 14
    assert len(session.cache.urls()) == 14
    assert len(list(session.cache.filter())) == 14


def test_clear_empties_a_table_of_more_than_one_megabyte(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    session = _fill(table_name, origin, count=14, size=100_000)
    assert "LastEvaluatedKey" in ddb.scan(TableName=table_name)
    session.cache.clear()
    assert scan_all(ddb, table_name) == []


def test_clear_and_delete_stay_in_their_namespace(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    url = origin.route("/x", "{}")
    mine = cached_session(table_name, namespace="mine")
    theirs = cached_session(table_name, namespace="theirs")
    mine.get(url)
    theirs.get(url)
    mine.cache.clear()
    assert [i["namespace"]["S"] for i in scan_all(ddb, table_name)] == ["theirs"]
    theirs.cache.delete(urls=[url])
    assert scan_all(ddb, table_name) == []


def test_constructing_the_backend_makes_no_request(
    proxy: DynamoDbProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.endpoint)
    DynamoDbCache()  # create_table=True, ttl=True: still nothing until an operation
    DynamoDbCache("other", create_table=True, ttl=True, region_name="eu-west-1")
    CachedSession(backend=DynamoDbCache(), expire_after=60)
    assert proxy.count() == 0


def test_importing_a_decorated_handler_makes_no_request(
    table_name: str, proxy: DynamoDbProxy
) -> None:
    path = ROOT / "functions" / "catalog" / "handler.py"
    spec = importlib.util.spec_from_file_location("catalog_handler_cold_start", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.handler)
    assert proxy.count() == 0


def test_table_created_on_first_use_when_asked(
    ddb: Any, proxy: DynamoDbProxy, origin: OriginServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.endpoint)
    name = "created_on_demand"
    session = cached_session(name, create_table=True)
    assert proxy.count() == 0
    url = origin.route("/new", '{"a": 1}')
    assert not session.get(url).from_cache
    assert proxy.count("CreateTable") == 1
    assert (
        ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]["AttributeName"] == "ttl"
    )
    assert session.get(url).from_cache
    assert proxy.count("CreateTable") == 1
