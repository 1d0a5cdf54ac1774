"""The dashboard and alarms alone, watching a cache from a stack that does not own the table."""

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct
from http_cache_monitoring import HttpCacheMonitoring


class CacheWatchStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        table = dynamodb.Table.from_table_name(self, "CacheTable", "http_cache")
        # metrics_service: the HTTP_CACHE_SERVICE the functions report under (default: the
        # table's name, as attach sets it).
        monitoring = HttpCacheMonitoring(self, "CacheMonitoring", table=table)
        # One more alarm, on any metric the library publishes.
        cloudwatch.Alarm(
            self,
            "OversizeAlarm",
            metric=monitoring.metric("CacheOversizeSkips"),
            threshold=100,
            evaluation_periods=3,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
