"""Configuration: decorator arguments, else HTTP_CACHE_* variables, else defaults; every bad
value is a ConfigError naming the setting."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import timedelta

import pytest
from lambda_http_cache.config import ENVIRONMENT, CacheConfig, ConfigError


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


def test_a_region_given_only_in_aws_region_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore reads AWS_DEFAULT_REGION only; the library falls back to AWS_REGION."""
    from lambda_http_cache.table import make_client

    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    assert make_client().meta.region_name == "eu-west-3"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert make_client().meta.region_name == "us-west-2"


# Parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1", True),
        ("true", True),
        (" Yes ", True),
        ("ON", True),
        ("0", False),
        ("False", False),
        ("no", False),
        (" off", False),
    ],
)
def test_boolean_settings(raw: str, value: bool) -> None:
    assert CacheConfig.from_environment({"HTTP_CACHE_ENABLED": raw}).enabled is value
    assert CacheConfig.from_environment({"HTTP_CACHE_LEASES": raw}).leases is value


def test_list_settings_are_split_on_commas_and_trimmed() -> None:
    config = CacheConfig.from_environment(
        {
            "HTTP_CACHE_ALLOWABLE_METHODS": "get, head ,POST,",
            "HTTP_CACHE_ALLOWABLE_CODES": " 200,404 , 410",
            "HTTP_CACHE_IGNORED_PARAMETERS": "X-Tenant, session_ref",
        }
    )
    assert config.allowable_methods == ("GET", "HEAD", "POST")
    assert config.allowable_codes == (200, 404, 410)
    assert config.ignored_parameters == ("X-Tenant", "session_ref")


@pytest.mark.parametrize(
    ("variable", "raw", "setting", "value"),
    [
        ("HTTP_CACHE_MATCH_HEADERS", "true", "match_headers", True),
        ("HTTP_CACHE_MATCH_HEADERS", "off", "match_headers", False),
        ("HTTP_CACHE_MATCH_HEADERS", "Accept", "match_headers", ("Accept",)),
        ("HTTP_CACHE_STALE_IF_ERROR", "true", "stale_if_error", True),
        ("HTTP_CACHE_STALE_IF_ERROR", "120", "stale_if_error", 120),
        ("HTTP_CACHE_EXPIRE_AFTER", " -1 ", "expire_after", -1),
        ("HTTP_CACHE_MEMORY_MB", "2.5", "memory_cache_mb", 2.5),
        ("HTTP_CACHE_EARLY_REFRESH", "1", "early_refresh", 1.0),
        ("HTTP_CACHE_TABLE", " padded_table ", "table_name", "padded_table"),
        ("HTTP_CACHE_S3_BUCKET", "my-bucket", "large_object_bucket", "my-bucket"),
        ("HTTP_CACHE_SHARE_SET_COOKIE", "true", "share_set_cookie", True),
        ("HTTP_CACHE_KEY_SECRET", " keep-the-spaces-0123 ", "key_secret", " keep-the-spaces-0123 "),
    ],
)
def test_typed_settings(variable: str, raw: str, setting: str, value: object) -> None:
    assert getattr(CacheConfig.from_environment({variable: raw}), setting) == value


def test_a_blank_variable_is_as_if_unset() -> None:
    blank = {variable: "  " for variable, _ in ENVIRONMENT.values()}
    assert CacheConfig.from_environment(blank) == CacheConfig()


def test_arguments_beat_the_environment_which_beats_the_defaults() -> None:
    environ = {"HTTP_CACHE_EXPIRE_AFTER": "90", "HTTP_CACHE_NAMESPACE": "orders"}
    config = CacheConfig.from_environment(environ, expire_after=30)
    assert (config.expire_after, config.namespace) == (30, "orders")
    assert CacheConfig.from_environment({}).expire_after == 300


def test_the_namespace_and_service_default_to_the_functions_names() -> None:
    lambda_environ = {"AWS_LAMBDA_FUNCTION_NAME": "price-service"}
    assert CacheConfig.from_environment(lambda_environ).namespace == "price-service"
    assert CacheConfig.from_environment(lambda_environ).metrics_service == "price-service"
    both = {**lambda_environ, "HTTP_CACHE_NAMESPACE": "prices", "POWERTOOLS_SERVICE_NAME": " svc"}
    config = CacheConfig.from_environment(both)
    assert (config.namespace, config.service, config.metrics_service) == ("prices", "svc", "svc")


def test_no_environment_argument_reads_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_CACHE_EXPIRE_AFTER", "77")
    assert CacheConfig.from_environment().expire_after == 77
    assert CacheConfig.from_environment({}).expire_after == 300


def test_iterables_given_in_code_are_kept_hashable() -> None:
    config = CacheConfig.from_environment(
        {},
        allowable_methods=["GET", "POST"],
        allowable_codes=[200, 404],
        ignored_parameters={"token"},
        match_headers=["Accept"],
    )
    assert config.allowable_methods == ("GET", "POST")
    assert config.allowable_codes == (200, 404)
    assert config.ignored_parameters == ("token",)
    assert config.match_headers == ("Accept",)
    assert CacheConfig.from_environment({}, allowable_methods="GET").allowable_methods == ("GET",)
    assert hash(config) == hash(config.with_overrides())
    assert config.with_overrides(allowable_methods=["HEAD"]).allowable_methods == ("HEAD",)


