"""The project's CDK app: the cache with example functions, and a consumer attaching by ARN.

- ``LambdaHttpCache``: the :class:`HttpCache` construct (table, layer, key secret, SSM
  parameters, dashboard and alarms; no large-object bucket) and the example function
  ``functions/catalog`` deployed three ways on the latest Python runtime: x86_64, arm64, and
  x86_64 with SnapStart (published version behind the alias ``live``). The x86_64 and arm64
  functions share the namespace ``catalog`` (one set of entries); the SnapStart function has
  its own.
- ``LambdaHttpCacheConsumer``: the same function code wired the way another stack or account
  does it: the layer by the version ARN and the key secret by its ARN, both read from SSM (or
  the ``http-cache:layer-arn`` and ``http-cache:key-secret-arn`` context values), the table by
  name, its own namespace, the metrics under the table's name so that the first stack's
  dashboard sees them. It depends on the first stack, which writes the parameters.

Both stacks are environment-agnostic: ``cdk synth`` needs no credentials, and ``cdk deploy``
targets the account and region of the credentials in use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import Annotations, App, Aspects, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions
from constructs import Construct
from http_cache_construct import (
    DEFAULT_PARAMETER_PREFIX,
    DEFAULT_TABLE_NAME,
    PROJECT_ROOT,
    HttpCache,
    grant_cache_access,
    key_secret_parameter_name,
    layer_parameter_name,
)

CATALOG_CODE = PROJECT_ROOT / "functions" / "catalog"
CATALOG_API_URL = "https://catalog.example.com"
# The cache namespace the x86_64 and arm64 catalog functions share: same code, same entries.
CATALOG_NAMESPACE = "catalog"
MAIN_STACK = "LambdaHttpCache"
CONSUMER_STACK = "LambdaHttpCacheConsumer"
# Context: the layer version ARN and the key secret's ARN for the consumer stack (else read
# from SSM at deploy time).
LAYER_ARN_CONTEXT = "http-cache:layer-arn"
KEY_SECRET_ARN_CONTEXT = "http-cache:key-secret-arn"
# Context: whether to run cdk-nag's AwsSolutions checks during synthesis (default true).
NAG_CONTEXT = "http-cache:nag"
BASIC_EXECUTION_POLICY = (
    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
)


def catalog_function(
    scope: Construct,
    construct_id: str,
    architecture: lambda_.Architecture,
    runtime: lambda_.Runtime,
    **options: Any,
) -> lambda_.Function:
    """The example function ``functions/catalog`` (handler ``handler.handler``)."""
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        retention=logs.RetentionDays.ONE_MONTH,
        removal_policy=RemovalPolicy.DESTROY,
    )
    function = lambda_.Function(
        scope,
        construct_id,
        runtime=runtime,
        architecture=architecture,
        handler="handler.handler",
        code=lambda_.Code.from_asset(str(CATALOG_CODE), exclude=["__pycache__", "*.pyc"]),
        memory_size=256,
        timeout=Duration.seconds(15),
        environment={"CATALOG_API_URL": CATALOG_API_URL},
        log_group=log_group,
        description=f"lambda-http-cache example: catalog prices ({architecture.name})",
        **options,
    )
    # By name: jsii's Runtime objects are not equal to one another, even for one runtime.
    if runtime.name != lambda_.Runtime.PYTHON_3_14.name:
        NagSuppressions.add_resource_suppressions(
            function,
            [
                NagPackSuppression(
                    id="AwsSolutions-L1",
                    reason=(
                        "deployed on the newest Python runtime the layer carries bytecode for: "
                        "on a runtime without it every cold start compiles the layer again "
                        "(LAYER_PYTHON_3_14=... make layer FORCE=1 adds 3.14)"
                    ),
                )
            ],
        )
    if function.role is not None:
        NagSuppressions.add_resource_suppressions(
            function.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM4",
                    reason=(
                        "AWSLambdaBasicExecutionRole only lets the function write its own "
                        "CloudWatch logs; the cache grants are a separate least-privilege policy"
                    ),
                    applies_to=[BASIC_EXECUTION_POLICY],
                )
            ],
        )
    return function


class HttpCacheStack(Stack):
    """The cache (table, layer, key secret, SSM parameters) and the example functions attached
    to it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        layer_dir: Path | None = None,
        build_layer: bool = True,
        table_name: str = DEFAULT_TABLE_NAME,
        monitoring: bool = True,
        large_object_bucket: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.cache = HttpCache(
            self,
            "HttpCache",
            table_props={"table_name": table_name},
            layer_dir=layer_dir,
            build_layer=build_layer,
            monitoring=monitoring,
            large_object_bucket=large_object_bucket,
        )

        # The newest runtime the layer carries bytecode for: on another, every cold start
        # would compile the layer again.
        self.runtime = self.cache.bytecode_runtime
        self.x86_64 = catalog_function(
            self, "CatalogX86", lambda_.Architecture.X86_64, self.runtime
        )
        self.arm64 = catalog_function(
            self, "CatalogArm64", lambda_.Architecture.ARM_64, self.runtime
        )
        self.snap_start = catalog_function(
            self,
            "CatalogSnapStart",
            lambda_.Architecture.X86_64,
            self.runtime,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS,
        )
        Annotations.of(self.snap_start).acknowledge_warning(
            "@aws-cdk/aws-lambda:snapStartRequirePublish",
            "published below: current_version behind the alias live",
        )
        self.functions = [self.x86_64, self.arm64, self.snap_start]
        # The same code on two architectures: one namespace, so they share their entries.
        self.cache.attach(self.x86_64, namespace=CATALOG_NAMESPACE)
        self.cache.attach(self.arm64, namespace=CATALOG_NAMESPACE)
        # Its own namespace (the default): it neither reads nor writes the others' entries.
        self.cache.attach(self.snap_start)
        # SnapStart snapshots published versions only: publish one, behind a stable alias.
        self.snap_start_alias = lambda_.Alias(
            self, "CatalogSnapStartLive", alias_name="live", version=self.snap_start.current_version
        )

        CfnOutput(self, "TableName", value=self.cache.table.table_name)
        CfnOutput(self, "TableArn", value=self.cache.table.table_arn)
        architectures = "/".join(self.cache.published_layer.architectures)
        CfnOutput(
            self,
            "LayerVersionArn",
            value=self.cache.layer.layer_version_arn,
            description=f"lambda_http_cache layer for {architectures}",
        )
        if self.cache.layer_parameter is not None:
            CfnOutput(
                self,
                "LayerArnParameter",
                value=self.cache.layer_parameter.parameter_name,
                description="SSM parameter holding that layer version ARN",
            )
        CfnOutput(
            self,
            "KeySecretArn",
            value=self.cache.key_secret.secret_arn,
            description="Secret for HTTP_CACHE_KEY_SECRET (its ARN, not its value)",
        )
        if self.cache.key_secret_parameter is not None:
            CfnOutput(
                self,
                "KeySecretArnParameter",
                value=self.cache.key_secret_parameter.parameter_name,
                description="SSM parameter holding the key secret's ARN",
            )
        for function in self.functions:
            CfnOutput(self, f"{function.node.id}Name", value=function.function_name)
        if self.cache.dashboard is not None:
            CfnOutput(
                self,
                "DashboardName",
                value=self.cache.dashboard.dashboard_name,
                description="CloudWatch dashboard of the cache (docs: Dashboard and alarms)",
            )
        if self.cache.bucket is not None:
            CfnOutput(self, "LargeObjectBucketName", value=self.cache.bucket.bucket_name)


