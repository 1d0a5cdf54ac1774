"""Cold start as Lambda sees it: a fresh, isolated interpreter per run whose ``sys.path`` holds
only the function's folder, the built layer's ``python/`` folder and a folder with what the
runtime ships (boto3 and its dependencies), timing the init work:

- ``baseline``: ``import requests, boto3`` and ``boto3.client("dynamodb")``;
- ``ours``: importing the example handler module decorated with ``@cached_http`` (which builds
  the container's session and client);
- ``requests_cache``: requests-cache's documented setup, ``import requests_cache`` and
  ``CachedSession(backend=DynamoDbCache(...))``.

Each runs with the layer as built (with its bytecode) and with a read-only copy without any
``__pycache__`` (what a layer without bytecode for the running Python costs). Interpreters run
``-I -S -B``: no site-packages, no user or environment paths, and no bytecode written anywhere
(Lambda's ``/opt`` and ``/var/task`` are read-only). Runs are interleaved in a shuffled order.
DynamoDB calls are counted by pointing ``AWS_ENDPOINT_URL_DYNAMODB`` at the counting proxy;
separate runs count every socket connection with an audit hook.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from bench.measure import percentile
from scripts.local_servers import LOCAL_CREDENTIALS, DynamoDbProxy

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"
DIST = ROOT / "dist"
FUNCTION = ROOT / "functions" / "catalog"

SETUPS = {
    "baseline": "import requests, boto3\nboto3.client('dynamodb')\n",
    "ours": "import handler\n",
    "requests_cache": (
        "import requests_cache\n"
        "from requests_cache import CachedSession, DynamoDbCache\n"
        "session = CachedSession(backend=DynamoDbCache('http_cache_rc'))\n"
    ),
}
LAYERS = ("bytecode", "no_bytecode")

# The same init work cut into steps, timed one by one (for the breakdown only).
STEPS = {
    "baseline": ["import requests, boto3", "boto3.client('dynamodb')"],
    "ours": ["import requests, boto3", "import lambda_http_cache", "import handler"],
    "requests_cache": [
        "import requests, boto3",
        "import requests_cache\nfrom requests_cache import CachedSession, DynamoDbCache",
        "session = CachedSession(backend=DynamoDbCache('http_cache_rc'))",
    ],
}
STEP_NAMES = {
    "baseline": ["import requests, boto3", "boto3.client('dynamodb')"],
    "ours": [
        "import requests, boto3",
        "import lambda_http_cache (and requests-cache)",
        "import handler: @cached_http builds config, session, client",
    ],
    "requests_cache": [
        "import requests, boto3",
        "import requests_cache",
        "CachedSession(backend=DynamoDbCache(...))",
    ],
}

CHILD = """\
import sys
sys.path[:0] = {paths!r}
{hook}from time import perf_counter
marks = [perf_counter()]
{work}steps = ",".join([repr(b - a) for a, b in zip(marks, marks[1:])])
sys.stdout.write("%s %d %d\\n" % (steps, len(sys.modules), {connects}))
"""
AUDIT_HOOK = """\
connects = [0]
def _count(event, args, connects=connects):
    if event == "socket.connect":
        connects[0] += 1
