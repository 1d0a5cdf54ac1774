import os
from typing import Any

from lambda_http_cache import cached_http
from requests import Session

API = os.environ.get("PRODUCTS_API", "https://api.example.com")


@cached_http(expire_after=300)
def handler(event: dict[str, Any], context: Any, session: Session) -> dict[str, Any]:
    products = [session.get(f"{API}/products/{i}").json() for i in event["product_ids"]]
    return {"products": products}
