"""Cold start as Lambda sees it: a fresh, isolated interpreter per run whose ``sys.path`` holds
only the function's folder, the built layer's ``python/`` folder and a folder with what the
runtime ships (boto3 and its dependencies, and the runtime interface client awslambdaric with
its own), measured two ways.

**Init**: the init work alone, timed inside the interpreter:

- ``baseline``: ``import requests, boto3`` and ``boto3.client("dynamodb")``;
- ``ours``: importing the example handler module decorated with ``@cached_http`` (which builds
  the container's session and client);
- ``requests_cache``: requests-cache's documented setup, ``import requests_cache`` and
  ``CachedSession(backend=DynamoDbCache(...))``.

Each runs with the layer as built (with its bytecode) and with a read-only copy without any
``__pycache__`` (what a layer without bytecode for the running Python costs), under
``-I -S -B``: no site-packages, no user or environment paths, and no bytecode written.

**Time to first response**: from the process's start to the first invocation's response, as
the Lambda runtime serves it: the interpreter runs AWS's runtime interface client
(``awslambdaric``), which imports the handler module and asks a local runtime API (this
module's :class:`RuntimeApi`, in the benchmark's process) for the next invocation, then posts
the response back; the clock stops when the response arrives. Every folder is read-only (a
write into each is checked to fail before the runs: see :class:`ReadOnlyMounts`) and
the interpreter runs ``-I -S`` without ``-B``, as on Lambda, where Python tries (and fails) to
write the bytecode it lacks. The item each first invocation reads is seeded through the local
DynamoDB server beforehand, every response is checked to be a DynamoDB hit, and the origin is
checked not to have been called:

- ``floor``: a module doing ``import requests, boto3``, a client, and one ``get_item`` of the
  item ``ours`` reads;
- ``ours``: the example function's module (``@cached_http``), invoked for one product;
- ``requests_cache``: its documented setup, then one ``session.get`` that hits (the same bytes
  served as ``application/octet-stream``: requests-cache's DynamoDB backend cannot read back a
  JSON body with numbers, see the documentation).

The function's folder comes without bytecode (as the CDK asset deploys it) and, for the
comparison, with bytecode compiled beside it.

Runs are interleaved in a shuffled order. DynamoDB calls are counted in every run through the
counting proxy (``AWS_ENDPOINT_URL_DYNAMODB``), the init phase's apart (snapshot when the runtime
client first asks for an invocation); separate runs count every socket connection with an audit
hook. A last pass profiles the first invocation (``-X importtime`` and cProfile).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.warm import OURS_TABLE, RC_TABLE, table_key
from scripts.local_servers import (
    LOCAL_CREDENTIALS,
    DynamoDbProxy,
    OriginServer,
    dynamodb_client,
    environment,
)

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
# Socket connections: [0] anything but Lambda's runtime API, [1] the runtime API (the
# library's internal extension registers and asks for events there: loopback, inside the
# execution environment, part of Lambda's own init protocol).
AUDIT_HOOK = """\
connects = [0, 0]
_api = __import__("os").environ.get("AWS_LAMBDA_RUNTIME_API")
def _count(event, args, connects=connects, api=_api):
    if event == "socket.connect":
        address = args[1]
        local = isinstance(address, tuple) and "%s:%s" % address[:2] == api
        connects[1 if local else 0] += 1