def test_every_environment_variable_names_a_setting() -> None:
    settings = {f.name for f in fields(CacheConfig)}
    assert set(ENVIRONMENT) <= settings
    variables = [variable for variable, _ in ENVIRONMENT.values()]
    assert len(set(variables)) == len(variables)
    assert all(variable.startswith("HTTP_CACHE_") for variable in variables)


# Validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "setting"),
    [
        ({"HTTP_CACHE_ENABLED": "maybe"}, "HTTP_CACHE_ENABLED"),
        ({"HTTP_CACHE_EXPIRE_AFTER": "5m"}, "HTTP_CACHE_EXPIRE_AFTER"),
        ({"HTTP_CACHE_ALLOWABLE_CODES": "200,OK"}, "HTTP_CACHE_ALLOWABLE_CODES"),
        ({"HTTP_CACHE_ALLOWABLE_CODES": " , "}, "HTTP_CACHE_ALLOWABLE_CODES"),
        ({"HTTP_CACHE_ALLOWABLE_METHODS": ","}, "HTTP_CACHE_ALLOWABLE_METHODS"),
        ({"HTTP_CACHE_STALE_IF_ERROR": "soon"}, "HTTP_CACHE_STALE_IF_ERROR"),
        ({"HTTP_CACHE_TABLE": "ab"}, "HTTP_CACHE_TABLE"),
        ({"HTTP_CACHE_TABLE": "x" * 256}, "HTTP_CACHE_TABLE"),
        ({"HTTP_CACHE_TABLE": "my table"}, "HTTP_CACHE_TABLE"),
        ({"HTTP_CACHE_NAMESPACE": "orders:eu"}, "HTTP_CACHE_NAMESPACE"),
        ({"HTTP_CACHE_NAMESPACE": "orders*"}, "HTTP_CACHE_NAMESPACE"),
        ({"AWS_LAMBDA_FUNCTION_NAME": "x" * 65}, "HTTP_CACHE_NAMESPACE"),
        ({"HTTP_CACHE_KEY_SECRET": "short"}, "HTTP_CACHE_KEY_SECRET"),
        ({"HTTP_CACHE_MAX_BODY_MB": "0"}, "HTTP_CACHE_MAX_BODY_MB"),
        ({"HTTP_CACHE_MAX_BODY_MB": "1025"}, "HTTP_CACHE_MAX_BODY_MB"),
        ({"HTTP_CACHE_READ_TIMEOUT": "0"}, "HTTP_CACHE_READ_TIMEOUT"),
        ({"HTTP_CACHE_CONNECT_TIMEOUT": "soon"}, "HTTP_CACHE_CONNECT_TIMEOUT"),
        ({"HTTP_CACHE_MEMORY_MB": "-1"}, "HTTP_CACHE_MEMORY_MB"),
        ({"HTTP_CACHE_BREAKER_THRESHOLD": "0"}, "HTTP_CACHE_BREAKER_THRESHOLD"),
        ({"HTTP_CACHE_BREAKER_COOLDOWN": "-1"}, "HTTP_CACHE_BREAKER_COOLDOWN"),
        ({"HTTP_CACHE_MAX_ATTEMPTS": "0"}, "HTTP_CACHE_MAX_ATTEMPTS"),
        ({"HTTP_CACHE_EARLY_REFRESH": "-0.5"}, "HTTP_CACHE_EARLY_REFRESH"),
        ({"HTTP_CACHE_STALE_WINDOW": "-1"}, "HTTP_CACHE_STALE_WINDOW"),
        ({"HTTP_CACHE_MEMORY_MAX_AGE": "-1"}, "HTTP_CACHE_MEMORY_MAX_AGE"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(environ: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError, match=setting) as raised:
        CacheConfig.from_environment(environ)
    assert setting in raised.value.setting


def test_settings_given_in_code_are_validated_too() -> None:
    with pytest.raises(ConfigError, match="expire_afer"):
        CacheConfig.from_environment({}, expire_afer=30)
    with pytest.raises(ConfigError, match="HTTP_CACHE_NAMESPACE"):
        CacheConfig.from_environment({}, namespace="a:b")
    with pytest.raises(ConfigError, match="HTTP_CACHE_EXPIRE_AFTER"):
        CacheConfig.from_environment({}, expire_after="five minutes")
    with pytest.raises(ConfigError, match="HTTP_CACHE_METRICS_NAMESPACE"):
        CacheConfig.from_environment({}, metrics_namespace="")
    with pytest.raises(ConfigError, match="HTTP_CACHE_NAMESPACE"):
        CacheConfig().with_overrides(namespace="a b")
    assert CacheConfig.from_environment({}, metrics=False, metrics_namespace="").metrics is False
    assert CacheConfig.from_environment({}, expire_after=timedelta(minutes=5)).expire_after
