"""@cached_http's configuration errors: raised while the handler module is imported (Lambda's
init phase), naming the setting. Nothing here reaches a server: every error is raised before
the session would make its first call."""

from __future__ import annotations

from typing import Any

import pytest
from lambda_http_cache import ConfigError, cached_http, decorator, get_session


@pytest.fixture(autouse=True)
def fresh_container(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is a new container: no session built yet."""
    monkeypatch.setattr(decorator, "_container_session", None)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HTTP_CACHE_EXPIRE_AFTER", "five minutes"),
        ("HTTP_CACHE_ENABLED", "maybe"),
        ("HTTP_CACHE_ALLOWABLE_CODES", "200,OK"),
        ("HTTP_CACHE_READ_TIMEOUT", "0"),
        ("HTTP_CACHE_NAMESPACE", "a:b"),
    ],
)
def test_bad_environment_fails_at_import_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):

        @cached_http
        def handler(event: Any, context: Any) -> None: ...


def test_unknown_decorator_setting_is_named() -> None:
    with pytest.raises(ConfigError, match="expire_afer"):

        @cached_http(expire_afer=30)
        def handler(event: Any, context: Any) -> None: ...


def test_missing_region_is_a_named_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(ConfigError, match="AWS_REGION"):
        get_session()