class HttpCacheConsumerStack(Stack):
    """A function wired as an outside user does it: layer and key secret by ARN, table by
    name, its own namespace."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table_name: str = DEFAULT_TABLE_NAME,
        layer_arn_parameter: str = layer_parameter_name(DEFAULT_PARAMETER_PREFIX),
        key_secret_arn_parameter: str = key_secret_parameter_name(DEFAULT_PARAMETER_PREFIX),
        runtime: lambda_.Runtime = lambda_.Runtime.PYTHON_3_13,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        layer_arn = self.node.try_get_context(LAYER_ARN_CONTEXT)
        if not layer_arn:
            # Resolved by CloudFormation when this stack deploys: the current version.
            layer_arn = ssm.StringParameter.value_for_string_parameter(self, layer_arn_parameter)
        layer = lambda_.LayerVersion.from_layer_version_arn(self, "HttpCacheLayer", layer_arn)
        table = dynamodb.Table.from_table_name(self, "CacheTable", table_name)
        key_secret_arn = self.node.try_get_context(KEY_SECRET_ARN_CONTEXT)
        if not key_secret_arn:
            # The secret's ARN, never its value: CloudFormation resolves the value (a dynamic
            # reference in the function's environment) when this stack deploys.
            key_secret_arn = ssm.StringParameter.value_for_string_parameter(
                self, key_secret_arn_parameter
            )
        key_secret = secretsmanager.Secret.from_secret_complete_arn(
            self, "HttpCacheKeySecret", key_secret_arn
        )

        self.function = catalog_function(self, "CatalogByArn", lambda_.Architecture.X86_64, runtime)
        self.function.add_layers(layer)
        # Its own namespace (the default); namespace="catalog" would share the first stack's
        # catalog entries.
        grant_cache_access(self.function, table, key_secret=key_secret)
        CfnOutput(self, "CatalogByArnName", value=self.function.function_name)


def cdk_json_context() -> dict[str, Any]:
    """The context of the project's cdk.json, so that running this file directly (as
    ``make synth`` does) synthesizes what ``cdk synth`` does."""
    path = PROJECT_ROOT / "cdk.json"
    if not path.exists():
        return {}
    context: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    return context


def build_app(
    *,
    layer_dir: Path | None = None,
    build_layer: bool = True,
    outdir: str | None = None,
    context: dict[str, Any] | None = None,
) -> App:
    """The app: both stacks, checked by cdk-nag's AwsSolutions pack unless the context says
    ``http-cache:nag=false``. The command line's ``-c`` values override cdk.json's."""
    app = App(outdir=outdir, context={**cdk_json_context(), **(context or {})})
    main = HttpCacheStack(
        app,
        MAIN_STACK,
        layer_dir=layer_dir,
        build_layer=build_layer,
        description="lambda-http-cache: DynamoDB HTTP cache table, layer and example functions",
    )
    consumer = HttpCacheConsumerStack(
        app,
        CONSUMER_STACK,
        runtime=main.runtime,
        description="lambda-http-cache: example function attaching the layer by ARN",
    )
    # The parameters the consumer reads are written by the main stack.
    consumer.add_stack_dependency(main)
    if str(app.node.try_get_context(NAG_CONTEXT)).lower() not in ("false", "0", "no"):
        Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app
