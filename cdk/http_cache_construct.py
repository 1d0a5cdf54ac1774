"""``HttpCache``: the cache table, the layer, and one call to wire a function to both.

Use it in any CDK app (copy this file beside your app, or put this folder on ``sys.path``)::

    from http_cache_construct import HttpCache

    cache = HttpCache(self, "HttpCache")          # table "http_cache" + the layer
    cache.attach(my_function)                      # layer + HTTP_CACHE_TABLE + least privilege

What ``attach`` grants a function is :data:`CACHE_TABLE_ACTIONS` on the table's ARN and
nothing else. Those are the only DynamoDB calls the library makes on a Lambda hot path: one
GetItem per lookup, one PutItem per stored response or redirect alias. Provisioning calls
(CreateTable, DescribeTable, UpdateTimeToLive) belong to this construct; Scan, DeleteItem and
BatchWriteItem serve maintenance such as ``cache.clear()``, which is not a function's job; a
function whose code does maintain the cache adds those grants itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ssm as ssm
from constructs import Construct

# The DynamoDB actions a function using the library needs at run time: the one place they are
# listed. The tests check every function role against this tuple.
CACHE_TABLE_ACTIONS: tuple[str, ...] = ("dynamodb:GetItem", "dynamodb:PutItem")

# The environment variable the library reads the table name from.
TABLE_ENV = "HTTP_CACHE_TABLE"
DEFAULT_TABLE_NAME = "http_cache"
PARTITION_KEY = "key"
TTL_ATTRIBUTE = "ttl"

# Context flag: `cdk deploy -c http-cache:destroy=true` for throwaway stacks (the table and
# the layer versions are deleted with the stack instead of being kept).
DESTROY_CONTEXT = "http-cache:destroy"
# SSM parameters holding the layer version ARN(s) live under this prefix.
DEFAULT_PARAMETER_PREFIX = "/lambda-http-cache"
DEFAULT_LAYER_NAME = "lambda-http-cache"

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LAYER_DIR = PROJECT_ROOT / "dist"
BUILD_SCRIPT = PROJECT_ROOT / "scripts" / "build_layer.py"
LAYER_MANIFEST = "layer-manifest.json"

ARCHITECTURES = {"x86_64": lambda_.Architecture.X86_64, "arm64": lambda_.Architecture.ARM_64}


def grant_cache_access(function: lambda_.Function, table: dynamodb.ITable) -> iam.Grant:
    """Point ``function`` at ``table`` (``HTTP_CACHE_TABLE``) and grant it exactly
    :data:`CACHE_TABLE_ACTIONS` on the table's ARN.

    Works for a table this app owns and for one imported by name
    (``Table.from_table_name``), so a function that attaches the layer by ARN gets the same
    wiring as one attached with :meth:`HttpCache.attach`."""
    function.add_environment(TABLE_ENV, table.table_name)
    return iam.Grant.add_to_principal(
        grantee=function,
        actions=list(CACHE_TABLE_ACTIONS),
        resource_arns=[table.table_arn],
    )


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
    ) -> None:
        super().__init__(scope, construct_id)
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

    def attach(self, function: lambda_.Function) -> lambda_.LayerVersion:
        """Add the matching layer to ``function``, set ``HTTP_CACHE_TABLE`` and grant exactly
        :data:`CACHE_TABLE_ACTIONS` on the table. Returns the layer added."""
        layer = self.layer_for(function)
        function.add_layers(layer)
        grant_cache_access(function, self.table)
        return layer
