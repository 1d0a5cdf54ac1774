"""The construct's two files copied into another CDK app, as its docstring suggests: without
this repository's dist/ beside them, the error says where the construct looked for the layer
and that ``layer_dir=`` points it at the built one; given ``layer_dir=``, it synthesizes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.deploy.cdk_support import CDK_DIR, layer_dir

APP = textwrap.dedent(
    """
    import sys

    from aws_cdk import App, Stack
    from http_cache_construct import HttpCache

    app = App(outdir=sys.argv[2])
    stack = Stack(app, "Mine")
    options = {"layer_dir": sys.argv[1]} if sys.argv[1] else {}
    try:
        HttpCache(stack, "Cache", parameter_prefix=None, **options)
    except FileNotFoundError as error:
        print(error)
        sys.exit(3)
    app.synth()
    print("synthesized")
    """
)


def run_app(app: Path, layer: str, outdir: Path) -> subprocess.CompletedProcess[str]:
    """``app/infra/stack.py``, beside the construct's two copied files."""
    return subprocess.run(
        [sys.executable, str(app / "infra" / "stack.py"), layer, str(outdir)],
        capture_output=True,
        text=True,
        cwd=app,
        env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"},
        timeout=300,
    )


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """Another CDK app, with the construct's files copied into its infra/ folder."""
    infra = tmp_path / "my-app" / "infra"
    infra.mkdir(parents=True)
    for name in ("http_cache_construct.py", "http_cache_monitoring.py"):
        shutil.copy(CDK_DIR / name, infra / name)
    (infra / "stack.py").write_text(APP, encoding="utf-8")
    return (tmp_path / "my-app").resolve()


def test_a_copied_construct_says_where_it_looked_and_how_to_point_it(
    app: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    result = run_app(app, "", tmp_path / "out")
    assert result.returncode == 3, result.stderr
    assert result.stdout.strip() == (
        f"no layer in {app / 'dist'} (the dist/ folder beside the folder holding "
        "http_cache_construct.py, where it looks when not given layer_dir=): HttpCache looked "
        f"for {app / 'dist' / 'layer-manifest.json'} and found none. Build the layer with "
        "`make layer` in the lambda-http-cache repository, then point HttpCache at the folder "
        'it writes, with HttpCache(..., layer_dir="/path/to/lambda-http-cache/dist")'
    )

    wrong = tmp_path / "not-a-layer"
    result = run_app(app, str(wrong), tmp_path / "out")
    assert result.returncode == 3, result.stderr
    assert result.stdout.startswith(
        f"no layer in {wrong} (the folder given as layer_dir=): HttpCache looked for "
        f"{wrong / 'layer-manifest.json'} and found none."
    )

    # As the message says: layer_dir= at a built layer
    result = run_app(app, str(layer_dir(tmp_path_factory)), tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("synthesized")
