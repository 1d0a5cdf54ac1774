"""@cached_http: one warm session per container, built at import, configured from arguments,
then HTTP_CACHE_* variables, then defaults."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from lambda_http_cache import cached_http, decorator, get_session
from lambda_http_cache.cache import SharedCache

from scripts.local_servers import DynamoDbProxy, OriginServer, Route


@pytest.fixture(autouse=True)
def fresh_container(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is a new container: no session built yet."""
    monkeypatch.setattr(decorator, "_container_session", None)


def test_bare_decorator_gives_the_same_warm_session_every_invocation(
    table_name: str, origin: OriginServer, proxy: DynamoDbProxy
) -> None:
    url = origin.route("/item", '{"id": 1, "price": 2.5}')
    seen: list[Any] = []

    @cached_http
    def handler(event: dict[str, Any], context: Any, session: requests.Session) -> Any:
        seen.append(session)
        response = session.get(url)
        return {"from_cache": response.from_cache, "price": response.json()["price"]}

    assert proxy.count() == 0  # built at import, no network work
    assert handler({}, None) == {"from_cache": False, "price": 2.5}
    assert handler({}, None) == {"from_cache": True, "price": 2.5}
    assert seen[0] is seen[1] is get_session()
    assert isinstance(seen[0].cache, SharedCache)
    assert seen[0].cache.table.table_name == table_name


def test_decorator_with_settings(table_name: str, origin: OriginServer) -> None:
    url = origin.route("/p", "{}")

    @cached_http(expire_after=42, allowable_codes=[200, 404], match_headers=["Accept"])
    def handler(event: Any, context: Any, session: requests.Session) -> Any:
        return session

    session = handler({}, None)
    assert session.settings.expire_after == 42
    assert tuple(session.settings.allowable_codes) == (200, 404)
    assert tuple(session.settings.match_headers) == ("Accept",)
    assert session.get(url).expires is not None


def test_handler_without_a_session_parameter_uses_get_session(
    table_name: str, origin: OriginServer
) -> None:
    url = origin.route("/g", '{"x": 1}')

    @cached_http
    def handler(event: Any, context: Any) -> Any:
        return get_session().get(url).from_cache

    assert handler({}, None) is False
    assert handler({}, None) is True
    assert handler.__name__ == "handler"


def test_environment_configures_the_session(
    table_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_CACHE_EXPIRE_AFTER", "90")
    monkeypatch.setenv("HTTP_CACHE_NAMESPACE", "orders")
    monkeypatch.setenv("HTTP_CACHE_ALLOWABLE_METHODS", "get, head, post")

    @cached_http(expire_after=30)
    def handler(event: Any, context: Any, session: requests.Session) -> Any:
        return session

    session = handler({}, None)
    assert session.settings.expire_after == 30  # argument beats environment
    assert tuple(session.settings.allowable_methods) == ("GET", "HEAD", "POST")
    assert session.cache.namespace == "orders"


def test_namespace_defaults_to_the_function_name(
    table_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "price-service")
    assert get_session().cache.namespace == "price-service"


def test_disabled_cache_still_serves_requests(
    table_name: str, origin: OriginServer, proxy: DynamoDbProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_CACHE_ENABLED", "false")
    url = origin.route("/off", "{}")

    @cached_http
    def handler(event: Any, context: Any, session: requests.Session) -> Any:
        return [session.get(url).from_cache for _ in range(2)]

    assert handler({}, None) == [False, False]
    assert origin.hits["/off"] == 2
    assert proxy.count() == 0


class TenantContext:
    """What Lambda passes in tenant isolation mode (context.tenant_id)."""

    def __init__(self, tenant_id: str | None) -> None:
        self.tenant_id = tenant_id
        self.aws_request_id = f"request-of-{tenant_id}"


def test_each_tenant_is_served_only_its_own_entries(
    table_name: str, origin: OriginServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tenant isolation mode gives each tenant its own execution environments; the table is
    shared, so the cache keys each tenant apart too."""
    answers = iter(range(1, 100))
    url = origin.respond(
        "/tenant-file",
        lambda seen: Route(
            f'{{"answer": {next(answers)}}}'.encode(),
            {"Content-Type": "application/json", "Cache-Control": "max-age=600"},
        ),
    )

    def container() -> Any:
        monkeypatch.setattr(decorator, "_container_session", None)

        @cached_http
        def handler(event: Any, context: Any, session: requests.Session) -> Any:
            response = session.get(url)
            return response.from_cache, response.json()["answer"]

        return handler

    blue = container()
    assert blue({}, TenantContext("blue")) == (False, 1)
    assert blue({}, TenantContext("blue")) == (True, 1)
    assert container()({}, TenantContext("blue")) == (True, 1)  # another of blue's containers
    assert container()({}, TenantContext("green")) == (False, 2)
    assert container()({}, TenantContext(None)) == (False, 3)  # not in tenant isolation mode
