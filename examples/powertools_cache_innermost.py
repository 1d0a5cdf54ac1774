"""@cached_http inside Powertools' decorators: the order does not matter (see
powertools_cache_outermost.py for the other one)."""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from lambda_http_cache import cached_http
from requests import Session

API = os.environ.get("PRODUCTS_API", "https://api.example.com")
logger = Logger()  # service: POWERTOOLS_SERVICE_NAME
metrics = Metrics()  # namespace: POWERTOOLS_METRICS_NAMESPACE (the function's metrics only)


@logger.inject_lambda_context
@metrics.log_metrics
@cached_http(expire_after=300)
def handler(event: dict[str, Any], context: LambdaContext, session: Session) -> dict[str, Any]:
    response = session.get(f"{API}/products/{event['product_id']}", timeout=5)
    from_cache = getattr(response, "from_cache", False)
    logger.info("product fetched", extra={"from_cache": from_cache})
    metrics.add_metric(name="ProductsFetched", unit=MetricUnit.Count, value=1)
    return {"product": response.json(), "from_cache": from_cache}
