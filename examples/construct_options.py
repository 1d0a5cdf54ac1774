"""The construct's options: a table of your settings, the bucket for large bodies, two
functions sharing their entries, and an action on an alarm."""

from pathlib import Path
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct
from http_cache_construct import HttpCache

LAYER_DIR = Path("../lambda-http-cache/dist")


class PricingStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, layer_dir: Path = LAYER_DIR, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        cache = HttpCache(
            self,
            "HttpCache",
            layer_dir=layer_dir,
            # Merged over the defaults; the key schema and the TTL attribute stay the library's.
            table_props={
                "table_name": "pricing_cache",
                "table_class": dynamodb.TableClass.STANDARD_INFREQUENT_ACCESS,
            },
            parameter_prefix="/pricing-cache",  # SSM parameters of this second cache
            large_object_bucket=True,  # bodies too large for an item, even compressed
            large_object_expiry_days=2,  # at least the longest expiry cached
        )
        quotes = self._function("Quotes", cache)
        invoices = self._function("Invoices", cache)
        # Functions that share entries share a namespace; every other function has its own.
        cache.attach(quotes, namespace="prices")
        cache.attach(invoices, namespace="prices")
        # The alarms have no action of their own.
        topic = sns.Topic(self, "CacheAlarms")
        for alarm in cache.alarms:
            alarm.add_alarm_action(actions.SnsAction(topic))

    def _function(self, construct_id: str, cache: HttpCache) -> lambda_.Function:
        return lambda_.Function(
            self,
            construct_id,
            runtime=cache.bytecode_runtime,
            architecture=lambda_.Architecture.ARM_64,
            handler="app.handler",
            code=lambda_.Code.from_asset("src"),
        )
