"""Code outside the handler reaches the same session through get_session()."""

import os
from typing import Any

from lambda_http_cache import cached_http, get_session

API = os.environ.get("PRODUCTS_API", "https://api.example.com")


@cached_http  # bare: every setting from HTTP_CACHE_* variables, else the defaults
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"product": fetch_product(event["product_id"])}


def fetch_product(product_id: int) -> Any:
    # The container's session: the one the decorator built at init.
    return get_session().get(f"{API}/products/{product_id}", timeout=5).json()


# Module-level code after the decorator is part of init too: what it sets on the session
# is what every invocation starts from.
get_session().headers["User-Agent"] = "pricing/1.0"
