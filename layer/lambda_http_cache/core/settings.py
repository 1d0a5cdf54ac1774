"""The cache settings of a session: requests-cache's ``CacheSettings``, with the same names
and defaults, so that code written for a requests-cache session configures this one alike."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

ALL_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
DEFAULT_METHODS = ("GET", "HEAD")
DEFAULT_STATUS_CODES = (200,)
# Credentials requests-cache leaves out of its keys by default (this cache keys them in a
# keyed hash instead, and stores none: sharing.py).
AUTH_HEADERS = (
    "Authorization",
    "Proxy-Authorization",
    "X-API-Key",
    "X-Auth-Token",
    "X-API-Token",
    "X-Access-Token",
)
AUTH_PARAMS = ("access_token", "api_key", "apikey")
DEFAULT_IGNORED_PARAMS = AUTH_HEADERS + AUTH_PARAMS


@dataclass
class CacheSettings:
    """What shapes the cache's decisions; may be changed after the session is built."""

    allowable_codes: Iterable[int] = DEFAULT_STATUS_CODES
    allowable_methods: Iterable[str] = DEFAULT_METHODS
    always_revalidate: bool = False
    autoclose: bool = True
    cache_control: bool = False
    disabled: bool = False
    expire_after: Any = None
    filter_fn: Callable[[Any], bool] | None = None
    ignored_parameters: Iterable[str] | None = DEFAULT_IGNORED_PARAMS
    key_fn: Callable[..., str] | None = None
    match_headers: Iterable[str] | bool = False
    only_if_cached: bool = False
    read_only: bool = False
    stale_if_error: Any = False
    stale_while_revalidate: Any = False
    urls_expire_after: Mapping[Any, Any] = field(default_factory=dict)

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> CacheSettings:
        """Settings from a session's keywords: requests-cache's older names are read too, and
        keywords that are not settings are left out."""
        if "old_data_on_error" in kwargs:
            kwargs["stale_if_error"] = kwargs.pop("old_data_on_error")
        if "include_get_headers" in kwargs:
            kwargs["match_headers"] = kwargs.pop("include_get_headers")
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in kwargs.items() if k in names and v is not None})
