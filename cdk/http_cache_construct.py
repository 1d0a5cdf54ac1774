"""``HttpCache``: the cache table, the layer, and one call to wire a function to both.

Use it in any CDK app (copy this file beside your app, or put this folder on ``sys.path``)::

    from http_cache_construct import HttpCache

    cache = HttpCache(self, "HttpCache")          # table "http_cache", the layer, a dashboard
    cache.attach(my_function)                      # layer + environment + least privilege

What ``attach`` grants a function is :data:`CACHE_TABLE_ACTIONS` on the table's ARN and
nothing else. Those are the only DynamoDB calls the library makes on a Lambda hot path: one
GetItem per lookup, one PutItem per stored response or redirect alias. Provisioning calls
(CreateTable, DescribeTable, UpdateTimeToLive) belong to this construct; Scan, DeleteItem and
BatchWriteItem serve maintenance such as ``cache.clear()``, which is not a function's job; a
function whose code does maintain the cache adds those grants itself. With the optional
bucket for large bodies, it also grants :data:`LARGE_OBJECT_ACTIONS` on the bucket's cache
prefix, and nothing else.

By default the construct also adds a CloudWatch dashboard and two alarms over the metrics the
library publishes (``monitoring=False`` leaves them out). The metric names are mirrored here
from ``lambda_http_cache.observability`` so that this file needs nothing but aws-cdk-lib; the
tests keep both lists equal.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from constructs import Construct, IConstruct

# The DynamoDB actions a function using the library needs at run time: the one place they are
# listed. The tests check every function role against this tuple.
CACHE_TABLE_ACTIONS: tuple[str, ...] = ("dynamodb:GetItem", "dynamodb:PutItem")

# The environment variables the library reads (lambda_http_cache.config.ENVIRONMENT).
TABLE_ENV = "HTTP_CACHE_TABLE"
SERVICE_ENV = "HTTP_CACHE_SERVICE"
BUCKET_ENV = "HTTP_CACHE_S3_BUCKET"
PREFIX_ENV = "HTTP_CACHE_S3_PREFIX"
DEFAULT_TABLE_NAME = "http_cache"
PARTITION_KEY = "key"
TTL_ATTRIBUTE = "ttl"

# Context flag: `cdk deploy -c http-cache:destroy=true` for throwaway stacks (the table, the
# layer versions and the bucket, if empty, are deleted with the stack instead of being kept).
DESTROY_CONTEXT = "http-cache:destroy"
# SSM parameters holding the layer version ARN(s) live under this prefix.
DEFAULT_PARAMETER_PREFIX = "/lambda-http-cache"
DEFAULT_LAYER_NAME = "lambda-http-cache"

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LAYER_DIR = PROJECT_ROOT / "dist"
BUILD_SCRIPT = PROJECT_ROOT / "scripts" / "build_layer.py"
LAYER_MANIFEST = "layer-manifest.json"

ARCHITECTURES = {"x86_64": lambda_.Architecture.X86_64, "arm64": lambda_.Architecture.ARM_64}

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
    "not_stored": "CacheNotStored",
    "unreadable": "CacheUnreadableItems",
    "bytes_served": "CacheBytesServed",
}
LATENCY_METRICS: dict[str, str] = {"cache": "CacheLatency", "origin": "OriginLatency"}

# The alarms (README, "Dashboard and alarms"). Cache failure rate: failed or skipped cache
# calls (CacheErrors + CacheBypassed) per 100 cacheable requests (CacheHits + CacheMisses),
# above the threshold in 2 of 3 consecutive 5-minute periods. Throttling: any throttled
# GetItem or PutItem on the table in a 5-minute period. No data is not breaching for either.
MONITORING_PERIOD = Duration.minutes(5)
ERROR_RATE_THRESHOLD_PERCENT = 5
ERROR_RATE_EVALUATION_PERIODS = 3
ERROR_RATE_DATAPOINTS_TO_ALARM = 2
THROTTLE_THRESHOLD = 0  # alarms when the sum over a period is greater than this
THROTTLE_OPERATIONS: tuple[str, ...] = ("GetItem", "PutItem")

# The optional S3 bucket for bodies too large for an item even compressed: the only S3 calls
# the library makes, under one prefix (lambda_http_cache.config: large_object_prefix).
LARGE_OBJECT_ACTIONS: tuple[str, ...] = ("s3:GetObject", "s3:PutObject")
DEFAULT_LARGE_OBJECT_PREFIX = "lambda-http-cache/"
DEFAULT_LARGE_OBJECT_EXPIRY_DAYS = 1


def _suppress_nag(
    construct: IConstruct,
    rule: str,
    reason: str,
    applies_to: list[str] | None = None,
    *,
    regex: bool = False,
    children: bool = False,
) -> None:
    """Record a deliberate design choice for cdk-nag, when the app uses it (it is optional:
    this file needs only aws-cdk-lib)."""
    try:
        from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
    except ImportError:  # pragma: no cover - cdk-nag is installed here
        return
    targets: list[str | RegexAppliesTo] | None = None
    if applies_to is not None:
        targets = [RegexAppliesTo(regex=a) if regex else a for a in applies_to]
    NagSuppressions.add_resource_suppressions(
        construct,
        [NagPackSuppression(id=rule, reason=reason, applies_to=targets)],
        apply_to_children=children,
    )


def grant_cache_access(
    function: lambda_.Function,
    table: dynamodb.ITable,
    *,
    metrics_service: str | bool = True,
    bucket: s3.IBucket | None = None,
    bucket_prefix: str = DEFAULT_LARGE_OBJECT_PREFIX,
) -> iam.Grant:
    """Point ``function`` at ``table`` (``HTTP_CACHE_TABLE``) and grant it exactly
    :data:`CACHE_TABLE_ACTIONS` on the table's ARN.

    ``metrics_service`` sets ``HTTP_CACHE_SERVICE``, the ``service`` dimension of the cache's
    metrics: True (the default) the table's name, which is what :class:`HttpCache`'s
    dashboard and alarms watch by default; a string, that value; False leaves it unset (the
    library then uses ``POWERTOOLS_SERVICE_NAME``, else the function's name). With
    ``bucket``, also :func:`grant_large_object_access` on ``bucket_prefix``.

    Works for a table this app owns and for one imported by name
    (``Table.from_table_name``), so a function that attaches the layer by ARN gets the same
    wiring as one attached with :meth:`HttpCache.attach`."""
    function.add_environment(TABLE_ENV, table.table_name)
    if metrics_service is not False:
        service = table.table_name if metrics_service is True else metrics_service
        function.add_environment(SERVICE_ENV, service)
    grant = iam.Grant.add_to_principal(
        grantee=function,
        actions=list(CACHE_TABLE_ACTIONS),
        resource_arns=[table.table_arn],
    )
    if bucket is not None:
        grant_large_object_access(function, bucket, bucket_prefix)
    return grant


def grant_large_object_access(
    function: lambda_.Function, bucket: s3.IBucket, prefix: str = DEFAULT_LARGE_OBJECT_PREFIX
) -> iam.Grant:
    """Point ``function`` at ``bucket`` for bodies too large for an item
    (``HTTP_CACHE_S3_BUCKET``, ``HTTP_CACHE_S3_PREFIX``) and grant it exactly
    :data:`LARGE_OBJECT_ACTIONS` on the objects under ``prefix``: no listing, no deletion, no
    other object. The bucket must be encrypted with S3-managed keys (a KMS key would need
    grants of its own)."""
    if not prefix or any(c in prefix for c in "*?$"):
        raise ValueError(f"bucket prefix {prefix!r}: expected a non-empty key prefix")
    function.add_environment(BUCKET_ENV, bucket.bucket_name)
    function.add_environment(PREFIX_ENV, prefix)
    grant = iam.Grant.add_to_principal(
        grantee=function,
        actions=list(LARGE_OBJECT_ACTIONS),
        resource_arns=[bucket.arn_for_objects(f"{prefix}*")],
    )
    if function.role is not None:
        _suppress_nag(
            function.role,
            "AwsSolutions-IAM5",
            "object keys are SHA-256 hashes of cache keys, unknown in advance: GetObject and "
            "PutObject only, on the cache prefix of the cache's bucket",
            [f"/^Resource::.*\\/{re.escape(prefix)}\\*$/"],
            regex=True,
            children=True,  # the role's default policy holds the statement
        )
    return grant


def layer_parameter_name(
    prefix: str, architectures: tuple[str, ...], python_versions: tuple[str, ...]
) -> str:
    """The SSM parameter name for a layer version ARN: ``<prefix>/layer-arn`` for the layer
    that serves every architecture and runtime, else one name per architecture and runtime."""
    if set(architectures) == set(ARCHITECTURES) and len(python_versions) > 1:
        return f"{prefix}/layer-arn"
    return f"{prefix}/layer-arn/{'-'.join(architectures)}/python{'-'.join(python_versions)}"


def load_layer_manifest(layer_dir: Path, *, build: bool = True) -> dict[str, Any]:
    """The manifest of the layer zips in ``layer_dir``, running ``scripts/build_layer.py``
    first (a no-op when the zips are up to date) when the script is there and ``build``."""
    if build and BUILD_SCRIPT.exists():
        subprocess.run(
            [sys.executable, str(BUILD_SCRIPT), "--out", str(layer_dir)],
            check=True,
            stdout=sys.stderr,  # `cdk synth` prints templates on stdout
        )
    manifest_path = layer_dir / LAYER_MANIFEST
    if not manifest_path.exists():
        raise FileNotFoundError(f"no layer in {layer_dir}: run `make layer` first")
    manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
    return manifest


def _runtime(version: str) -> lambda_.Runtime:
    runtime = getattr(lambda_.Runtime, f"PYTHON_{version.replace('.', '_')}", None)
    if not isinstance(runtime, lambda_.Runtime):
        raise ValueError(f"this aws-cdk-lib knows no python{version} runtime")
    return runtime


@dataclass(frozen=True)
class PublishedLayer:
    """One layer version, what it serves, and the SSM parameter holding its ARN."""

    layer: lambda_.LayerVersion
    architectures: tuple[str, ...]
    python_versions: tuple[str, ...]
    parameter: ssm.StringParameter | None

    def serves(self, function: lambda_.Function) -> bool:
        return function.architecture.name in self.architectures and function.runtime.name in {
            f"python{v}" for v in self.python_versions
        }


class HttpCache(Construct):
    """The ``http_cache`` table and the ``lambda_http_cache`` layer.

    Args:
        table_name: Physical name of the table (``http_cache``).
        removal_policy: What happens to the table and layer versions when they leave the
            stack. Default: kept (``RETAIN``, with deletion protection on the table), unless
            the context flag ``http-cache:destroy`` is true, then ``DESTROY``.
        layer_dir: Folder holding the zips and manifest written by ``make layer``
            (``dist/``); built first when missing or stale.
        build_layer: Whether to run the layer build when the zips are missing or stale.
        layer_name: Name of the layer (``lambda-http-cache``); each deploy of new contents
            publishes a new version of it.
        parameter_prefix: Prefix of the SSM parameters holding the layer version ARNs
            (``/lambda-http-cache``); None publishes no parameter.
        metrics_service: The ``service`` dimension of the cache's metrics: ``attach`` sets
            it as ``HTTP_CACHE_SERVICE`` on every function, and the dashboard and alarms
            watch it. Default: the table name, so one cache is one set of metrics.
        monitoring: Whether to add the CloudWatch dashboard and the two alarms (cache
            failure rate, table throttling). Default: True.
        large_object_bucket: Whether to create an S3 bucket for bodies too large for an item
            even compressed; ``attach`` then points functions at it and grants
            :data:`LARGE_OBJECT_ACTIONS` on ``large_object_prefix``. Default: False.
        large_object_expiry_days: Days after which the bucket's lifecycle rule deletes an
            object (1). Should be at least the longest expiry you cache: a body deleted
            earlier turns its hit into a miss.
        large_object_prefix: Key prefix of the objects (``lambda-http-cache/``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table_name: str = DEFAULT_TABLE_NAME,
        removal_policy: RemovalPolicy | None = None,
        layer_dir: Path | str | None = None,
        build_layer: bool = True,
        layer_name: str = DEFAULT_LAYER_NAME,
        parameter_prefix: str | None = DEFAULT_PARAMETER_PREFIX,
        metrics_service: str | None = None,
        monitoring: bool = True,
        large_object_bucket: bool = False,
        large_object_expiry_days: int = DEFAULT_LARGE_OBJECT_EXPIRY_DAYS,
        large_object_prefix: str = DEFAULT_LARGE_OBJECT_PREFIX,
    ) -> None:
        super().__init__(scope, construct_id)
        if large_object_expiry_days < 1:
            raise ValueError("large_object_expiry_days must be at least 1")
        if removal_policy is None:
            destroy = str(self.node.try_get_context(DESTROY_CONTEXT)).strip().lower()
            removal_policy = (
                RemovalPolicy.DESTROY if destroy in ("true", "1", "yes") else RemovalPolicy.RETAIN
            )
        self.removal_policy = removal_policy

        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=table_name,
            partition_key=dynamodb.Attribute(
                name=PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=removal_policy != RemovalPolicy.DESTROY,
            removal_policy=removal_policy,
        )

        layer_path = Path(layer_dir) if layer_dir is not None else DEFAULT_LAYER_DIR
        manifest = load_layer_manifest(layer_path, build=build_layer)
        self.version: str = manifest["version"]
        self.layers: list[PublishedLayer] = []
        for entry in manifest["layers"]:
            self.layers.append(
                self._publish(layer_path, entry, layer_name, parameter_prefix, len(self.layers))
            )

        self.metrics_service: str = metrics_service or table_name
        self.large_object_prefix = large_object_prefix
        self.bucket: s3.Bucket | None = None
        if large_object_bucket:
            self.bucket = self._large_object_bucket(large_object_expiry_days)

        self.dashboard: cloudwatch.Dashboard | None = None
        self.error_rate_alarm: cloudwatch.Alarm | None = None
        self.throttle_alarm: cloudwatch.Alarm | None = None
        self.alarms: list[cloudwatch.Alarm] = []
        if monitoring:
            self._monitoring()

    def _publish(
        self,
        layer_dir: Path,
        entry: dict[str, Any],
        layer_name: str,
        parameter_prefix: str | None,
        index: int,
    ) -> PublishedLayer:
        architectures = tuple(entry["architectures"])
        python_versions = tuple(entry["python_versions"])
        suffix = "" if index == 0 else str(index + 1)
        bytecode = ", ".join(entry["bytecode"]) or "none"
        layer = lambda_.LayerVersion(
            self,
            f"Layer{suffix}",
            code=lambda_.Code.from_asset(str(layer_dir / entry["file"])),
            compatible_architectures=[ARCHITECTURES[a] for a in architectures],
            compatible_runtimes=[_runtime(v) for v in python_versions],
            description=(
                f"lambda_http_cache {self.version}: HTTP cache in DynamoDB for requests "
                f"(pure Python, {'/'.join(architectures)}; bytecode for {bytecode})"
            ),
            layer_version_name=layer_name + (f"-{index + 1}" if index else ""),
            license="Apache-2.0",
            removal_policy=self.removal_policy,
        )
        parameter = None
        if parameter_prefix is not None:
            parameter = ssm.StringParameter(
                self,
                f"LayerArnParameter{suffix}",
                parameter_name=layer_parameter_name(
                    parameter_prefix, architectures, python_versions
                ),
                string_value=layer.layer_version_arn,
                description=(
                    f"Version ARN of the lambda_http_cache layer for {'/'.join(architectures)}, "
                    f"python{', python'.join(python_versions)}"
                ),
            )
        return PublishedLayer(layer, architectures, python_versions, parameter)

    def layer_for(self, function: lambda_.Function) -> lambda_.LayerVersion:
        """The layer version serving ``function``'s architecture and runtime."""
        for published in self.layers:
            if published.serves(function):
                return published.layer
        raise ValueError(
            f"no lambda_http_cache layer for {function.runtime.name} on "
            f"{function.architecture.name}"
        )

    def attach(
        self, function: lambda_.Function, *, metrics_service: bool = True
    ) -> lambda_.LayerVersion:
        """Add the matching layer to ``function``, set ``HTTP_CACHE_TABLE`` and grant exactly
        :data:`CACHE_TABLE_ACTIONS` on the table; set ``HTTP_CACHE_SERVICE`` to
        :attr:`metrics_service` unless ``metrics_service=False`` (the function's cache
        metrics then use its own service name, out of the dashboard's sight); with the
        bucket, point the function at it and grant :data:`LARGE_OBJECT_ACTIONS` on its
        prefix. Returns the layer added."""
        layer = self.layer_for(function)
        function.add_layers(layer)
        grant_cache_access(
            function,
            self.table,
            metrics_service=self.metrics_service if metrics_service else False,
            bucket=self.bucket,
            bucket_prefix=self.large_object_prefix,
        )
        return layer

    # Large bodies -------------------------------------------------------------------------

    def _large_object_bucket(self, expiry_days: int) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "LargeObjects",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-cached-bodies",
                    expiration=Duration.days(expiry_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=self.removal_policy,
        )
        _suppress_nag(
            bucket.node.default_child or bucket,
            "AwsSolutions-S1",
            "the bucket holds only expiring copies of cached response bodies under hashed "
            "keys; a server access log would record every cache hit and cost more than the "
            "objects; CloudTrail data events audit it where that is required",
        )
        return bucket

    # Monitoring ---------------------------------------------------------------------------

    def metric(
        self,
        name: str,
        *,
        statistic: str = cloudwatch.Stats.SUM,
        label: str | None = None,
        period: Duration = MONITORING_PERIOD,
    ) -> cloudwatch.Metric:
        """One of the library's metrics (``CacheHits``, ``CacheLatency``...) for the functions
        attached to this cache: namespace ``LambdaHttpCache``, dimension ``service``."""
        if name not in {*COUNT_METRICS.values(), *LATENCY_METRICS.values()}:
            raise ValueError(f"{name!r} is not a metric the library publishes")
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={METRICS_DIMENSION: self.metrics_service},
            statistic=statistic,
            label=label or name,
            period=period,
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

    def _monitoring(self) -> None:
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

        error_rate_alarm = failure_rate.create_alarm(
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
        throttle_alarm = throttled.create_alarm(
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
        self.error_rate_alarm = error_rate_alarm
        self.throttle_alarm = throttle_alarm
        self.alarms = [error_rate_alarm, throttle_alarm]

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
                    "requests. Hurting: failures, bypasses, throttles. The project README's "
                    '"Dashboard and alarms" explains each graph.'
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
                    self.table.metric_consumed_read_capacity_units(
                        label="Read units", period=MONITORING_PERIOD
                    ),
                    self.table.metric_consumed_write_capacity_units(
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
        self.dashboard = dashboard