sys.addaudithook(_count)
"""


def _log(message: str) -> None:
    print(f"  {message}", flush=True)


def _make_writable(path: Path) -> None:
    for folder, _dirs, files in os.walk(path):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


def _make_read_only(path: Path) -> None:
    for folder, _dirs, files in os.walk(path):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
    for folder, _dirs, _files in os.walk(path, topdown=False):
        os.chmod(folder, 0o555)


def _replace(path: Path) -> None:
    if path.exists():
        _make_writable(path)
        shutil.rmtree(path)


def layer_zip(build: bool) -> tuple[Path, dict[str, Any]]:
    """The built layer zip, running the layer build first (a no-op when up to date)."""
    note: dict[str, Any] = {}
    if build:
        started = time.perf_counter()
        answer = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "build_layer.py")],
            capture_output=True,
            text=True,
            check=False,
        )
        note["build_seconds"] = round(time.perf_counter() - started, 1)
        note["build_output"] = (answer.stdout + answer.stderr).strip().splitlines()[-3:]
        if answer.returncode != 0:
            note["build_failed"] = True
            _log(f"layer build failed: {answer.stderr.strip()[-300:]}")
    zips = sorted(DIST.glob("*-layer*.zip"))
    if not zips:
        raise RuntimeError("no layer zip in dist/ (make layer builds it)")
    manifest = DIST / "layer-manifest.json"
    if manifest.exists():
        note["manifest"] = json.loads(manifest.read_text())
    return zips[0], note


def prepare_layers(zip_path: Path) -> dict[str, Path]:
    """The layer unpacked as built, and a read-only copy without bytecode."""
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    base = CACHE / "layers" / digest[:16]
    built, bare = base / "bytecode", base / "no_bytecode"
    if not (base / ".complete").exists():
        _replace(base)
        built.mkdir(parents=True)
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(built)
        shutil.copytree(built, bare, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        _make_read_only(bare)
        (base / ".complete").write_text(zip_path.name)
    for stale in (CACHE / "layers").iterdir():
        if stale != base:
            _replace(stale)
    return {"bytecode": built / "python", "no_bytecode": bare / "python"}


def runtime_packages() -> Path:
    """boto3 and its dependencies, as the Lambda runtime ships them (with their bytecode), at
    the version this checkout uses; installed once into the cache."""
    version = importlib.metadata.version("boto3")
    python = "{}.{}".format(*sys.version_info[:2])
    target = CACHE / "runtime" / f"python{python}-boto3-{version}"
    if not (target / ".complete").exists():
        _replace(target)
        _log(f"installing boto3=={version} into {target.relative_to(ROOT)}")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--disable-pip-version-check",
                "-q",
                "install",
                "--target",
                str(target),
                f"boto3=={version}",
            ],
            check=True,
        )
        shutil.rmtree(target / "bin", ignore_errors=True)
        (target / ".complete").write_text(version)
    return target


def function_folder() -> Path:
    """A copy of the example function's folder without bytecode (read-only, like /var/task)."""
    target = CACHE / "function"
    _replace(target)
    shutil.copytree(FUNCTION, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _make_read_only(target)
    return target


def child_environment(endpoint: str) -> dict[str, str]:
    """What a Lambda function sees, plus the local endpoint; nothing from this shell."""
    return {
        **LOCAL_CREDENTIALS,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(CACHE / "home"),
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_CONFIG_FILE": str(CACHE / "home" / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(CACHE / "home" / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": "catalog",
        "HTTP_CACHE_TABLE": "http_cache",
        "CATALOG_API_URL": "http://127.0.0.1:9",
    }


def child_code(paths: list[str], steps: list[str], *, audit: bool = False) -> str:
    return CHILD.format(
        paths=paths,
        hook=AUDIT_HOOK if audit else "",
        work="".join(f"{step.rstrip()}\nmarks.append(perf_counter())\n" for step in steps),
        connects="connects[0]" if audit else "-1",
    )


def run_child(
    python: str,
    paths: list[str],
    setup: str,
    environ: dict[str, str],
    *,
    audit: bool,
    steps: list[str] | None = None,
) -> dict[str, Any]:
    code = child_code(paths, steps or [SETUPS[setup]], audit=audit)
    started = time.perf_counter()
    answer = subprocess.run(
        [python, "-I", "-S", "-B", "-c", code],
        env=environ,
        capture_output=True,
        text=True,
        cwd=str(CACHE / "home"),
        check=False,
    )
    wall = time.perf_counter() - started
    if answer.returncode != 0:
        raise RuntimeError(f"cold start {setup} failed:\n{answer.stderr[-2000:]}")
    durations, modules, connects = answer.stdout.split()
    steps_s = [float(x) for x in durations.split(",")]
    return {
        "init_s": sum(steps_s),
        "steps_s": steps_s,
        "process_s": wall,
        "modules": int(modules),
        "connects": int(connects),
    }


def import_times(
    python: str, paths: list[str], setup: str, environ: dict[str, str]
) -> dict[str, Any]:
    """One run under ``-X importtime``: the own import time of each top-level package (ms),
    and the modules imported."""
    code = child_code(paths, [SETUPS[setup]])
    answer = subprocess.run(
        [python, "-I", "-S", "-B", "-X", "importtime", "-c", code],
        env=environ,
        capture_output=True,
        text=True,
        cwd=str(CACHE / "home"),
        check=True,
    )
    packages: dict[str, float] = {}
    for line in answer.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        own, _cumulative, name = line.removeprefix("import time:").split("|")
        top = name.strip().split(".")[0]
        packages[top] = packages.get(top, 0.0) + int(own) / 1000
    return {"total_ms": round(sum(packages.values()), 1), "packages": packages}


def breakdown(
    python: str, paths: list[str], environ: dict[str, str], rounds: int
) -> dict[str, Any]:
    """Where each setup's init time goes: its steps timed one by one (median of ``rounds``
    interleaved runs), and the own import time of each top-level package under
    ``-X importtime`` (the flag adds overhead of its own; the handler module's own entry is
    its body, which builds the session, so it is left out of the package table)."""
    result: dict[str, Any] = {}
    timed: dict[str, list[list[float]]] = {setup: [] for setup in STEPS}
    for _ in range(rounds):
        for setup, steps in STEPS.items():
            measured_steps = run_child(python, paths, setup, environ, audit=False, steps=steps)
            timed[setup].append(measured_steps["steps_s"])
    measured = {
        setup: [import_times(python, paths, setup, environ) for _ in range(rounds)]
        for setup in SETUPS
    }
    for setup, runs in measured.items():
        names = sorted({name for r in runs for name in r["packages"]})
        packages = {
            name: round(statistics.median(r["packages"].get(name, 0.0) for r in runs), 2)
            for name in names
        }
        packages.pop("handler", None)
        result[setup] = {
            "steps_ms": {
                name: round(statistics.median(run[i] for run in timed[setup]) * 1000, 2)
                for i, name in enumerate(STEP_NAMES[setup])
            },
            "importtime_ms": round(sum(packages.values()), 1),
            "top_packages_ms": dict(sorted(packages.items(), key=lambda kv: -kv[1])[:12]),
            "packages": packages,
        }
    base = result["baseline"]["packages"]
    for setup in ("ours", "requests_cache"):
        own = result[setup].pop("packages")
        extra = {
            name: round(ms - base.get(name, 0.0), 2)
            for name, ms in own.items()
            if ms - base.get(name, 0.0) >= 0.5
        }
        result[setup]["over_baseline_ms"] = dict(sorted(extra.items(), key=lambda kv: -kv[1]))
    result["baseline"].pop("packages")
    return result


def run(
    proxy: DynamoDbProxy, *, runs: int, build_layer: bool, seed: int, python: str | None = None
) -> dict[str, Any]:
    python = python or sys.executable
    zip_path, note = layer_zip(build_layer)
    layers = prepare_layers(zip_path)
    runtime = runtime_packages()
    function = function_folder()
    (CACHE / "home").mkdir(parents=True, exist_ok=True)
    environ = child_environment(proxy.endpoint)
    configs = [(layer, setup) for layer in LAYERS for setup in SETUPS]

    def paths(layer: str) -> list[str]:
        # Lambda's order: the function's code, then the layer, then the runtime's packages.
        return [str(function), str(layers[layer]), str(runtime)]

    # Check runs (also a warm-up of the file cache): every socket connection counted.
    checks: dict[str, Any] = {}
    for layer, setup in configs:
        proxy.reset()
        measured = run_child(python, paths(layer), setup, environ, audit=True)
        checks[f"{layer}/{setup}"] = {
            "socket_connects": measured["connects"],
            "dynamodb_calls": dict(proxy.calls),
            "modules": measured["modules"],
        }
    rng = random.Random(seed)
    samples: dict[str, list[dict[str, Any]]] = {f"{lay}/{s}": [] for lay, s in configs}
    calls: dict[str, dict[str, int]] = {key: {} for key in samples}
    for index in range(runs):
        order = list(configs)
        rng.shuffle(order)
        for layer, setup in order:
            key = f"{layer}/{setup}"
            proxy.reset()
            samples[key].append(run_child(python, paths(layer), setup, environ, audit=False))
            for operation, count in proxy.calls.items():
                calls[key][operation] = calls[key].get(operation, 0) + count
        if (index + 1) % 5 == 0 or index + 1 == runs:
            _log(f"cold start: {index + 1} of {runs} rounds")
    proxy.reset()
    where = breakdown(python, paths("bytecode"), environ, rounds=min(runs, 5))
    proxy.reset()

    results: dict[str, Any] = {}
    for key, measured in samples.items():
        init_ms = [m["init_s"] * 1000 for m in measured]
        process_ms = [m["process_s"] * 1000 for m in measured]
        results[key] = {
            "runs": len(measured),
            "init_median_ms": round(statistics.median(init_ms), 2),
            "init_p25_ms": round(percentile(init_ms, 0.25), 2),
            "init_p75_ms": round(percentile(init_ms, 0.75), 2),
            "init_min_ms": round(min(init_ms), 2),
            "process_median_ms": round(statistics.median(process_ms), 2),
            "modules": measured[0]["modules"],
            "dynamodb_calls_total": calls[key],
            "dynamodb_calls_per_start": {op: n / len(measured) for op, n in calls[key].items()},
            **{f"check_{k}": v for k, v in checks[key].items() if k != "modules"},
        }
    versions = subprocess.run(
        [python, "-I", "-S", "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return {
        "python": versions,
        "interpreter_flags": "-I -S -B",
        "sys_path": ["<function folder>", "<layer>/python", "<boto3 and dependencies>"],
        "runtime_packages": runtime.name,
        "layer": {"zip": zip_path.name, **note},
        "results": results,
        "breakdown_with_bytecode": where,
    }
