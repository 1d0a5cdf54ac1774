"""A shared, persistent HTTP cache in DynamoDB for AWS Lambda, compatible with requests-cache."""

from typing import TYPE_CHECKING, Any

from .config import CacheConfig, ConfigError

if TYPE_CHECKING:
    from .backend import DynamoDbCache
    from .decorator import cached_http, get_session

__version__ = "0.1.0"

__all__ = [
    "CacheConfig",
    "ConfigError",
    "DynamoDbCache",
    "__version__",
    "cached_http",
    "get_session",
]


def __getattr__(name: str) -> Any:
    # Each part loads what it uses when first asked for: the decorator requests and boto3, the
    # requests-cache backend requests-cache (the decorator's path never does), and the cache
    # core (core/) nothing but the standard library.
    if name in ("cached_http", "get_session"):
        from . import decorator

        return getattr(decorator, name)
    if name == "DynamoDbCache":
        from .backend import DynamoDbCache

        return DynamoDbCache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
