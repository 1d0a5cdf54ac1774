"""Configuration: decorator arguments, else HTTP_CACHE_* variables, else defaults; every bad
value is a ConfigError naming the setting."""

from __future__ import annotations

from dataclasses import replace

import pytest
from lambda_http_cache.config import CacheConfig, ConfigError


def test_config_defaults_and_environment() -> None:
    config = CacheConfig.from_environment({})
    assert (config.table_name, config.namespace, config.expire_after) == (
        "http_cache",
        "default",
        300,
    )
    config = CacheConfig.from_environment(
        {
            "HTTP_CACHE_TABLE": "my_table",
            "AWS_LAMBDA_FUNCTION_NAME": "fn",
            "HTTP_CACHE_MEMORY_MB": "0",
            "HTTP_CACHE_STALE_IF_ERROR": "600",
            "HTTP_CACHE_MATCH_HEADERS": "Accept, Accept-Language",
        }
    )
    assert config.table_name == "my_table"
    assert config.namespace == "fn"
    assert config.memory_cache_mb == 0
    assert config.stale_if_error == 600
    assert config.match_headers == ("Accept", "Accept-Language")
    assert "key_secret" not in repr(replace(config, key_secret="hidden-0123456789abcdef"))


@pytest.mark.parametrize(
    ("environ", "setting"),
    [
        ({"HTTP_CACHE_MEMORY_MB": "-1"}, "HTTP_CACHE_MEMORY_MB"),
        ({"HTTP_CACHE_BREAKER_THRESHOLD": "0"}, "HTTP_CACHE_BREAKER_THRESHOLD"),
        ({"HTTP_CACHE_CONNECT_TIMEOUT": "soon"}, "HTTP_CACHE_CONNECT_TIMEOUT"),
        ({"HTTP_CACHE_TABLE": "my table"}, "HTTP_CACHE_TABLE"),
    ],
)
def test_config_errors_name_the_setting(environ: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError, match=setting):
        CacheConfig.from_environment(environ)


def test_a_region_given_only_in_aws_region_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore reads AWS_DEFAULT_REGION only; the library falls back to AWS_REGION."""
    from lambda_http_cache.table import make_client

    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    assert make_client().meta.region_name == "eu-west-3"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert make_client().meta.region_name == "us-west-2"
