"""Lambda's tenant isolation mode: by default each tenant (context.tenant_id) has its own
entries, like a credential. An origin whose answers do not depend on the tenant can share
them on purpose."""

import os
from typing import Any

from lambda_http_cache import cached_http
from requests import Session

API = os.environ.get("PRODUCTS_API", "https://api.example.com")


@cached_http(share_across_tenants=True)  # or HTTP_CACHE_SHARE_ACROSS_TENANTS=true
def handler(event: dict[str, Any], context: Any, session: Session) -> dict[str, Any]:
    # A public exchange-rate feed: the same answer for every tenant.
    rates = session.get(f"{API}/rates/EUR", timeout=5).json()
    return {"rates": rates}