sys.addaudithook(_count)
"""

# Time to first response ------------------------------------------------------------------------

# What the Lambda runtime ships besides boto3: its runtime interface client (with simplejson,
# which requests then uses, as it does on Lambda), pinned.
RUNTIME_CLIENT = "awslambdaric==4.2.2"
FUNCTION_CODE = ("source", "bytecode")
FIRST_SETUPS = ("floor", "ours", "requests_cache")
# (layer, function folder) pairs the first-response runs cover.
FIRST_CONFIGS = (("bytecode", "source"), ("bytecode", "bytecode"), ("no_bytecode", "source"))
PRODUCT = {"id": 1, "name": "Espresso cup", "price": 7.5, "stock": 120, "tags": ["kitchen"]}
PRODUCT_PATH = "/products/1"
RC_PATH = "/bench-rc/products/1"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:catalog"

# The floor's and requests-cache's function modules, written beside the example's handler.py.
FLOOR_MODULE = '''\
"""The floor: what any function serving this item from DynamoDB does at least."""
import os
import requests, boto3

client = boto3.client("dynamodb")
TABLE, KEY = os.environ["HTTP_CACHE_TABLE"], os.environ["BENCH_ITEM_KEY"]


def handler(event, context):
    answer = client.get_item(TableName=TABLE, Key={"key": {"S": KEY}})
    return {"hit": "Item" in answer}
'''
RC_MODULE = f'''\
"""requests-cache as its documentation shows, then one request that hits."""
import os
import requests_cache
from requests_cache import CachedSession, DynamoDbCache

session = CachedSession(backend=DynamoDbCache({RC_TABLE!r}))
URL = os.environ["BENCH_RC_URL"]


def handler(event, context):
    response = session.get(URL, timeout=5)
    return {{"hit": bool(response.from_cache), "bytes": len(response.content)}}
'''


@dataclass(frozen=True)
class FirstSetup:
    module: str  # the function module's file name in the function folder
    handler: str  # Lambda's handler setting
    event: dict[str, Any]
    served: Callable[[Any], bool]  # whether the response is the expected hit


def _ours_served(answer: Any) -> bool:
    return bool(answer["cache"] == {"hits": 1, "misses": 0} and answer["lines"][0]["id"] == 1)


FIRST = {
    "floor": FirstSetup("bench_floor.py", "bench_floor.handler", {}, lambda a: a == {"hit": True}),
    "ours": FirstSetup("handler.py", "handler.handler", {"product_ids": [1]}, _ours_served),
    "requests_cache": FirstSetup(
        "bench_requests_cache.py",
        "bench_requests_cache.handler",
        {},
        lambda a: a["hit"] is True and a["bytes"] > 0,
    ),
}

# The runtime interface client as Lambda's bootstrap runs it. Its calls to the runtime API go
# through its native client, not Python's sockets; the wrapper around wait_next_invocation
# notes the modules (and, with the hook, socket connections) when init is over and when the
# first response has been posted, then ends the process.
RIC_CHILD = """\
import sys
sys.path[:0] = {paths!r}
{hook}import os
from awslambdaric import lambda_runtime_client as _client
_marks = []
def _wait(self, _wait=_client.BaseLambdaRuntimeClient.wait_next_invocation):
    _marks.append("%d %s" % (len(sys.modules), {connects}))
    if len(_marks) > 1:
        os.write(2, ("\\n@bench %s\\n" % " ".join(_marks)).encode())
        os._exit(0)
    return _wait(self)
_client.BaseLambdaRuntimeClient.wait_next_invocation = _wait
from awslambdaric.__main__ import main
main(["awslambdaric", {handler!r}])
"""

# The first invocation in detail: the function module imported, then invoked once, directly,
# with the modules it imports listed and, in a second run, cProfile around the invocation
# (-X importtime, when set, marks where the invocation starts).
PROFILE_CHILD = """\
import sys
sys.path[:0] = {paths!r}
import json
from time import perf_counter
{profiler_import}started = perf_counter()
import {module} as function
init_s = perf_counter() - started
class Context:
    aws_request_id = "bench-first-invocation"
    function_name = "catalog"
    function_version = "$LATEST"
    invoked_function_arn = {arn!r}
    memory_limit_in_mb = 1024
    log_group_name = "/aws/lambda/catalog"
    log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 60000
before = set(sys.modules)
sys.stderr.write("@invoke\\n")
sys.stderr.flush()
{profiler_on}started = perf_counter()
answer = function.handler({event!r}, Context())
invoke_s = perf_counter() - started
{profiler_off}new = sorted(set(sys.modules) - before)
sys.stderr.write("@done\\n")
sys.stderr.flush()
print("@result " + json.dumps({{"init_s": init_s, "invoke_s": invoke_s, "new_modules": new,
                               "answer": answer, "profile": profile}}))
"""
PROFILER_ON = "profiler = cProfile.Profile()\nprofiler.enable()\n"
PROFILER_OFF = """\
profiler.disable()
profile = [[f, l, n, c, own, cum] for (f, l, n), (_, c, own, cum, _) in
           pstats.Stats(profiler).stats.items()]
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
    """The layer unpacked as built, and a copy without bytecode, both read-only (/opt is)."""
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    base = CACHE / "layers" / digest[:16]
    built, bare = base / "bytecode", base / "no_bytecode"
    if not (base / ".complete").exists():
        _replace(base)
        built.mkdir(parents=True)
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(built)
        shutil.copytree(built, bare, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        _make_read_only(built)
        _make_read_only(bare)
        (base / ".complete").write_text(zip_path.name)
    for stale in (CACHE / "layers").iterdir():
        if stale != base:
            _replace(stale)
    return {"bytecode": built / "python", "no_bytecode": bare / "python"}


def runtime_packages(python: str, minor: str) -> Path:
    """What the Lambda runtime ships, at the versions this checkout uses: boto3 and its
    dependencies, and the runtime interface client (with their bytecode, read-only);
    installed once into the cache for ``python``'s version, ``minor``."""
    version = importlib.metadata.version("boto3")
    client = RUNTIME_CLIENT.replace("==", "-")
    target = CACHE / "runtime" / f"python{minor}-boto3-{version}-{client}"
    if not (target / ".complete").exists():
        _replace(target)
        _log(f"installing boto3=={version} and {RUNTIME_CLIENT} into {target.relative_to(ROOT)}")
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
                "--python-version",
                minor,
                "--only-binary=:all:",
                "--no-compile",
                f"boto3=={version}",
                RUNTIME_CLIENT,
            ],
            check=True,
        )
        shutil.rmtree(target / "bin", ignore_errors=True)
        subprocess.run(
            # Serially: worker processes would start sys.executable, which for an interpreter
            # run through a launcher (build_layer's Debian-built ones) is not runnable as is.
            [python, "-I", "-m", "compileall", "-q", str(target)],
            check=True,
            capture_output=True,
        )
        _make_read_only(target)
        (target / ".complete").write_text(version)
    return target


