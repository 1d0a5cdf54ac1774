"""What the CDK and layer tests share: one layer build and one synthesis of each app per test
session (the project's app, and a small app with the construct's options)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from scripts import build_layer

ROOT = Path(__file__).resolve().parents[2]
CDK_DIR = ROOT / "cdk"

_layer_dirs: dict[str, Path] = {}
_syntheses: dict[str, Synthesis] = {}
OPTIONS_STACK = "HttpCacheOptions"
IMPORTED_BUCKET = "my-large-bodies"
IMPORTED_SECRET = "my-cache-key-secret"
BY_NAME_NAMESPACE = "by-name"


def layer_dir(factory: pytest.TempPathFactory, name: str = "layer") -> Path:
    """A folder holding a layer built by ``scripts/build_layer.py`` in this session; each
    ``name`` is a separate build."""
    if name not in _layer_dirs:
        out = factory.mktemp(name)
        build_layer.build(out)
        _layer_dirs[name] = out
    return _layer_dirs[name]


def _cdk_on_path() -> None:
    """cdk/ on the path as ``python cdk/app.py`` has it (its modules import each other as
    top-level modules)."""
    # Quiet jsii's end-of-life banner for Node 20 in the Node processes started from here on.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    if str(CDK_DIR) not in sys.path:
        sys.path.insert(0, str(CDK_DIR))


def cdk_modules() -> tuple[ModuleType, ModuleType]:
    """The app's modules ``http_cache_construct`` and ``http_cache_stacks``."""
    _cdk_on_path()
    import http_cache_construct
    import http_cache_stacks

    return http_cache_construct, http_cache_stacks


def monitoring_module() -> ModuleType:
    """The module ``http_cache_monitoring``: the dashboard and alarms, and the metric names."""
    _cdk_on_path()
    import http_cache_monitoring

    return http_cache_monitoring


@dataclass
class Synthesis:
    """The project's app, synthesized once, with cdk-nag's AwsSolutions checks applied."""

    app: Any
    stacks: dict[str, Any]
    templates: dict[str, dict[str, Any]]
    outdir: Path
    layer_dir: Path


def _synthesize(name: str, app: Any, layers: Path) -> Synthesis:
    from aws_cdk import Stack

    assembly = app.synth()
    by_name = {s.stack_name: s for s in app.node.children if isinstance(s, Stack)}
    templates = {
        stack.stack_name: json.loads(
            (Path(assembly.directory) / stack.template_file).read_text(encoding="utf-8")
        )
        for stack in assembly.stacks
    }
    _syntheses[name] = Synthesis(app, by_name, templates, Path(assembly.directory), layers)
    return _syntheses[name]


def synthesis(factory: pytest.TempPathFactory) -> Synthesis:
    """The app built on this session's layer (never rebuilt mid-session), synthesized once."""
    if "app" not in _syntheses:
        _, stacks = cdk_modules()
        layers = layer_dir(factory)
        outdir = factory.mktemp("cdk.out")
        app = stacks.build_app(layer_dir=layers, build_layer=False, outdir=str(outdir))
        _synthesize("app", app, layers)
    return _syntheses["app"]


def options_synthesis(factory: pytest.TempPathFactory) -> Synthesis:
    """A small app, synthesized once, with cdk-nag's checks: one stack whose cache has the
    options the project's app leaves at their defaults (no monitoring, the large-object
    bucket), and three functions: ``Attached`` (``attach``), ``OptedOut``
    (``attach(metrics_service=False)``), each in its own default namespace, and ``ByName``
    (``grant_cache_access`` on a table, a bucket and a key secret imported by name, in the
    namespace ``by-name``, the metrics under ``custom-service``)."""
    if "options" not in _syntheses:
        from aws_cdk import App, Aspects, Stack
        from aws_cdk import aws_dynamodb as dynamodb
        from aws_cdk import aws_lambda as lambda_
        from aws_cdk import aws_s3 as s3
        from aws_cdk import aws_secretsmanager as secretsmanager
        from cdk_nag import AwsSolutionsChecks

        construct, stacks = cdk_modules()
        layers = layer_dir(factory)
        app = App(outdir=str(factory.mktemp("cdk-options.out")))
        stack = Stack(app, OPTIONS_STACK)
        cache = construct.HttpCache(
            stack,
            "HttpCache",
            layer_dir=layers,
            build_layer=False,
            parameter_prefix=None,
            monitoring=False,
            large_object_bucket=True,
        )
        x86, runtime = lambda_.Architecture.X86_64, cache.bytecode_runtime
        cache.attach(stacks.catalog_function(stack, "Attached", x86, runtime))
        cache.attach(
            stacks.catalog_function(stack, "OptedOut", x86, runtime), metrics_service=False
        )
        by_name = stacks.catalog_function(stack, "ByName", x86, runtime)
        by_name.add_layers(cache.layer)
        construct.grant_cache_access(
            by_name,
            dynamodb.Table.from_table_name(stack, "ImportedTable", "other_cache"),
            namespace=BY_NAME_NAMESPACE,
            key_secret=secretsmanager.Secret.from_secret_name_v2(
                stack, "ImportedSecret", IMPORTED_SECRET
            ),
            metrics_service="custom-service",
            bucket=s3.Bucket.from_bucket_name(stack, "ImportedBucket", IMPORTED_BUCKET),
        )
        Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
        _synthesize("options", app, layers)
    return _syntheses["options"]
