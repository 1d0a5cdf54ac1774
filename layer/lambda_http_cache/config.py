"""Configuration: decorator arguments, else environment variables, else defaults.

Every setting is validated when the configuration is built (Lambda's init phase), and a bad
value raises :class:`ConfigError` naming the setting, so a typo fails the deploy's first
invocation loudly instead of silently disabling the cache.

Parsed by hand with the standard library, not a settings library such as pydantic: this
module runs at every cold start, and such a library's import alone costs more than all of
this (see the memory tier and cold start page of the documentation).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from typing import Any

from .core.settings import DEFAULT_IGNORED_PARAMS

DEFAULT_TABLE = "http_cache"
DEFAULT_EXPIRE_AFTER = 300
DEFAULT_NAMESPACE = "default"
DEFAULT_MEMORY_MB = 8
DEFAULT_METRICS_NAMESPACE = "LambdaHttpCache"
# A failed cache call is a miss, so retrying it would only delay the origin call.
DEFAULT_CONNECT_TIMEOUT = 0.5
DEFAULT_READ_TIMEOUT = 0.5
DEFAULT_MAX_ATTEMPTS = 1
DEFAULT_MAX_BODY_MB = 16
DEFAULT_MEMORY_MAX_AGE = 10.0
DEFAULT_BREAKER_THRESHOLD = 3
DEFAULT_BREAKER_COOLDOWN = 30.0
DEFAULT_LARGE_OBJECT_PREFIX = "lambda-http-cache/"
TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
# Namespaces begin every table key ("<namespace>:...") and the CDK construct grants each
# function only the keys of its own (dynamodb:LeadingKeys "<namespace>:*"): no separator, no
# wildcard, nothing a prefix match could confuse.
NAMESPACE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MIN_KEY_SECRET_CHARS = 16


class ConfigError(ValueError):
    """A setting has a value the library cannot use."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


def validate_namespace(namespace: str) -> None:
    if not isinstance(namespace, str) or not NAMESPACE.fullmatch(namespace):
        raise ConfigError(
            "namespace (HTTP_CACHE_NAMESPACE)",
            f"{namespace!r} is not a namespace: 1 to 64 of A-Z a-z 0-9 _ . -",
        )


