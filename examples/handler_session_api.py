"""requests-cache's session API, on the session the decorator hands the handler."""

import os
from typing import Any

from lambda_http_cache import cached_http

API = os.environ.get("PRODUCTS_API", "https://api.example.com")


@cached_http(expire_after=300)
def handler(event: dict[str, Any], context: Any, session) -> dict[str, Any]:
    url = f"{API}/products/{event['product_id']}"
    # Per-request options, as requests-cache documents them.
    prices = session.get(f"{API}/prices", expire_after=60)  # fresh for 60 s, whatever the rest
    cached = session.get(url, only_if_cached=True)  # 504 instead of calling the origin
    if cached.status_code == 504:
        cached = session.get(url)
    # Attributes of every response: from_cache, created_at, expires, is_expired, cache_key.
    answer = {
        "product": cached.json(),
        "prices": prices.json(),
        "from_cache": cached.from_cache,
        "expires": cached.expires.isoformat() if cached.expires else None,
    }
    if event.get("invalidate"):
        session.cache.delete(urls=[url])  # needs dynamodb:DeleteItem on the function's role
    with session.cache_disabled():  # neither read nor written
        session.get(f"{API}/health")
    answer["still_cached"] = session.cache.contains(url=url)
    return answer
