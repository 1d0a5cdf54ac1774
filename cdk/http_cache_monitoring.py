"""``HttpCacheMonitoring``: the CloudWatch dashboard and the two alarms of a lambda_http_cache
cache, and the one list of the metrics the library publishes.

:class:`http_cache_construct.HttpCache` adds one (``monitoring=False`` leaves it out). On its
own, it watches a cache whose table another stack or app owns::

    from http_cache_monitoring import HttpCacheMonitoring

    monitoring = HttpCacheMonitoring(
        self,
        "CacheMonitoring",
        table=dynamodb.Table.from_table_name(self, "CacheTable", "http_cache"),
    )
    monitoring.error_rate_alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))

It watches namespace ``LambdaHttpCache`` with the dimension ``service`` equal to
``metrics_service`` (by default the table's name: what ``HttpCache.attach`` and
``grant_cache_access`` set as ``HTTP_CACHE_SERVICE``), and the table's own DynamoDB metrics.
The metric names are mirrored here from ``lambda_http_cache.observability``, so that this file
needs nothing but aws-cdk-lib; the tests keep both lists equal.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

# The metrics the library publishes in CloudWatch's embedded metric format: namespace, the one
# dimension, and the names (lambda_http_cache.observability.COUNT_METRICS and LATENCY_METRICS,
# keyed the same way). Mirrored, not imported: this file must not need the library.
METRICS_NAMESPACE = "LambdaHttpCache"
METRICS_DIMENSION = "service"
COUNT_METRICS: dict[str, str] = {
    "hits": "CacheHits",
    "misses": "CacheMisses",
    "memory_hits": "CacheMemoryHits",
    "errors": "CacheErrors",
    "oversize": "CacheOversizeSkips",
    "bypassed": "CacheBypassed",
    "unkeyed": "CacheUnkeyed",
    "not_stored": "CacheNotStored",
    "not_stored_set_cookie": "CacheNotStoredSetCookie",
    "unreadable": "CacheUnreadableItems",
    "bytes_served": "CacheBytesServed",
    "coalesced": "CacheCoalesced",
    "leases_won": "CacheLeasesWon",
    "leases_lost": "CacheLeasesLost",
    "leases_expired": "CacheLeasesExpired",
    "stale_served": "CacheStaleServed",
    "refreshes": "CacheRefreshes",
}
LATENCY_METRICS: dict[str, str] = {"cache": "CacheLatency", "origin": "OriginLatency"}

# The alarms (documentation: dashboard and alarms). Cache failure rate: failed or skipped cache
# calls (CacheErrors + CacheBypassed) per 100 cacheable requests (CacheHits + CacheMisses),
# above the threshold in 2 of 3 consecutive 5-minute periods. Throttling: any throttled
# GetItem or PutItem on the table in a 5-minute period. No data is not breaching for either.
MONITORING_PERIOD = Duration.minutes(5)
ERROR_RATE_THRESHOLD_PERCENT = 5
ERROR_RATE_EVALUATION_PERIODS = 3
ERROR_RATE_DATAPOINTS_TO_ALARM = 2
THROTTLE_THRESHOLD = 0  # alarms when the sum over a period is greater than this
THROTTLE_OPERATIONS: tuple[str, ...] = ("GetItem", "PutItem")


def cache_metric(
    name: str,
    service: str,
    *,
    statistic: str = cloudwatch.Stats.SUM,
    label: str | None = None,
    period: Duration = MONITORING_PERIOD,
) -> cloudwatch.Metric:
    """One of the library's metrics (``CacheHits``, ``CacheLatency``...) of the functions
    reporting under ``service``: namespace ``LambdaHttpCache``, dimension ``service``.
    ValueError for a name the library does not publish."""
    if name not in {*COUNT_METRICS.values(), *LATENCY_METRICS.values()}:
        raise ValueError(f"{name!r} is not a metric the library publishes")
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={METRICS_DIMENSION: service},
        statistic=statistic,
        label=label or name,
        period=period,
    )


class HttpCacheMonitoring(Construct):
    """A CloudWatch dashboard and two alarms over one cache: its library metrics and its
    table's.

    Args:
        table: The cache table (one this app creates, or one imported by name or ARN): the
            dashboard's capacity graphs and the throttling alarm watch its metrics.
        metrics_service: The ``service`` dimension of the library's metrics to watch: the
            ``HTTP_CACHE_SERVICE`` of the functions using the cache. Default: the table's
            name, which is what ``HttpCache.attach`` and ``grant_cache_access`` set.

    Attributes: :attr:`dashboard`, :attr:`error_rate_alarm` (cache failure rate),
    :attr:`throttle_alarm` (table throttling), :attr:`alarms` (both). The alarms have no
    action: add yours with ``add_alarm_action``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        metrics_service: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = table
        self.metrics_service: str = metrics_service or table.table_name

        hits = self.metric(COUNT_METRICS["hits"])
        misses = self.metric(COUNT_METRICS["misses"])
        memory_hits = self.metric(COUNT_METRICS["memory_hits"])
        errors = self.metric(COUNT_METRICS["errors"])
        bypassed = self.metric(COUNT_METRICS["bypassed"])
        oversize = self.metric(COUNT_METRICS["oversize"])

        hit_ratio = cloudwatch.MathExpression(
            expression="100 * hits / (hits + misses)",
            using_metrics={"hits": hits, "misses": misses},
            label="Hit ratio (%)",
            period=MONITORING_PERIOD,
        )
        memory_ratio = cloudwatch.MathExpression(
            expression="100 * memory / hits",
            using_metrics={"memory": memory_hits, "hits": hits},
            label="Memory-tier share of hits (%)",
            period=MONITORING_PERIOD,
        )
        # Failed or skipped cache calls per 100 cacheable requests; 0 without requests.
        failure_rate = cloudwatch.MathExpression(
            expression=("IF((hits + misses) > 0, 100 * (errors + bypassed) / (hits + misses), 0)"),
            using_metrics={"hits": hits, "misses": misses, "errors": errors, "bypassed": bypassed},
            label="Failed or skipped cache calls per 100 requests",
            period=MONITORING_PERIOD,
        )
        throttles = [self._table_metric("ThrottledRequests", op) for op in THROTTLE_OPERATIONS]
        throttle_ids = [f"{op.lower()}" for op in THROTTLE_OPERATIONS]
        throttled = cloudwatch.MathExpression(
            expression=" + ".join(f"FILL({i}, 0)" for i in throttle_ids),
            using_metrics=dict(zip(throttle_ids, throttles, strict=True)),
            label="Throttled GetItem + PutItem",
            period=MONITORING_PERIOD,
        )

        self.error_rate_alarm: cloudwatch.Alarm = failure_rate.create_alarm(
            self,
            "CacheFailureRateAlarm",
            threshold=ERROR_RATE_THRESHOLD_PERCENT,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=ERROR_RATE_EVALUATION_PERIODS,
            datapoints_to_alarm=ERROR_RATE_DATAPOINTS_TO_ALARM,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=(
                f"lambda-http-cache ({self.metrics_service}): more than "
                f"{ERROR_RATE_THRESHOLD_PERCENT} failed or skipped cache calls "
                f"(CacheErrors + CacheBypassed) per 100 cacheable requests in "
                f"{ERROR_RATE_DATAPOINTS_TO_ALARM} of {ERROR_RATE_EVALUATION_PERIODS} "
                "5-minute periods. Requests still succeed (a failure is a miss) but go to the "
                "origin: see the functions' WARNING logs for the cause."
            ),
        )
        self.throttle_alarm: cloudwatch.Alarm = throttled.create_alarm(
            self,
            "TableThrottleAlarm",
            threshold=THROTTLE_THRESHOLD,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=(
                f"lambda-http-cache ({self.metrics_service}): the cache table throttled "
                "GetItem or PutItem calls in the last 5 minutes. Each is a miss or an "
                "uncached response: look for a hot key or a traffic spike."
            ),
        )
        self.alarms: list[cloudwatch.Alarm] = [self.error_rate_alarm, self.throttle_alarm]

        latency = [
            self.metric(LATENCY_METRICS[kind], statistic=stat, label=f"{what} {stat}")
            for kind, what in (("cache", "Cache call"), ("origin", "Origin request"))
            for stat in ("p50", "p99")
        ]
        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=(
                    f"## lambda-http-cache: `{self.metrics_service}`\n"
                    f"Metrics `{METRICS_NAMESPACE}` with `{METRICS_DIMENSION}="
                    f"{self.metrics_service}`, from every function attached to this cache. "
                    "Paying off: a high hit ratio, cache calls far faster than origin "
                    "requests. Hurting: failures, bypasses, throttles. The project documentation's "
                    '"Dashboard and alarms" page explains each graph.'
                ),
                width=24,
                height=2,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Hit ratio (%) and cacheable requests",
                left=[hit_ratio],
                right=[hits, misses],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100, label="%", show_units=False),
                right_y_axis=cloudwatch.YAxisProps(min=0, label="requests", show_units=False),
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Memory-tier share of hits (%)",
                left=[memory_ratio],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100, label="%", show_units=False),
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Latency (ms): cache calls vs origin requests, p50 and p99",
                left=latency,
                left_y_axis=cloudwatch.YAxisProps(min=0, label="ms", show_units=False),
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Cache failure rate: failed or skipped calls per 100 requests",
                left=[failure_rate],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(
                        value=ERROR_RATE_THRESHOLD_PERCENT, label="alarm threshold"
                    )
                ],
                left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Cache errors and breaker bypasses",
                left=[errors, bypassed],
                left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Oversize responses not cached",
                left=[oversize],
                left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Table: consumed read and write capacity units",
                left=[
                    table.metric_consumed_read_capacity_units(
                        label="Read units", period=MONITORING_PERIOD
                    ),
                    table.metric_consumed_write_capacity_units(
                        label="Write units", period=MONITORING_PERIOD
                    ),
                ],
                left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Table: throttled GetItem and PutItem",
                left=throttles,
                left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(alarms=list(self.alarms), title="Alarms", width=24)
        )
        self.dashboard: cloudwatch.Dashboard = dashboard

    def metric(
        self,
        name: str,
        *,
        statistic: str = cloudwatch.Stats.SUM,
        label: str | None = None,
        period: Duration = MONITORING_PERIOD,
    ) -> cloudwatch.Metric:
        """One of the library's metrics under this cache's service (see :func:`cache_metric`)."""
        return cache_metric(
            name, self.metrics_service, statistic=statistic, label=label, period=period
        )

    def _table_metric(self, name: str, operation: str | None = None) -> cloudwatch.Metric:
        dimensions = {"TableName": self.table.table_name}
        label = name
        if operation is not None:
            dimensions["Operation"] = operation
            label = f"{operation} {name}"
        return self.table.metric(
            name,
            dimensions_map=dimensions,
            statistic=cloudwatch.Stats.SUM,
            label=label,
            period=MONITORING_PERIOD,
        )
