"""What the CDK and layer tests share: one layer build and one synthesis per test session."""

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

ROOT = Path(__file__).resolve().parents[1]
CDK_DIR = ROOT / "cdk"

_layer_dirs: dict[str, Path] = {}
_synthesis: Synthesis | None = None


def layer_dir(factory: pytest.TempPathFactory, name: str = "layer") -> Path:
    """A folder holding a layer built by ``scripts/build_layer.py`` in this session; each
    ``name`` is a separate build."""
    if name not in _layer_dirs:
        out = factory.mktemp(name)
        build_layer.build(out)
        _layer_dirs[name] = out
    return _layer_dirs[name]


def cdk_modules() -> tuple[ModuleType, ModuleType]:
    """The app's modules ``http_cache_construct`` and ``http_cache_stacks``, imported with
    cdk/ on the path as ``python cdk/app.py`` has it."""
    # Quiet jsii's end-of-life banner for Node 20 in the Node processes started from here on.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    if str(CDK_DIR) not in sys.path:
        sys.path.insert(0, str(CDK_DIR))
    import http_cache_construct
    import http_cache_stacks

    return http_cache_construct, http_cache_stacks


@dataclass
class Synthesis:
    """The project's app, synthesized once, with cdk-nag's AwsSolutions checks applied."""

    app: Any
    stacks: dict[str, Any]
    templates: dict[str, dict[str, Any]]
    outdir: Path
    layer_dir: Path


def synthesis(factory: pytest.TempPathFactory) -> Synthesis:
    """The app built on this session's layer (never rebuilt mid-session), synthesized once."""
    global _synthesis
    if _synthesis is None:
        from aws_cdk import Stack

        _, stacks = cdk_modules()
        layers = layer_dir(factory)
        outdir = factory.mktemp("cdk.out")
        app = stacks.build_app(layer_dir=layers, build_layer=False, outdir=str(outdir))
        assembly = app.synth()
        by_name = {s.stack_name: s for s in app.node.children if isinstance(s, Stack)}
        templates = {
            stack.stack_name: json.loads(
                (Path(assembly.directory) / stack.template_file).read_text(encoding="utf-8")
            )
            for stack in assembly.stacks
        }
        _synthesis = Synthesis(app, by_name, templates, outdir, layers)
    return _synthesis
