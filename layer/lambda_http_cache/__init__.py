"""A shared, persistent HTTP cache in DynamoDB for AWS Lambda, built on requests-cache."""

from .backend import DynamoDbCache
from .config import CacheConfig, ConfigError
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
