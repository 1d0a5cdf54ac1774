"""Outside Lambda: DynamoDbCache is a drop-in for requests_cache.DynamoDbCache."""

from lambda_http_cache import DynamoDbCache
from requests_cache import CachedSession

# Same constructor as requests-cache's (table_name, create_table, ttl, connection, and boto3
# session keywords such as region_name or endpoint_url), plus this project's options.
backend = DynamoDbCache("http_cache", region_name="eu-west-1", namespace="reports")
session = CachedSession(backend=backend, expire_after=300)
