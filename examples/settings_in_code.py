"""Settings given to the decorator win over HTTP_CACHE_* variables, which win over the
defaults. A value the library cannot use stops the import with a ConfigError."""

import os
from typing import Any

from lambda_http_cache import cached_http
from requests import Session

API = os.environ.get("PRODUCTS_API", "https://api.example.com")


@cached_http(
    expire_after=600,  # seconds a response that states no freshness of its own stays fresh
    urls_expire_after={"*/prices/*": 30, "*/static/*": -1},  # code only: no variable for it
    match_headers=["Accept-Language"],  # the origin answers by language without saying Vary
    stale_if_error=True,  # serve an expired entry when the origin fails
    early_refresh=1,  # refresh hot keys, by one container, shortly before they expire
)
def handler(event: dict[str, Any], context: Any, session: Session) -> dict[str, Any]:
    response = session.get(f"{API}/prices/{event['product_id']}", timeout=5)
    return {"price": response.json()}
