"""Example function: prices a basket by calling a product-catalogue JSON API for each item.

Every catalogue call goes through the container's cached session, so repeated products are
served from DynamoDB (or this container's memory) instead of the API.
"""

from __future__ import annotations

import os
import time
from typing import Any

from lambda_http_cache import cached_http
from requests import Session

CATALOG_API_URL = os.environ.get("CATALOG_API_URL", "https://catalog.example.com")


@cached_http(expire_after=300)
def handler(event: dict[str, Any], context: Any, session: Session) -> dict[str, Any]:
    started = time.perf_counter()
    hits = 0
    lines = []
    for product_id in event.get("product_ids", [1, 2, 3]):
        response = session.get(f"{CATALOG_API_URL}/products/{product_id}", timeout=5)
        response.raise_for_status()
        hits += bool(getattr(response, "from_cache", False))
        product = response.json()
        lines.append({"id": product["id"], "name": product["name"], "price": product["price"]})
    calls = len(lines)
    return {
        "lines": lines,
        "total": round(sum(line["price"] for line in lines), 2),
        "cache": {"hits": hits, "misses": calls - hits},
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
    }
