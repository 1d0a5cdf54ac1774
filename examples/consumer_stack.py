"""Attaching the layer by ARN from another CDK app (what the LambdaHttpCacheConsumer stack
does): the layer and the key secret by the ARNs the cache's stack publishes in SSM."""

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct
from http_cache_construct import grant_cache_access


class ConsumerStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        fn = lambda_.Function(
            self,
            "Fn",
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
            handler="app.handler",
            code=lambda_.Code.from_asset("src"),
        )
        arn = ssm.StringParameter.value_for_string_parameter(self, "/lambda-http-cache/layer-arn")
        fn.add_layers(lambda_.LayerVersion.from_layer_version_arn(self, "HttpCacheLayer", arn))
        secret_arn = ssm.StringParameter.value_for_string_parameter(
            self, "/lambda-http-cache/key-secret-arn"
        )
        # HTTP_CACHE_TABLE and HTTP_CACHE_SERVICE (the table name), HTTP_CACHE_NAMESPACE (fn's
        # own), HTTP_CACHE_KEY_SECRET (a dynamic reference), GetItem + PutItem on fn's namespace.
        grant_cache_access(
            fn,
            dynamodb.Table.from_table_name(self, "HttpCacheTable", "http_cache"),
            key_secret=secretsmanager.Secret.from_secret_complete_arn(
                self, "KeySecret", secret_arn
            ),
        )
