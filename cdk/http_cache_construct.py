"""``HttpCache``: the cache table, the layer, and one call to wire a function to both.

Use it in any CDK app (copy this file and ``http_cache_monitoring.py`` beside your app, or put
this folder on ``sys.path``). A copied file cannot find the repository's ``dist/``: give it the
folder that ``make layer`` wrote::

    from http_cache_construct import HttpCache

    cache = HttpCache(self, "HttpCache", layer_dir="/path/to/lambda-http-cache/dist")
    #                                   table "http_cache", the layer, a dashboard
    cache.attach(my_function)                      # layer + environment + least privilege
    cache.attach(fn_a, namespace="catalog")        # two functions sharing their entries
    cache.attach(fn_b, namespace="catalog")

The table is the construct's, shaped by ``table_props`` (merged over
:func:`default_table_props`), or one of yours, ``existing_table``::

    HttpCache(self, "HttpCache", table_props={"table_name": "my_cache"})
    HttpCache(self, "HttpCache", existing_table=Table.from_table_name(self, "T", "shared"))

Namespaces are an access boundary. Every table key the library writes or reads starts with
the function's namespace (``<namespace>:...``, set as ``HTTP_CACHE_NAMESPACE``), and what
``attach`` grants a function is :data:`CACHE_TABLE_ACTIONS` on the table's ARN, only for the
keys of that namespace (the condition ``dynamodb:LeadingKeys`` like ``<namespace>:*``), and
nothing else. Those are the only DynamoDB calls the library makes on a Lambda hot path: one
GetItem per lookup, one PutItem per stored response or redirect alias. Provisioning calls
(CreateTable, DescribeTable, UpdateTimeToLive) belong to this construct; Scan, DeleteItem and
BatchWriteItem serve maintenance such as ``cache.clear()``, which is not a function's job; a
function whose code does maintain the cache adds those grants itself. With the optional
bucket for large bodies, it also grants :data:`LARGE_OBJECT_ACTIONS` on the objects under
``<prefix><namespace>/``, and nothing else. A function's default namespace is its own
(:func:`default_namespace`); functions meant to share entries are given the same one.

Each deployment gets its own random secret for the keyed hash of credentials in cache keys:
a Secrets Manager secret generated when the stack is created, handed to every attached
function as ``HTTP_CACHE_KEY_SECRET`` through a CloudFormation dynamic reference (resolved at
deploy time: the value is in no template, and the function needs no Secrets Manager grant).

By default the construct also adds a CloudWatch dashboard and two alarms over the metrics the
library publishes: an :class:`http_cache_monitoring.HttpCacheMonitoring`, the module beside
this one, which also holds the metric names (``monitoring=False`` leaves them out). Both files
need nothing but aws-cdk-lib.
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Annotations, Duration, Names, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct, IConstruct
from http_cache_monitoring import MONITORING_PERIOD, HttpCacheMonitoring, cache_metric

# The DynamoDB actions a function using the library needs at run time: the one place they are
# listed. The tests check every function role against this tuple.
CACHE_TABLE_ACTIONS: tuple[str, ...] = ("dynamodb:GetItem", "dynamodb:PutItem")
# ...granted only on the items of the function's namespace: every key the library writes or
# reads is "<namespace>:<...>", and a namespace is 1 to 64 of these characters (no ":", "/",
# "*" or "?"), as the library checks (lambda_http_cache.config.NAMESPACE).
LEADING_KEYS = "dynamodb:LeadingKeys"
NAMESPACE_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
NAMESPACE_MAX_LENGTH = 64

# The environment variables the library reads (lambda_http_cache.config.ENVIRONMENT).
TABLE_ENV = "HTTP_CACHE_TABLE"
NAMESPACE_ENV = "HTTP_CACHE_NAMESPACE"
SERVICE_ENV = "HTTP_CACHE_SERVICE"
KEY_SECRET_ENV = "HTTP_CACHE_KEY_SECRET"
BUCKET_ENV = "HTTP_CACHE_S3_BUCKET"
PREFIX_ENV = "HTTP_CACHE_S3_PREFIX"
DEFAULT_TABLE_NAME = "http_cache"
PARTITION_KEY = "key"
TTL_ATTRIBUTE = "ttl"

# Context flag: `cdk deploy -c http-cache:destroy=true` for throwaway stacks (the table, the
# layer versions and the bucket, if empty, are deleted with the stack instead of being kept).
DESTROY_CONTEXT = "http-cache:destroy"
# SSM parameters holding the layer version ARN and the key secret's ARN live under this
# prefix.
DEFAULT_PARAMETER_PREFIX = "/lambda-http-cache"
KEY_SECRET_PARAMETER = "key-secret-arn"
DEFAULT_LAYER_NAME = "lambda-http-cache"
# The secret of the keyed hash of credentials in cache keys: generated by Secrets Manager,
# letters and digits (it travels in an environment variable).
KEY_SECRET_LENGTH = 64

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LAYER_DIR = PROJECT_ROOT / "dist"
BUILD_SCRIPT = PROJECT_ROOT / "scripts" / "build_layer.py"
LAYER_MANIFEST = "layer-manifest.json"

ARCHITECTURES = {"x86_64": lambda_.Architecture.X86_64, "arm64": lambda_.Architecture.ARM_64}

# The optional S3 bucket for bodies too large for an item even compressed: the only S3 calls
# the library makes, on "<prefix><namespace>/<sha256>" (lambda_http_cache.large_objects).
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


# The namespace each function was given, so that its grants and HTTP_CACHE_NAMESPACE agree.
_namespaces: weakref.WeakKeyDictionary[lambda_.Function, str] = weakref.WeakKeyDictionary()


def validate_namespace(namespace: str) -> str:
    """``namespace`` if it is one the library accepts, else ValueError naming it."""
    if not isinstance(namespace, str) or not NAMESPACE_PATTERN.fullmatch(namespace):
        raise ValueError(
            f"namespace {namespace!r}: expected 1 to {NAMESPACE_MAX_LENGTH} of A-Z a-z 0-9 _ . -"
        )
    return namespace


def default_namespace(function: IConstruct) -> str:
    """The namespace of a function given none: its construct path (stack and ids, joined by
    ``.``) and a hash of that path, at most 64 characters. Stable across deploys, unique in the
    app; it changes if the function moves in the construct tree (its entries then become
    misses). Not the function's name: a function referring to its own name in its
    environment is a circular dependency in CloudFormation."""
    name = Names.unique_resource_name(
        function, max_length=NAMESPACE_MAX_LENGTH, separator=".", allowed_special_characters="_.-"
    )
    return validate_namespace(re.sub(r"[^A-Za-z0-9_.-]", "", name))


def namespace_of(function: lambda_.Function) -> str | None:
    """The namespace this module gave ``function`` (``HTTP_CACHE_NAMESPACE``), if any."""
    return _namespaces.get(function)


def _set_namespace(function: lambda_.Function, namespace: str | None) -> str:
    """Validate ``namespace`` (default: the one ``function`` already has, else
    :func:`default_namespace`), set it as ``HTTP_CACHE_NAMESPACE`` and return it. A function
    has one namespace: granting it a second one is a ValueError."""
    current = _namespaces.get(function)
    if namespace is None:
        namespace = current or default_namespace(function)
    validate_namespace(namespace)
    if current is not None and current != namespace:
        raise ValueError(
            f"namespace {namespace!r}: {function.node.path} already has the namespace "
            f"{current!r} (a function reads and writes one namespace)"
        )
    _namespaces[function] = namespace
    function.add_environment(NAMESPACE_ENV, namespace)
    return namespace


def grant_cache_access(
    function: lambda_.Function,
    table: dynamodb.ITable,
    *,
    namespace: str | None = None,
    key_secret: secretsmanager.ISecret | None = None,
    metrics_service: str | bool = True,
    bucket: s3.IBucket | None = None,
    bucket_prefix: str = DEFAULT_LARGE_OBJECT_PREFIX,
) -> iam.Grant:
    """Point ``function`` at ``table`` (``HTTP_CACHE_TABLE``) in ``namespace``
    (``HTTP_CACHE_NAMESPACE``) and grant it exactly :data:`CACHE_TABLE_ACTIONS` on the table's
    ARN, for the items of that namespace only: the condition ``ForAllValues:StringLike``
    ``dynamodb:LeadingKeys`` ``<namespace>:*``. The function can neither read nor write
    another namespace's entries.

    ``namespace`` must match ``[A-Za-z0-9_.-]{1,64}`` (ValueError otherwise); by default, the
    one the function was already given, else its own (:func:`default_namespace`). Functions
    meant to share entries are given the same namespace; a function has one namespace, and
    giving it a second is a ValueError.

    ``key_secret`` sets ``HTTP_CACHE_KEY_SECRET`` to the secret's value through a
    CloudFormation dynamic reference (``{{resolve:secretsmanager:...}}``), resolved when the
    stack deploys: the value is in no template, and the function reads it from its
    environment, with no Secrets Manager call or grant. Use the secret of the
    :class:`HttpCache` that owns the table (its ARN is in the SSM parameter
    ``<prefix>/key-secret-arn``); None leaves the variable unset (the library then derives
    a weaker key from the table name).

    ``metrics_service`` sets ``HTTP_CACHE_SERVICE``, the ``service`` dimension of the cache's
    metrics: True (the default) the table's name, which is what :class:`HttpCache`'s
    dashboard and alarms watch by default; a string, that value; False leaves it unset (the
    library then uses ``POWERTOOLS_SERVICE_NAME``, else the function's name). With
    ``bucket``, also :func:`grant_large_object_access` on ``bucket_prefix``.

    Works for a table this app owns and for one imported by name
    (``Table.from_table_name``), so a function that attaches the layer by ARN gets the same
    wiring as one attached with :meth:`HttpCache.attach`."""
    namespace = _set_namespace(function, namespace)
    function.add_environment(TABLE_ENV, table.table_name)
    if key_secret is not None:
        function.add_environment(KEY_SECRET_ENV, key_secret.secret_value.unsafe_unwrap())
    if metrics_service is not False:
        service = table.table_name if metrics_service is True else metrics_service
        function.add_environment(SERVICE_ENV, service)
    grant = iam.Grant.add_to_principal(
        grantee=function,
        actions=list(CACHE_TABLE_ACTIONS),
        resource_arns=[table.table_arn],
        conditions={"ForAllValues:StringLike": {LEADING_KEYS: [f"{namespace}:*"]}},
    )
    if bucket is not None:
        grant_large_object_access(function, bucket, bucket_prefix, namespace=namespace)
    return grant


def grant_large_object_access(
    function: lambda_.Function,
    bucket: s3.IBucket,
    prefix: str = DEFAULT_LARGE_OBJECT_PREFIX,
    *,
    namespace: str | None = None,
) -> iam.Grant:
    """Point ``function`` at ``bucket`` for bodies too large for an item
    (``HTTP_CACHE_S3_BUCKET``, ``HTTP_CACHE_S3_PREFIX``) and grant it exactly
    :data:`LARGE_OBJECT_ACTIONS` on the objects under ``<prefix><namespace>/``, where the
    library keeps its namespace's bodies: no listing, no deletion, no other object.
    ``namespace``: by default the one the function was given by :func:`grant_cache_access`,
    else its own (:func:`default_namespace`). The bucket must be encrypted with S3-managed
    keys (a KMS key would need grants of its own)."""
    if not prefix or any(c in prefix for c in "*?$"):
        raise ValueError(f"bucket prefix {prefix!r}: expected a non-empty key prefix")
    namespace = _set_namespace(function, namespace)
    function.add_environment(BUCKET_ENV, bucket.bucket_name)
    function.add_environment(PREFIX_ENV, prefix)
    objects = f"{prefix}{namespace}/"
    grant = iam.Grant.add_to_principal(
        grantee=function,
        actions=list(LARGE_OBJECT_ACTIONS),
        resource_arns=[bucket.arn_for_objects(f"{objects}*")],
    )
    if function.role is not None:
        _suppress_nag(
            function.role,
            "AwsSolutions-IAM5",
            "object keys are SHA-256 hashes of cache keys, unknown in advance: GetObject and "
            "PutObject only, on the function's namespace under the cache prefix of the "
            "cache's bucket",
            [f"/^Resource::.*\\/{re.escape(objects)}\\*$/"],
            regex=True,
            children=True,  # the role's default policy holds the statement
        )
    return grant


def key_secret_parameter_name(prefix: str) -> str:
    """The SSM parameter name for the key secret's ARN: ``<prefix>/key-secret-arn``."""
    return f"{prefix}/{KEY_SECRET_PARAMETER}"


def layer_parameter_name(prefix: str) -> str:
    """The SSM parameter name for the layer version ARN: ``<prefix>/layer-arn``."""
    return f"{prefix}/layer-arn"


def load_layer_manifest(layer_dir: Path, *, build: bool = True) -> dict[str, Any]:
    """The manifest of the layer zip in ``layer_dir``, running ``scripts/build_layer.py``
    first (a no-op when the zip is up to date) when the script is there and ``build``."""
    if build and BUILD_SCRIPT.exists():
        subprocess.run(
            [sys.executable, str(BUILD_SCRIPT), "--out", str(layer_dir)],
            check=True,
            stdout=sys.stderr,  # `cdk synth` prints templates on stdout
        )
    manifest_path = layer_dir / LAYER_MANIFEST
    if not manifest_path.exists():
        # Said in full: a copy of this file in another app has no dist/ where it looks.
        looked = (
            "the dist/ folder beside the folder holding http_cache_construct.py, where it "
            "looks when not given layer_dir="
            if layer_dir == DEFAULT_LAYER_DIR
            else "the folder given as layer_dir="
        )
        raise FileNotFoundError(
            f"no layer in {layer_dir} ({looked}): HttpCache looked for {manifest_path} and "
            "found none. Build the layer with `make layer` in the lambda-http-cache "
            "repository, then point HttpCache at the folder it writes, with "
            'HttpCache(..., layer_dir="/path/to/lambda-http-cache/dist")'
        )
    manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
    return manifest


def layer_zip(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest's entry for the layer zip: ``scripts/build_layer.py`` builds one, for both
    architectures and every runtime (it fails rather than split the layer). Another count is
    a manifest from something else: ValueError."""
    entries = manifest.get("layers", [])
    if len(entries) != 1:
        raise ValueError(
            f"{LAYER_MANIFEST}: {len(entries)} layer zips, expected one for both architectures "
            "and every runtime: rebuild it with `make layer FORCE=1`"
        )
    entry: dict[str, Any] = entries[0]
    return entry


def _runtime(version: str) -> lambda_.Runtime:
    runtime = getattr(lambda_.Runtime, f"PYTHON_{version.replace('.', '_')}", None)
    if not isinstance(runtime, lambda_.Runtime):
        raise ValueError(f"this aws-cdk-lib knows no python{version} runtime")
    return runtime


def default_table_props(removal_policy: RemovalPolicy) -> dict[str, Any]:
    """What :class:`HttpCache` gives the table it creates, before its ``table_props``: the
    name ``http_cache``, the key schema and TTL attribute the library writes (partition key
    ``key``, String; TTL on ``ttl``), on-demand capacity, point-in-time recovery, AWS managed
    encryption, and ``removal_policy`` (deletion protection unless it is ``DESTROY``)."""
    return {
        "table_name": DEFAULT_TABLE_NAME,
        "partition_key": dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
        "time_to_live_attribute": TTL_ATTRIBUTE,
        "billing_mode": dynamodb.BillingMode.PAY_PER_REQUEST,
        "point_in_time_recovery_specification": dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        "encryption": dynamodb.TableEncryption.AWS_MANAGED,
        "deletion_protection": removal_policy != RemovalPolicy.DESTROY,
        "removal_policy": removal_policy,
    }


def _given_props(props: dynamodb.TableProps | Mapping[str, Any]) -> dict[str, Any]:
    """The settings given in ``props`` (a ``TableProps`` or the keyword arguments of
    ``dynamodb.Table``): those that are not None."""
    if isinstance(props, dynamodb.TableProps):
        properties = inspect.getmembers(type(props), lambda m: isinstance(m, property))
        return {n: getattr(props, n) for n, _ in properties if getattr(props, n) is not None}
    return {name: value for name, value in props.items() if value is not None}


def _check_key_schema(
    partition_keys: list[dynamodb.Attribute], sort_keys: list[dynamodb.Attribute], what: str
) -> None:
    """ValueError unless the key schema is the library's: partition key ``key`` (String)
    alone."""
    found = [(k.name, k.type) for k in partition_keys]
    if found != [(PARTITION_KEY, dynamodb.AttributeType.STRING)]:
        shown = ", ".join(f"{name!r} ({kind.name})" for name, kind in found) or "none"
        raise ValueError(
            f"{what}: the partition key must be {PARTITION_KEY!r} (String), the key the "
            f"library reads and writes, not {shown}"
        )
    if sort_keys:
        raise ValueError(
            f"{what}: no sort key ({sort_keys[0].name!r}): the library's items are keyed by "
            f"{PARTITION_KEY!r} alone"
        )


def cache_table_props(
    removal_policy: RemovalPolicy, table_props: dynamodb.TableProps | Mapping[str, Any]
) -> dict[str, Any]:
    """:func:`default_table_props` with ``table_props`` merged over them (a setting given as
    None keeps the default). ValueError if they change what the library relies on: the
    partition key ``key`` (String), no sort key, the TTL attribute ``ttl``."""
    props = {**default_table_props(removal_policy), **_given_props(table_props)}
    sort_key = props.get("sort_key")
    _check_key_schema([props["partition_key"]], [sort_key] if sort_key else [], "table_props")
    if props["time_to_live_attribute"] != TTL_ATTRIBUTE:
        raise ValueError(
            f"table_props: time_to_live_attribute must be {TTL_ATTRIBUTE!r}, the attribute "
            f"the library writes, not {props['time_to_live_attribute']!r}"
        )
    return props


@dataclass(frozen=True)
class PublishedLayer:
    """The layer version, what it serves, and the SSM parameter holding its ARN."""

    layer: lambda_.LayerVersion
    architectures: tuple[str, ...]
    python_versions: tuple[str, ...]
    parameter: ssm.StringParameter | None
    # The Python versions the layer carries bytecode for: on any other, every cold start
    # compiles the layer again (it is mounted read-only).
    bytecode: tuple[str, ...] = ()

    def serves(self, function: lambda_.Function) -> bool:
        return function.architecture.name in self.architectures and function.runtime.name in {
            f"python{v}" for v in self.python_versions
        }


class HttpCache(Construct):
    """The ``http_cache`` table, the ``lambda_http_cache`` layer and the key secret.

    Args:
        existing_table: A table of yours to use instead of creating one (``Table``, or
            imported with ``Table.from_table_name``...): partition key ``key`` (String)
            alone, TTL on ``ttl``. The construct leaves it as it is: ``removal_policy``
            does not apply to it. Exclusive with ``table_props``.
        table_props: Settings of the table the construct creates (a ``dynamodb.TableProps``
            or a dict of ``dynamodb.Table``'s keyword arguments), merged over
            :func:`default_table_props`. They may not change the partition key, add a sort
            key or change the TTL attribute (ValueError). Exclusive with ``existing_table``.
        removal_policy: What happens to the table, layer versions and key secret when they
            leave the stack. Default: kept (``RETAIN``, with deletion protection on the
            table), unless the context flag ``http-cache:destroy`` is true, then ``DESTROY``.
        layer_dir: Folder holding the zip and manifest written by ``make layer``
            (``dist/``); built first when missing or stale.
        build_layer: Whether to run the layer build when the zip is missing or stale.
        layer_name: Name of the layer (``lambda-http-cache``); each deploy of new contents
            publishes a new version of it (:attr:`layer`, for both architectures and every
            runtime the zip declares; :attr:`published_layer` says which).
        parameter_prefix: Prefix of the SSM parameters holding the layer version ARN
            (:attr:`layer_parameter`) and the key secret's ARN (``/lambda-http-cache``);
            None publishes no parameter.
        key_secret: The secret ``attach`` hands to every function as
            ``HTTP_CACHE_KEY_SECRET`` (by a dynamic reference, resolved at deploy time).
            Default: a new secret of 64 random letters and digits, generated by Secrets
            Manager for this deployment.
        metrics_service: The ``service`` dimension of the cache's metrics: ``attach`` sets
            it as ``HTTP_CACHE_SERVICE`` on every function, and the dashboard and alarms
            watch it. Default: the table's name, so one cache is one set of metrics.
        monitoring: Whether to add the CloudWatch dashboard and the two alarms (cache
            failure rate, table throttling), an :class:`HttpCacheMonitoring` of the table
            and ``metrics_service`` (:attr:`monitoring`; :attr:`dashboard`,
            :attr:`error_rate_alarm`, :attr:`throttle_alarm` and :attr:`alarms` are its).
            Default: True.
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
        existing_table: dynamodb.ITable | None = None,
        table_props: dynamodb.TableProps | Mapping[str, Any] | None = None,
        removal_policy: RemovalPolicy | None = None,
        layer_dir: Path | str | None = None,
        build_layer: bool = True,
        layer_name: str = DEFAULT_LAYER_NAME,
        parameter_prefix: str | None = DEFAULT_PARAMETER_PREFIX,
        key_secret: secretsmanager.ISecret | None = None,
        metrics_service: str | None = None,
        monitoring: bool = True,
        large_object_bucket: bool = False,
        large_object_expiry_days: int = DEFAULT_LARGE_OBJECT_EXPIRY_DAYS,
        large_object_prefix: str = DEFAULT_LARGE_OBJECT_PREFIX,
    ) -> None:
        super().__init__(scope, construct_id)
        if large_object_expiry_days < 1:
            raise ValueError("large_object_expiry_days must be at least 1")
        if existing_table is not None and table_props is not None:
            raise ValueError(
                "HttpCache: existing_table and table_props given: give one of existing_table (a "
                "table of yours, used as it is) and table_props (the settings of the table "
                "HttpCache creates)"
            )
        if removal_policy is None:
            destroy = str(self.node.try_get_context(DESTROY_CONTEXT)).strip().lower()
            removal_policy = (
                RemovalPolicy.DESTROY if destroy in ("true", "1", "yes") else RemovalPolicy.RETAIN
            )
        self.removal_policy = removal_policy

        # The table in use (:attr:`table`), and the one this construct created, if it did.
        self.owned_table: dynamodb.Table | None = None
        if existing_table is not None:
            if isinstance(existing_table, dynamodb.Table):
                schema = existing_table.schema_v2()
                _check_key_schema(
                    list(schema.partition_keys), list(schema.sort_keys or []), "existing_table"
                )
            self.table: dynamodb.ITable = existing_table
            literal_name: str | None = None
        else:
            props = cache_table_props(removal_policy, table_props or {})
            self.owned_table = dynamodb.Table(self, "Table", **props)
            self.table = self.owned_table
            literal_name = props.get("table_name")

        self.key_secret: secretsmanager.ISecret = key_secret or self._key_secret()
        self.key_secret_parameter: ssm.StringParameter | None = None
        if parameter_prefix is not None:
            self.key_secret_parameter = ssm.StringParameter(
                self,
                "KeySecretArnParameter",
                parameter_name=key_secret_parameter_name(parameter_prefix),
                string_value=self.key_secret.secret_arn,
                description=(
                    "ARN of the lambda_http_cache key secret (HTTP_CACHE_KEY_SECRET), not its value"
                ),
            )

        layer_path = Path(layer_dir) if layer_dir is not None else DEFAULT_LAYER_DIR
        manifest = load_layer_manifest(layer_path, build=build_layer)
        self.version: str = manifest["version"]
        self.published_layer: PublishedLayer = self._publish(
            layer_path, layer_zip(manifest), layer_name, parameter_prefix
        )

        # The name as given, else the table's (a reference to the name CloudFormation gives).
        self.metrics_service: str = metrics_service or literal_name or self.table.table_name
        self.large_object_prefix = large_object_prefix
        self.bucket: s3.Bucket | None = None
        if large_object_bucket:
            self.bucket = self._large_object_bucket(large_object_expiry_days)

        self.monitoring: HttpCacheMonitoring | None = None
        if monitoring:
            # The id "Default" leaves the dashboard's and the alarms' logical ids as they were
            # when this construct made them itself: a new id would replace them on the next
            # deploy (a new dashboard name, the alarms' history lost).
            self.monitoring = HttpCacheMonitoring(
                self, "Default", table=self.table, metrics_service=self.metrics_service
            )

    @property
    def layer(self) -> lambda_.LayerVersion:
        """The layer version (:attr:`published_layer`'s)."""
        return self.published_layer.layer

    @property
    def layer_parameter(self) -> ssm.StringParameter | None:
        """The SSM parameter holding the layer version ARN, None without ``parameter_prefix``."""
        return self.published_layer.parameter

    @property
    def dashboard(self) -> cloudwatch.Dashboard | None:
        """:attr:`monitoring`'s dashboard, None with ``monitoring=False``."""
        return self.monitoring.dashboard if self.monitoring else None

    @property
    def error_rate_alarm(self) -> cloudwatch.Alarm | None:
        """:attr:`monitoring`'s cache failure rate alarm, None with ``monitoring=False``."""
        return self.monitoring.error_rate_alarm if self.monitoring else None

    @property
    def throttle_alarm(self) -> cloudwatch.Alarm | None:
        """:attr:`monitoring`'s table throttling alarm, None with ``monitoring=False``."""
        return self.monitoring.throttle_alarm if self.monitoring else None

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """:attr:`monitoring`'s two alarms, none with ``monitoring=False``."""
        return list(self.monitoring.alarms) if self.monitoring else []

    def _publish(
        self,
        layer_dir: Path,
        entry: dict[str, Any],
        layer_name: str,
        parameter_prefix: str | None,
    ) -> PublishedLayer:
        architectures = tuple(entry["architectures"])
        python_versions = tuple(entry["python_versions"])
        bytecode = ", ".join(entry["bytecode"]) or "none"
        layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(str(layer_dir / entry["file"])),
            compatible_architectures=[ARCHITECTURES[a] for a in architectures],
            compatible_runtimes=[_runtime(v) for v in python_versions],
            description=(
                f"lambda_http_cache {self.version}: HTTP cache in DynamoDB for requests "
                f"(pure Python, {'/'.join(architectures)}; bytecode for {bytecode})"
            ),
            layer_version_name=layer_name,
            license="Apache-2.0",
            removal_policy=self.removal_policy,
        )
        parameter = None
        if parameter_prefix is not None:
            parameter = ssm.StringParameter(
                self,
                "LayerArnParameter",
                parameter_name=layer_parameter_name(parameter_prefix),
                string_value=layer.layer_version_arn,
                description=(
                    f"Version ARN of the lambda_http_cache layer for {'/'.join(architectures)}, "
                    f"python{', python'.join(python_versions)}"
                ),
            )
        return PublishedLayer(
            layer, architectures, python_versions, parameter, tuple(entry.get("bytecode", ()))
        )

    @property
    def bytecode_runtime(self) -> lambda_.Runtime:
        """The newest Python runtime the layer carries bytecode for (the one to deploy on)."""
        versions = set(self.published_layer.bytecode)
        if not versions:
            raise ValueError("the layer carries no bytecode: run `make layer FORCE=1`")
        newest = max(versions, key=lambda v: tuple(int(p) for p in v.split(".")))
        return _runtime(newest)

    def layer_for(self, function: lambda_.Function) -> lambda_.LayerVersion:
        """:attr:`layer`, if it serves ``function``'s architecture and runtime, else
        ValueError."""
        if not self.published_layer.serves(function):
            raise ValueError(
                f"no lambda_http_cache layer for {function.runtime.name} on "
                f"{function.architecture.name}"
            )
        return self.layer

    def attach(
        self,
        function: lambda_.Function,
        *,
        namespace: str | None = None,
        metrics_service: bool = True,
    ) -> lambda_.LayerVersion:
        """Add the layer to ``function``, set ``HTTP_CACHE_TABLE``,
        ``HTTP_CACHE_NAMESPACE`` and ``HTTP_CACHE_KEY_SECRET`` (a dynamic reference to
        :attr:`key_secret`), and grant exactly :data:`CACHE_TABLE_ACTIONS` on the table, for
        the items of ``namespace`` only (see :func:`grant_cache_access`; default: the
        function's own, :func:`default_namespace`; give functions that should share entries
        the same one). Set ``HTTP_CACHE_SERVICE`` to :attr:`metrics_service` unless
        ``metrics_service=False`` (the function's cache metrics then use its own service
        name, out of the dashboard's sight); with the bucket, point the function at it and
        grant :data:`LARGE_OBJECT_ACTIONS` on its namespace's objects. Returns the layer
        added."""
        layer = self.layer_for(function)
        grant_cache_access(
            function,
            self.table,
            namespace=namespace,
            key_secret=self.key_secret,
            metrics_service=self.metrics_service if metrics_service else False,
            bucket=self.bucket,
            bucket_prefix=self.large_object_prefix,
        )
        function.add_layers(layer)
        if function.runtime.name not in {f"python{v}" for v in self.published_layer.bytecode}:
            version = function.runtime.name.removeprefix("python")
            Annotations.of(function).add_warning_v2(
                "lambda-http-cache:no-bytecode",
                f"the lambda_http_cache layer has no bytecode for {function.runtime.name}: "
                "every cold start compiles it again (about twice the import time). Build it "
                f"with that interpreter: LAYER_PYTHON_{version.replace('.', '_')}="
                f"/path/to/python{version} make layer FORCE=1",
            )
        return layer

    # The key secret -----------------------------------------------------------------------

    def _key_secret(self) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            "KeySecret",
            description=(
                "lambda-http-cache: secret of the keyed hash of credentials in cache keys "
                "(HTTP_CACHE_KEY_SECRET), generated for this deployment"
            ),
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=KEY_SECRET_LENGTH,
                exclude_punctuation=True,
                include_space=False,
            ),
            removal_policy=self.removal_policy,
        )
        _suppress_nag(
            secret,
            "AwsSolutions-SMG4",
            "rotating the key secret changes every credentialed cache key, so those entries "
            "become misses until refilled; functions get the value at deploy time (a dynamic "
            "reference), so a rotation would only take effect at the next deploy that updates "
            "them. Change it by hand when needed, then redeploy",
        )
        return secret

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
        attached to this cache: namespace ``LambdaHttpCache``, dimension ``service``. There
        with or without ``monitoring``."""
        return cache_metric(
            name, self.metrics_service, statistic=statistic, label=label, period=period
        )