def _parse_bool(setting: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(setting, f"expected true or false, got {raw!r}")


def _parse_int(setting: str, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ConfigError(setting, f"expected a whole number, got {raw!r}") from None


def _parse_float(setting: str, raw: str) -> float:
    try:
        return float(raw.strip())
    except ValueError:
        raise ConfigError(setting, f"expected a number, got {raw!r}") from None


def _parse_list(setting: str, raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _parse_codes(setting: str, raw: str) -> tuple[int, ...]:
    return tuple(_parse_int(setting, part) for part in _parse_list(setting, raw))


def _parse_methods(setting: str, raw: str) -> tuple[str, ...]:
    return tuple(part.upper() for part in _parse_list(setting, raw))


def _parse_match_headers(setting: str, raw: str) -> bool | tuple[str, ...]:
    if raw.strip().lower() in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        return _parse_bool(setting, raw)
    return _parse_list(setting, raw)


def _parse_stale_if_error(setting: str, raw: str) -> bool | int:
    try:
        return _parse_bool(setting, raw)
    except ConfigError:
        return _parse_int(setting, raw)


# Setting name -> (environment variable, parser). Settings not listed here are set only in code.
ENVIRONMENT: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "enabled": ("HTTP_CACHE_ENABLED", _parse_bool),
    "table_name": ("HTTP_CACHE_TABLE", lambda _s, raw: raw.strip()),
    "namespace": ("HTTP_CACHE_NAMESPACE", lambda _s, raw: raw.strip()),
    "expire_after": ("HTTP_CACHE_EXPIRE_AFTER", _parse_int),
    "cache_control": ("HTTP_CACHE_CACHE_CONTROL", _parse_bool),
    "allowable_methods": ("HTTP_CACHE_ALLOWABLE_METHODS", _parse_methods),
    "allowable_codes": ("HTTP_CACHE_ALLOWABLE_CODES", _parse_codes),
    "stale_if_error": ("HTTP_CACHE_STALE_IF_ERROR", _parse_stale_if_error),
    "match_headers": ("HTTP_CACHE_MATCH_HEADERS", _parse_match_headers),
    "ignored_parameters": ("HTTP_CACHE_IGNORED_PARAMETERS", _parse_list),
    "ttl": ("HTTP_CACHE_TTL", _parse_bool),
    "create_table": ("HTTP_CACHE_CREATE_TABLE", _parse_bool),
    "consistent_read": ("HTTP_CACHE_CONSISTENT_READ", _parse_bool),
    "memory_cache_mb": ("HTTP_CACHE_MEMORY_MB", _parse_float),
    "max_body_mb": ("HTTP_CACHE_MAX_BODY_MB", _parse_float),
    "memory_max_age": ("HTTP_CACHE_MEMORY_MAX_AGE", _parse_float),
    "standards_mode": ("HTTP_CACHE_STANDARDS_MODE", _parse_bool),
    "coalesce": ("HTTP_CACHE_COALESCE", _parse_bool),
    "leases": ("HTTP_CACHE_LEASES", _parse_bool),
    "stale_while_revalidate": ("HTTP_CACHE_STALE_WHILE_REVALIDATE", _parse_bool),
    "stale_window": ("HTTP_CACHE_STALE_WINDOW", _parse_int),
    "early_refresh": ("HTTP_CACHE_EARLY_REFRESH", _parse_float),
    "store_private": ("HTTP_CACHE_STORE_PRIVATE", _parse_bool),
    "share_set_cookie": ("HTTP_CACHE_SHARE_SET_COOKIE", _parse_bool),
    "share_across_tenants": ("HTTP_CACHE_SHARE_ACROSS_TENANTS", _parse_bool),
    "key_secret": ("HTTP_CACHE_KEY_SECRET", lambda _s, raw: raw),
    "breaker_threshold": ("HTTP_CACHE_BREAKER_THRESHOLD", _parse_int),
    "breaker_cooldown": ("HTTP_CACHE_BREAKER_COOLDOWN", _parse_float),
    "large_object_bucket": ("HTTP_CACHE_S3_BUCKET", lambda _s, raw: raw.strip()),
    "large_object_prefix": ("HTTP_CACHE_S3_PREFIX", lambda _s, raw: raw.strip()),
    "metrics": ("HTTP_CACHE_METRICS", _parse_bool),
    "metrics_namespace": ("HTTP_CACHE_METRICS_NAMESPACE", lambda _s, raw: raw.strip()),
    "service": ("HTTP_CACHE_SERVICE", lambda _s, raw: raw.strip()),
    "tracing": ("HTTP_CACHE_TRACING", _parse_bool),
    "connect_timeout": ("HTTP_CACHE_CONNECT_TIMEOUT", _parse_float),
    "read_timeout": ("HTTP_CACHE_READ_TIMEOUT", _parse_float),
    "max_attempts": ("HTTP_CACHE_MAX_ATTEMPTS", _parse_int),
}


@dataclass(frozen=True)
class CacheConfig:
    """Everything that shapes the container's cached session.

    The requests-cache settings keep their requests-cache names and meanings; the rest
    configure the DynamoDB store.
    """

    enabled: bool = True
    table_name: str = DEFAULT_TABLE
    # from_environment defaults it to the function's name: functions sharing a table do not
    # see each other's entries unless they opt in by setting the same HTTP_CACHE_NAMESPACE.
    namespace: str = DEFAULT_NAMESPACE
    # requests-cache settings
    # Seconds (or a timedelta); -1 never expires, 0 does not cache. The heuristic freshness
    # of responses that state none (core/freshness.py); Cache-Control/Expires win when on.
    expire_after: int | float | timedelta | None = DEFAULT_EXPIRE_AFTER
    urls_expire_after: dict[str, Any] | None = None
    cache_control: bool = True
    allowable_methods: tuple[str, ...] = ("GET", "HEAD")
    # None: 200, or in standards mode every final status but 206 and 304 (core/rules.py).
    allowable_codes: tuple[int, ...] | None = None
    stale_if_error: bool | int = False
    match_headers: bool | tuple[str, ...] = False
    ignored_parameters: tuple[str, ...] = tuple(DEFAULT_IGNORED_PARAMS)
    # DynamoDB store settings
    ttl: bool = True
    create_table: bool = False
    consistent_read: bool = False
    memory_cache_mb: float = DEFAULT_MEMORY_MB
    # Seconds the memory tier serves an entry before reading the table again (so changes made
    # by other containers, invalidations included, reach this one within it).
    memory_max_age: float = DEFAULT_MEMORY_MAX_AGE
    # The largest body stored or read back: bounds what one hostile item can cost to decode.
    max_body_mb: float = DEFAULT_MAX_BODY_MB
    # Standards mode: RFC 9111 as written: what the origin states, else a tenth of the time
    # since Last-Modified (heuristic freshness, at most a day) instead of expire_after.
    standards_mode: bool = False
    # One origin call per key per expiry (coordination.py): threads of a container share one
    # call (coalesce); containers share one through a lease in the table (leases).
    coalesce: bool = True
    leases: bool = True
    # Serve a stale entry at once and refresh it after the response, within the origin's
    # stale-while-revalidate window; stale_window (seconds) is a default window for
    # responses that state none (0: off).
    stale_while_revalidate: bool = True
    stale_window: int = 0
    # Probabilistic early refresh before expiry (its beta: 1 is the paper's optimum; 0 off).
    early_refresh: float = 0.0
    store_private: bool = False
    # Store responses that set a cookie, without it, though not marked public or s-maxage
    # (for origins that set one on every response, such as ALB stickiness cookies).
    share_set_cookie: bool = False
    # Lambda's tenant isolation mode: one set of entries for every tenant instead of one per
    # tenant (context.tenant_id), for origins whose answers do not depend on the tenant.
    share_across_tenants: bool = False
    key_secret: str | None = field(default=None, repr=False)
    # Bodies too large for an item even compressed go to this S3 bucket (off when None).
    large_object_bucket: str | None = None
    large_object_prefix: str = DEFAULT_LARGE_OBJECT_PREFIX
    # Observability: one metrics document per invocation, in this CloudWatch namespace, with
    # the dimension service (default: POWERTOOLS_SERVICE_NAME, else the cache namespace).
    metrics: bool = True
    metrics_namespace: str = DEFAULT_METRICS_NAMESPACE
    service: str | None = None
    tracing: bool = True
    # Failure handling: each DynamoDB call is bounded by the timeouts; a failed cache call is
    # a miss, so retrying it would only add latency before the origin answers anyway.
    breaker_threshold: int = DEFAULT_BREAKER_THRESHOLD
    breaker_cooldown: float = DEFAULT_BREAKER_COOLDOWN
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    max_attempts: int = DEFAULT_MAX_ATTEMPTS

    def __post_init__(self) -> None:
        if not TABLE_NAME.fullmatch(self.table_name):
            raise ConfigError(
                "table_name (HTTP_CACHE_TABLE)",
                f"{self.table_name!r} is not a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)",
            )
        validate_namespace(self.namespace)
        if self.key_secret is not None and len(self.key_secret) < MIN_KEY_SECRET_CHARS:
            raise ConfigError(
                "key_secret (HTTP_CACHE_KEY_SECRET)",
                f"must be at least {MIN_KEY_SECRET_CHARS} characters (a random string)",
            )
        if not 0 < self.max_body_mb <= 1024:
            raise ConfigError(
                "max_body_mb (HTTP_CACHE_MAX_BODY_MB)", "must be over 0, at most 1024"
            )
        if self.expire_after is not None and not isinstance(
            self.expire_after, int | float | timedelta
        ):
            raise ConfigError("expire_after (HTTP_CACHE_EXPIRE_AFTER)", "expected seconds")
        for name in ("connect_timeout", "read_timeout", "breaker_cooldown"):
            if getattr(self, name) <= 0:
                env = ENVIRONMENT[name][0]
                raise ConfigError(f"{name} ({env})", "must be greater than 0")
        if self.metrics and not self.metrics_namespace:
            raise ConfigError("metrics_namespace (HTTP_CACHE_METRICS_NAMESPACE)", "is empty")
        if self.early_refresh < 0:
            raise ConfigError("early_refresh (HTTP_CACHE_EARLY_REFRESH)", "must be 0 or more")
        if self.stale_window < 0:
            raise ConfigError("stale_window (HTTP_CACHE_STALE_WINDOW)", "must be 0 or more")
        if self.memory_max_age < 0:
            raise ConfigError("memory_max_age (HTTP_CACHE_MEMORY_MAX_AGE)", "must be 0 or more")
        if self.memory_cache_mb < 0:
            raise ConfigError("memory_cache_mb (HTTP_CACHE_MEMORY_MB)", "must be 0 or more")
        if self.breaker_threshold < 1:
            raise ConfigError(
                "breaker_threshold (HTTP_CACHE_BREAKER_THRESHOLD)", "must be at least 1"
            )
        if self.max_attempts < 1:
            raise ConfigError("max_attempts (HTTP_CACHE_MAX_ATTEMPTS)", "must be at least 1")
        if not self.allowable_methods:
            raise ConfigError("allowable_methods (HTTP_CACHE_ALLOWABLE_METHODS)", "is empty")
        if self.allowable_codes is not None and not self.allowable_codes:
            raise ConfigError("allowable_codes (HTTP_CACHE_ALLOWABLE_CODES)", "is empty")

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> CacheConfig:
        """Build a configuration: ``overrides`` first, then ``environ``, then defaults."""
        environ = os.environ if environ is None else environ
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown setting; known settings: {sorted(known)}")
        values: dict[str, Any] = {}
        for name, (variable, parse) in ENVIRONMENT.items():
            raw = environ.get(variable)
            if raw is not None and raw.strip() != "":
                values[name] = parse(variable, raw)
        if "namespace" not in values and environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            values["namespace"] = environ["AWS_LAMBDA_FUNCTION_NAME"]
        if "service" not in values and environ.get("POWERTOOLS_SERVICE_NAME"):
            values["service"] = environ["POWERTOOLS_SERVICE_NAME"].strip()
        values.update({k: _normalise(k, v) for k, v in overrides.items()})
        return cls(**values)

    @property
    def metrics_service(self) -> str:
        return self.service or self.namespace

    def with_overrides(self, **overrides: Any) -> CacheConfig:
        return replace(self, **{k: _normalise(k, v) for k, v in overrides.items()})


def _normalise(name: str, value: Any) -> Any:
    """Accept the iterables requests-cache accepts while keeping the config hashable."""
    if name in ("allowable_methods", "ignored_parameters") and not isinstance(value, str):
        return tuple(value) if isinstance(value, Iterable) else value
    if name == "allowable_methods" and isinstance(value, str):
        return (value,)
    if name == "allowable_codes" and isinstance(value, Iterable):
        return tuple(value)
    if name == "match_headers" and not isinstance(value, bool) and isinstance(value, Iterable):
        return tuple(value)
    return value