UNCHECKED = ("--invalidation-mode", "unchecked-hash")


def function_folders(python: str) -> dict[str, Path]:
    """Read-only copies of the example function's folder (like /var/task), with the floor's
    and requests-cache's modules beside its handler: as deployed (``source``, no bytecode)
    and with bytecode compiled by ``python`` beside each module (``bytecode``)."""
    folders = {}
    for variant in FUNCTION_CODE:
        target = CACHE / "function" / variant
        _replace(target)
        shutil.copytree(FUNCTION, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (target / FIRST["floor"].module).write_text(FLOOR_MODULE)
        (target / FIRST["requests_cache"].module).write_text(RC_MODULE)
        if variant == "bytecode":
            subprocess.run(
                [python, "-I", "-m", "compileall", "-q", *UNCHECKED, str(target)],
                check=True,
                capture_output=True,
            )
        _make_read_only(target)
        folders[variant] = target
    return folders


class ReadOnlyMounts:
    """Folders made truly read-only for a child, as Lambda mounts /var/task and /opt.

    Permission bits stop nobody running as root, and Python run as root writes the bytecode it
    lacks into a folder that is only chmod'ed read-only (the next start then finds it). So, as
    root, each child gets its own private mount namespace in which every folder is bind-mounted
    read-only (``unshare`` and ``mount`` between fork and exec, nothing visible outside the
    child); Python's attempt to write then fails as on Lambda. As another user, the permission
    bits suffice and nothing is mounted."""

    CLONE_NEWNS = 0x00020000
    MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18

    def __init__(self, folders: list[str]) -> None:
        self.folders = [os.fsencode(folder) for folder in folders]
        self.libc: Any = _libc() if os.geteuid() == 0 else None

    @property
    def needed(self) -> bool:
        return self.libc is not None

    def enter(self) -> None:
        """In the child, before exec: a private namespace with the folders read-only."""
        libc = self.libc
        if libc.unshare(self.CLONE_NEWNS) != 0:
            raise OSError("unshare(CLONE_NEWNS) failed")
        if libc.mount(b"none", b"/", None, self.MS_REC | self.MS_PRIVATE, None) != 0:
            raise OSError("making / private failed")
        for folder in self.folders:
            if libc.mount(folder, folder, None, self.MS_BIND | self.MS_REC, None) != 0:
                raise OSError(f"bind mount of {folder!r} failed")
            flags = self.MS_REMOUNT | self.MS_BIND | self.MS_RDONLY
            if libc.mount(None, folder, None, flags, None) != 0:
                raise OSError(f"read-only remount of {folder!r} failed")

    def run(self, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """``args`` run in the first folder (the function's, Lambda's working directory), with
        every folder read-only; its output captured as text, within 120 s."""
        return subprocess.run(
            args,
            env=env,
            capture_output=True,
            text=True,
            cwd=os.fsdecode(self.folders[0]),
            timeout=120,
            preexec_fn=self.enter if self.needed else None,
            check=False,
        )

    def check(self, python: str) -> list[str]:
        """A child really cannot write into any of the folders (raises if it can); returns
        the folders checked."""
        folders = [os.fsdecode(folder) for folder in self.folders]
        # A file in each folder and in each __pycache__ there is (where Python would write
        # bytecode); each write must fail for want of permission or on a read-only file system.
        probes = [os.path.join(folder, "bench-probe") for folder in folders]
        probes += [
            os.path.join(folder, "__pycache__", "bench-probe")
            for folder in folders
            if os.path.isdir(os.path.join(folder, "__pycache__"))
        ]
        code = (
            "import errno\n"
            f"for probe in {probes!r}:\n"
            "    try:\n"
            "        open(probe, 'w').close()\n"
            "    except OSError as error:\n"
            "        if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):\n"
            "            continue\n"
            "        raise\n"
            "    print(probe)\n"
        )
        answer = subprocess.run(
            [python, "-I", "-S", "-c", code],
            capture_output=True,
            text=True,
            preexec_fn=self.enter if self.needed else None,
            check=False,
        )
        written = answer.stdout.split()
        for probe in written:
            os.unlink(probe)
        if written:
            raise RuntimeError(f"the folders are not read-only: {', '.join(written)} written")
        if answer.returncode != 0:
            raise RuntimeError(f"the read-only check failed:\n{answer.stderr[-2000:]}")
        return folders


@functools.cache
def _libc() -> Any:
    import ctypes
    import ctypes.util

    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _children_cpu() -> float:
    """CPU seconds (user and system) of this process's ended children: around one child's
    run, its own CPU time, which depends less than wall time on what else the machine runs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _minor(python: str) -> str:
    return subprocess.run(
        [python, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


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
    cpu = _children_cpu()
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
    cpu = _children_cpu() - cpu
    if answer.returncode != 0:
        raise RuntimeError(f"cold start {setup} failed:\n{answer.stderr[-2000:]}")
    durations, modules, connects = answer.stdout.split()
    steps_s = [float(x) for x in durations.split(",")]
    return {
        "init_s": sum(steps_s),
        "steps_s": steps_s,
        "process_s": wall,
        "cpu_s": cpu,
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


class RuntimeApi:
    """As much of Lambda's runtime and extensions APIs as one invocation needs, on loopback.

    An extension registers (the library's internal one does, at init) and asks for its next
    event; the runtime asks for the next invocation. Init is over when both have asked, as in
    Lambda: ``on_ready`` then snapshots what happened so far, and both get the invocation.
    ``POST .../response`` stops the clock."""

    RUNTIME = "/2018-06-01/runtime"
    EXTENSION = "/2020-01-01/extension"
    TRACE = "Root=1-6745a1b2-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=0"

    def __init__(self, on_ready: Callable[[], Any]) -> None:
        self.on_ready = on_ready
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.arm({}, "none")
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response_only(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the child has ended

            def do_GET(self) -> None:
                if self.path == f"{api.RUNTIME}/invocation/next":
                    self._answer(*api.next_invocation())
                elif self.path == f"{api.EXTENSION}/event/next":
                    self._answer(*api.next_event())
                else:
                    self._answer(404, b"{}", {})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.perf_counter()
                if self.path == f"{api.EXTENSION}/register":
                    self._answer(*api.register(self.headers.get("Lambda-Extension-Name", "")))
                    return
                with api._lock:
                    if self.path == f"{api.RUNTIME}/invocation/{api.request_id}/response":
                        api.responded_at = now
                        api.response = body
                    else:
                        api.errors.append(f"{self.path}: {body[:2000]!r}")
                self._answer(202, b'{"status": "OK"}', {"Content-Type": "application/json"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def arm(self, event: dict[str, Any], request_id: str) -> None:
        """Ready for one more cold start that gets ``event``; releases the previous one's
        blocked requests."""
        with self._lock:
            self._release.set()
            self._release = threading.Event()
            self.event = json.dumps(event).encode()
            self.request_id = request_id
            self.extension: str | None = None
            self.extension_waiting = threading.Event()
            self.dispatched = threading.Event()
            self.extension_events = 0
            self.ready_at: float | None = None
            self.ready_state: Any = None
            self.responded_at: float | None = None
            self.response: bytes | None = None
            self.errors: list[str] = []

    def register(self, name: str) -> tuple[int, bytes, dict[str, str]]:
        with self._lock:
            self.extension = f"{name}-{random.getrandbits(64):016x}"
            identifier = self.extension
        body = json.dumps({"functionName": "catalog", "functionVersion": "$LATEST"}).encode()
        return 200, body, {"Lambda-Extension-Identifier": identifier}

    def next_invocation(self) -> tuple[int, bytes, dict[str, str]]:
        with self._lock:
            dispatched, waiting = self.dispatched, self.extension_waiting
            registered = self.extension is not None
            release = self._release
        if dispatched.is_set():  # the benchmark's child ends before asking twice
            release.wait(60)
            return 500, b'{"errorType": "bench.NoMoreInvocations"}', {}
        if registered:
            waiting.wait(10)
        with self._lock:
            self.ready_at = time.perf_counter()
            self.ready_state = self.on_ready()
            self.dispatched.set()
            deadline = int(time.time() * 1000) + 60_000
            headers = {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": self.request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline),
                "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                "Lambda-Runtime-Trace-Id": self.TRACE,
            }
            return 200, self.event, headers

    def next_event(self) -> tuple[int, bytes, dict[str, str]]:
        with self._lock:
            self.extension_events += 1
            first = self.extension_events == 1
            waiting, dispatched, release = self.extension_waiting, self.dispatched, self._release
            request_id = self.request_id
        if not first:  # the invocation is over for the extension; the child ends meanwhile
            release.wait(60)
            return 500, b"{}", {}
        waiting.set()
        dispatched.wait(60)
        event = {
            "eventType": "INVOKE",
            "deadlineMs": int(time.time() * 1000) + 60_000,
            "requestId": request_id,
            "invokedFunctionArn": FUNCTION_ARN,
            "tracing": {"type": "X-Amzn-Trace-Id", "value": self.TRACE},
        }
        return 200, json.dumps(event).encode(), {"Content-Type": "application/json"}

    def __enter__(self) -> RuntimeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Seeded:
    """The items the first invocations read, and how to store ours again."""

    item_key: str
    rc_url: str
    reseed: Callable[[], None]


# What requests reads from the environment into a request's transport.
TRANSPORT_VARIABLES = tuple(
    name
    for base in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
    for name in (base, base.lower())
)


def seed(origin: OriginServer, moto_endpoint: str, environ: dict[str, str]) -> Seeded:
    """Store the product's response the way the example function does (its configuration,
    namespace and ``expire_after``, memory tier off so that a reseed stores it again), and
    requests-cache's own item of the same bytes; both read back as hits."""
    from lambda_http_cache.config import CacheConfig
    from lambda_http_cache.session import build_session
    from requests_cache import CachedSession
    from requests_cache import DynamoDbCache as RequestsCacheDynamoDb

    body = json.dumps(PRODUCT).encode()
    url = origin.route(PRODUCT_PATH, body, {"Content-Type": "application/json"})
    rc_url = origin.route(RC_PATH, body, {"Content-Type": "application/octet-stream"})
    overrides = {"HTTP_CACHE_MEMORY_MB": "0", "AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint}
    # Keys cover the transport the environment gives requests (a CA bundle, proxies): the
    # seeding session sees the function's, not this process's (empty: unset).
    overrides.update({name: environ.get(name, "") for name in TRANSPORT_VARIABLES})
    overrides.update({name: environ.get(name, "") for name in ("NO_PROXY", "no_proxy")})
    with environment(overrides):
        # The example's @cached_http(expire_after=300), in the function's environment.
        session = build_session(
            CacheConfig.from_environment({**environ, **overrides}, expire_after=300)
        )
    client = dynamodb_client(moto_endpoint)
    stored = session.get(url, timeout=10)
    key = table_key(session, stored.cache_key)

    def reseed() -> None:
        client.delete_item(TableName=OURS_TABLE, Key={"key": {"S": key}})
        session.get(url, timeout=10)
        if not session.get(url, timeout=10).from_cache:
            raise RuntimeError("the seeded item does not read back as a hit")

    reseed()
    rc = CachedSession(backend=RequestsCacheDynamoDb(RC_TABLE, endpoint_url=moto_endpoint))
    rc.cache.delete(urls=[rc_url])
    rc.get(rc_url, timeout=10)
    if not rc.get(rc_url, timeout=10).from_cache:
        raise RuntimeError("requests-cache's seeded item does not read back as a hit")
    return Seeded(key, rc_url, reseed)


def ric_code(paths: list[str], handler: str, *, audit: bool) -> str:
    return RIC_CHILD.format(
        paths=paths,
        hook=AUDIT_HOOK if audit else "",
        connects='"%d %d" % tuple(connects)' if audit else '"-1 -1"',
        handler=handler,
    )


def first_response(
    python: str,
    paths: list[str],
    setup: str,
    environ: dict[str, str],
    api: RuntimeApi,
    proxy: DynamoDbProxy,
    origin: OriginServer,
    *,
    audit: bool,
) -> dict[str, Any]:
    """One cold start under the runtime interface client, from the process's start to the
    first invocation's response; checks that the response is the expected hit and that the
    origin was not called."""
    first = FIRST[setup]
    code = ric_code(paths, first.handler, audit=audit)
    api.arm(first.event, f"bench-{setup}-{random.getrandbits(32):08x}")
    proxy.reset()
    mounts = ReadOnlyMounts(paths)
    origin_before = sum(origin.hits.values())
    cpu = _children_cpu()
    started = time.perf_counter()
    answer = mounts.run([python, "-I", "-S", "-c", code], {**environ, "_HANDLER": first.handler})
    cpu = _children_cpu() - cpu
    origin_calls = sum(origin.hits.values()) - origin_before
    if api.responded_at is None or api.ready_at is None or api.response is None:
        raise RuntimeError(
            f"first response {setup}: none (exit {answer.returncode}); runtime API errors "
            f"{api.errors}\n{answer.stderr[-3000:]}"
        )
    response = json.loads(api.response)
    if not first.served(response):
        raise RuntimeError(
            f"first response {setup}: not the expected hit: {response!r}\n{answer.stderr[-3000:]}"
        )
    if origin_calls:
        raise RuntimeError(f"first response {setup}: the origin was called {origin_calls} times")
    marks = [line for line in answer.stderr.splitlines() if line.startswith("@bench ")]
    if not marks:
        raise RuntimeError(f"first response {setup}: no marks\n{answer.stderr[-3000:]}")
    counts = [int(x) for x in marks[-1].split()[1:]]
    (modules_init, connects_init, api_init), (modules_first, connects_first, api_first) = (
        counts[:3],
        counts[3:],
    )
    init_calls: dict[str, int] = dict(api.ready_state)
    first_calls = {op: n - init_calls.get(op, 0) for op, n in proxy.calls.items()}
    return {
        "ready_s": api.ready_at - started,
        "first_response_s": api.responded_at - started,
        "invocation_s": api.responded_at - api.ready_at,
        "cpu_s": cpu,
        "dynamodb_calls_init": init_calls,
        "dynamodb_calls_first_invocation": {op: n for op, n in first_calls.items() if n},
        "modules_init": modules_init,
        "modules_first_invocation": modules_first - modules_init,
        "connects_init": connects_init,
        "connects_first_invocation": connects_first - connects_init,
        "runtime_api_connects_init": api_init,
        "runtime_api_connects_first_invocation": api_first - api_init,
        "extension_registered": api.extension is not None,
    }


def _sum_calls(total: dict[str, int], calls: dict[str, int]) -> None:
    for operation, count in calls.items():
        total[operation] = total.get(operation, 0) + count


def profile_first_invocation(
    python: str, paths: list[str], environ: dict[str, str], setup: str = "ours"
) -> dict[str, Any]:
    """The first invocation of ``setup``'s module, invoked directly after its import: the
    modules it imports with their ``-X importtime`` (ms, cumulative of the top-level ones),
    and a cProfile of it (the profiler inflates Python-heavy code: read shares)."""
    first = FIRST[setup]
    module = first.module.removesuffix(".py")

    def child(*, importtime: bool, profiled: bool) -> tuple[dict[str, Any], str]:
        code = PROFILE_CHILD.format(
            paths=paths,
            module=module,
            arn=FUNCTION_ARN,
            event=first.event,
            profiler_import="import cProfile, pstats\n" if profiled else "",
            profiler_on=PROFILER_ON if profiled else "",
            profiler_off=PROFILER_OFF if profiled else "profile = None\n",
        )
        flags = ["-X", "importtime"] if importtime else []
        answer = ReadOnlyMounts(paths).run([python, "-I", "-S", *flags, "-c", code], environ)
        lines = [line for line in answer.stdout.splitlines() if line.startswith("@result ")]
        if answer.returncode != 0 or not lines:
            raise RuntimeError(f"profile of {setup} failed:\n{answer.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(lines[-1].removeprefix("@result "))
        if not first.served(result["answer"]):
            raise RuntimeError(f"profile of {setup}: not the expected hit: {result['answer']!r}")
        return result, answer.stderr

    plain, _ = child(importtime=False, profiled=False)
    _, stderr = child(importtime=True, profiled=False)
    during = stderr.partition("@invoke\n")[2].partition("@done\n")[0]
    imports: dict[str, float] = {}
    for line in during.splitlines():
        if line.startswith("import time:") and "imported package" not in line:
            _own, cumulative, name = line.removeprefix("import time:").split("|")
            if not name.startswith("  "):  # top level: imported by the invocation itself
                imports[name.strip()] = round(int(cumulative) / 1000, 2)
    profiled, _ = child(importtime=False, profiled=True)
    rows = profiled["profile"]
    harness = {"<module>", "<built-in method builtins.exec>", "handler"}
    top = sorted(
        (r for r in rows if r[2] not in harness and "_bootstrap" not in r[0]),
        key=lambda r: -r[5],
    )[:25]
    return {
        "setup": setup,
        "init_ms": round(plain["init_s"] * 1000, 2),
        "first_invocation_ms": round(plain["invoke_s"] * 1000, 2),
        "modules_imported_by_first_invocation": len(plain["new_modules"]),
        "first_invocation_imports_ms": dict(sorted(imports.items(), key=lambda kv: -kv[1])),
        "profiled_first_invocation_ms": round(profiled["invoke_s"] * 1000, 2),
        "top_cumulative": [
            {
                "function": _short_path(f, line, name),
                "calls": calls,
                "own_ms": round(own * 1000, 2),
                "cumulative_ms": round(cum * 1000, 2),
            }
            for f, line, name, calls, own, cum in top
        ],
    }


def _short_path(filename: str, line: int, function: str) -> str:
    if filename == "~":
        return function
    for marker in ("/python/", "/runtime/", "/function/source/", "/lib/python3"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({function})"


def _quartiles(values: list[float]) -> tuple[float, float]:
    """p25 and p75, interpolated between closest ranks (one value: that value)."""
    if len(values) < 2:
        return values[0], values[0]
    low, _median, high = statistics.quantiles(values, n=4, method="inclusive")
    return low, high


def _summary(values_ms: list[float], prefix: str) -> dict[str, float]:
    low, high = _quartiles(values_ms)
    return {
        f"{prefix}_median_ms": round(statistics.median(values_ms), 2),
        f"{prefix}_p25_ms": round(low, 2),
        f"{prefix}_p75_ms": round(high, 2),
        f"{prefix}_min_ms": round(min(values_ms), 2),
    }


def run(
    proxy: DynamoDbProxy,
    origin: OriginServer,
    moto_endpoint: str,
    *,
    runs: int,
    build_layer: bool,
    seed_value: int,
    python: str | None = None,
) -> dict[str, Any]:
    python = os.path.abspath(python) if python and os.sep in python else python
    python = python or sys.executable
    minor = _minor(python)
    zip_path, note = layer_zip(build_layer)
    layers = prepare_layers(zip_path)
    runtime = runtime_packages(python, minor)
    functions = function_folders(python)
    (CACHE / "home").mkdir(parents=True, exist_ok=True)
    environ = child_environment(proxy.endpoint)
    seeded = seed(origin, moto_endpoint, environ)

    def paths(layer: str, function: str = "source") -> list[str]:
        # Lambda's order: the function's code, then the layer, then the runtime's packages.
        return [str(functions[function]), str(layers[layer]), str(runtime)]

    # Every folder a child sees is read-only, as Lambda mounts /var/task and /opt.
    read_only: list[str] = []
    for layer, function in ((layer, function) for layer in LAYERS for function in FUNCTION_CODE):
        checked = ReadOnlyMounts(paths(layer, function)).check(python)
        read_only += [folder for folder in checked if folder not in read_only]

    with RuntimeApi(on_ready=lambda: dict(proxy.calls)) as api:
        first_environ = {
            **environ,
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{minor}",
            "CATALOG_API_URL": origin.url(""),
            "BENCH_ITEM_KEY": seeded.item_key,
            "BENCH_RC_URL": seeded.rc_url,
        }
        measured = _measure(
            python, paths, environ, first_environ, api, proxy, origin, seeded, runs, seed_value
        )
        proxy.reset()
        seeded.reseed()
        profiled = profile_first_invocation(python, paths("bytecode"), first_environ)
    proxy.reset()
    where = breakdown(python, paths("bytecode"), environ, rounds=min(runs, 5))
    proxy.reset()
    versions = subprocess.run(
        [python, "-I", "-S", "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return {
        "python": versions,
        "interpreter_flags": "-I -S -B",
        "sys_path": ["<function folder>", "<layer>/python", "<runtime: boto3, awslambdaric>"],
        "runtime_packages": runtime.name,
        "layer": {"zip": zip_path.name, **note},
        "read_only_checked": [os.path.relpath(folder, ROOT) for folder in read_only],
        "results": measured["init"],
        "first_response": {
            "runtime_client": RUNTIME_CLIENT,
            "interpreter_flags": "-I -S",
            "folders": "read-only",
            "results": measured["first"],
            "profile_first_invocation": profiled,
        },
        "breakdown_with_bytecode": where,
    }


def _measure(
    python: str,
    paths: Callable[..., list[str]],
    environ: dict[str, str],
    first_environ: dict[str, str],
    api: RuntimeApi,
    proxy: DynamoDbProxy,
    origin: OriginServer,
    seeded: Seeded,
    runs: int,
    seed_value: int,
) -> dict[str, dict[str, Any]]:
    """Every configuration of both measurements, ``runs`` times, interleaved in a shuffled
    order, after a check run of each with the audit hook."""
    init_configs = [(layer, setup) for layer in LAYERS for setup in SETUPS]
    first_configs = [(lay, fn, s) for lay, fn in FIRST_CONFIGS for s in FIRST_SETUPS]

    def first_run(layer: str, function: str, setup: str, audit: bool) -> dict[str, Any]:
        return first_response(
            python, paths(layer, function), setup, first_environ, api, proxy, origin, audit=audit
        )

    # Check runs (also a warm-up of the file cache): every socket connection counted.
    checks: dict[str, Any] = {}
    for layer, setup in init_configs:
        proxy.reset()
        measured = run_child(python, paths(layer), setup, environ, audit=True)
        checks[f"{layer}/{setup}"] = {
            "socket_connects": measured["connects"],
            "dynamodb_calls": dict(proxy.calls),
            "modules": measured["modules"],
        }
    first_checks = {f"{lay}/{fn}/{s}": first_run(lay, fn, s, True) for lay, fn, s in first_configs}

    rng = random.Random(seed_value)
    order: list[tuple[str, ...]] = [*init_configs, *first_configs]
    init_samples: dict[str, list[dict[str, Any]]] = {f"{lay}/{s}": [] for lay, s in init_configs}
    first_samples: dict[str, list[dict[str, Any]]] = {
        f"{lay}/{fn}/{s}": [] for lay, fn, s in first_configs
    }
    calls: dict[str, dict[str, int]] = {key: {} for key in init_samples}
    for index in range(runs):
        seeded.reseed()  # ours' item expires 300 s after it is stored
        rng.shuffle(order)
        for config in order:
            if len(config) == 2:
                layer, setup = config
                key = f"{layer}/{setup}"
                proxy.reset()
                measured = run_child(python, paths(layer), setup, environ, audit=False)
                init_samples[key].append(measured)
                _sum_calls(calls[key], dict(proxy.calls))
            else:
                layer, function, setup = config
                first_samples[f"{layer}/{function}/{setup}"].append(
                    first_run(layer, function, setup, False)
                )
        if (index + 1) % 5 == 0 or index + 1 == runs:
            _log(f"cold start: {index + 1} of {runs} rounds")

    init_results: dict[str, Any] = {}
    for key, samples in init_samples.items():
        init_results[key] = {
            "runs": len(samples),
            **_summary([m["init_s"] * 1000 for m in samples], "init"),
            "process_median_ms": round(
                statistics.median(m["process_s"] * 1000 for m in samples), 2
            ),
            "modules": samples[0]["modules"],
            "dynamodb_calls_total": calls[key],
            "dynamodb_calls_per_start": {op: n / len(samples) for op, n in calls[key].items()},
            **{f"check_{k}": v for k, v in checks[key].items() if k != "modules"},
        }
    first_results: dict[str, Any] = {}
    for key, samples in first_samples.items():
        init_calls: dict[str, int] = {}
        invocation_calls: dict[str, int] = {}
        for sample in samples:
            _sum_calls(init_calls, sample["dynamodb_calls_init"])
            _sum_calls(invocation_calls, sample["dynamodb_calls_first_invocation"])
        check = first_checks[key]
        first_results[key] = {
            "runs": len(samples),
            **_summary([m["first_response_s"] * 1000 for m in samples], "first_response"),
            **_summary([m["ready_s"] * 1000 for m in samples], "ready"),
            **_summary([m["invocation_s"] * 1000 for m in samples], "invocation"),
            **_summary([m["cpu_s"] * 1000 for m in samples], "cpu"),
            "dynamodb_calls_init_total": init_calls,
            "dynamodb_calls_first_invocation_total": invocation_calls,
            "origin_calls_total": 0,  # any origin call fails the run
            "responses_checked_hits": len(samples),
            "check_socket_connects_init": check["connects_init"],
            "check_socket_connects_first_invocation": check["connects_first_invocation"],
            "check_runtime_api_connects_init": check["runtime_api_connects_init"],
            "extension_registered": check["extension_registered"],
            "modules_init": check["modules_init"],
            "modules_imported_by_first_invocation": check["modules_first_invocation"],
        }
    for key, result in init_results.items():
        base = init_results[f"{key.split('/')[0]}/baseline"]["init_median_ms"]
        result["init_x_baseline"] = round(result["init_median_ms"] / base, 4)
    for key, result in first_results.items():
        floor = first_results[key.rsplit("/", 1)[0] + "/floor"]
        for measure in ("first_response", "ready", "invocation"):
            result[f"{measure}_x_floor"] = round(
                result[f"{measure}_median_ms"] / floor[f"{measure}_median_ms"], 4
            )
        result["cpu_x_floor"] = round(result["cpu_median_ms"] / floor["cpu_median_ms"], 4)
    return {"init": init_results, "first": first_results}
