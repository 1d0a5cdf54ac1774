"""`make conformance`: the public HTTP caching test suite against this project's session and
other Python caches, side by side, in one run.

    python -m bench.conformance [--cache NAME ...] [--suite DIR [--suite-commit SHA]] [--out DIR]

The suite is Mark Nottingham's cache-tests (npm ``http-cache-tests``, the version pinned in
the Makefile), which `make conformance` installs into ``bench/.conformance/``; the harness
installs nothing. ``--suite`` takes either that npm package or a checkout of the suite's git
source (its engine under ``test-engine/``, its npm dependencies installed in it), which
``make conformance CONFORMANCE_SUITE_DIR=...`` runs. It starts the suite's test origin (its
own request handlers, on loopback), a local DynamoDB-compatible server for this project's
table, and then, for each cache in turn, a reverse proxy on 127.0.0.1 that sends every
request (method, path, query, headers, body) through that cache's client to the origin and
writes the client's answer back (status, headers, body), and runs the suite's command-line
client against the proxy.

Every cache is driven through ``requests`` the same way: no redirects followed, no session
headers, no cookie jar, nothing from the environment (proxies, ``.netrc``), so each is measured
on HTTP caching rather than on client habits.

Writes ``conformance.json`` (every test's result for every cache) and ``conformance.md``
(the tables) to ``bench/results/`` (``conformance-git.*`` for a git checkout, so that both
can be kept), and prints the summary.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import http.cookiejar
import importlib.metadata
import json
import logging
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from bench.report import markdown_table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SCRATCH = ROOT / "bench" / ".conformance"
SUITE_NAME = "http-cache-tests"
SUITE_DIR = SCRATCH / "node_modules" / SUITE_NAME
# The npm release runs 100 tests at a time, the git source 25, each a few requests with pauses
# of 3 s: a run takes 20 to 35 s (npm) or 1 to 2 minutes (git) through a cache.
SUITE_TIMEOUT = 900.0
# How long the proxy's client waits for the origin.
ORIGIN_TIMEOUT = 30.0

logger = logging.getLogger("bench.conformance")


# ---------------------------------------------------------------------------------------------
# The suite: its origin, its tests, its command-line client


NPM, GIT = "npm", "git"


def suite_source(suite_dir: Path) -> str | None:
    """How this copy of the suite is laid out: the npm package has its engine (cli.mjs,
    server/, client/, lib/) at the top, beside tests/; a checkout of the git source since 2021
    has it under test-engine/. None: neither."""
    if (suite_dir / "test-engine" / "cli.mjs").is_file():
        return GIT
    if (suite_dir / "cli.mjs").is_file():
        return NPM
    return None


def engine_dir(suite_dir: Path) -> Path:
    return suite_dir / "test-engine" if suite_source(suite_dir) == GIT else suite_dir


def extra_groups(suite_dir: Path) -> list[str]:
    """Test groups the command-line client adds to tests/index.mjs: the npm release's cli.mjs
    adds Surrogate-Control; the git source has no such group (its index holds them all)."""
    return ["surrogate-control.mjs"] if suite_source(suite_dir) == NPM else []


# The suite's origin is server/server.mjs, which listens on every interface; this runs the
# same request handlers with the same dispatch on 127.0.0.1 only, on a free port it prints.
ORIGIN_JS = """
import http from 'node:http'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
const server_dir = process.argv[1]
const load = async name =>
  (await import(pathToFileURL(path.join(server_dir, name)).href)).default
const handlers = new Map([
  ['config', await load('handle-config.mjs')],
  ['test', await load('handle-test.mjs')],
  ['state', await load('handle-state.mjs')]
])
const handleFile = await load('handle-file.mjs')
const server = http.createServer((request, response) => {
  const url = new URL(request.url, 'http://localhost/')
  const segments = url.pathname.split('/')
  segments.shift()
  const handler = handlers.get(segments.shift())
  if (handler) handler(segments, request, response)
  else handleFile(url, request, response)
})
server.listen(0, '127.0.0.1', () => console.log(server.address().port))
"""

# Every test of the suite as its command-line client sees them (tests/index.mjs and the
# groups the client adds to it), with the fields that classify them.
EXPORT_JS = """
import path from 'node:path'
import { pathToFileURL } from 'node:url'
const suite = process.argv[1]
const load = async name =>
  (await import(pathToFileURL(path.join(suite, 'tests', name)).href)).default
const groups = await load('index.mjs')
for (const name of JSON.parse(process.argv[2])) groups.push(await load(name))
console.log(JSON.stringify(groups.map(group => ({
  id: group.id,
  name: group.name,
  tests: group.tests.map(test => ({
    id: test.id,
    name: test.name,
    kind: test.kind || 'required',
    browser_only: test.browser_only === true,
    browser_skip: test.browser_skip === true,
    cdn_only: test.cdn_only === true,
    depends_on: test.depends_on || []
  }))
}))))
"""


@dataclass(frozen=True)
class SuiteTest:
    id: str
    name: str
    group: str
    group_name: str
    # "required" (the suite's default; "conformance" in its results key), "optimal", "check"
    kind: str
    # Run only against browser (private) caches: the command-line client skips them.
    browser_only: bool = False
    # Not run against browsers: shared-cache tests, and tests a browser cannot send.
    browser_skip: bool = False
    depends_on: tuple[str, ...] = ()
    # For CDNs (the git source's CDN-Cache-Control group): not run against browsers.
    cdn_only: bool = False
    # A test of a shared cache only: as a results document records it, or (None) derived
    # from the suite's marks when the test is read from the suite.
    shared: bool | None = None

    def __post_init__(self) -> None:
        if self.shared is None:
            object.__setattr__(self, "shared", self._marked_shared())

    def _marked_shared(self) -> bool:
        """The suite marks shared-cache tests ``browser_skip`` and names the cache a shared
        (or surrogate, i.e. CDN) one, or marks them ``cdn_only``; ``browser_skip`` alone also
        covers tests that browsers cannot run (conditional requests, manual redirects)."""
        return self.cdn_only or (
            self.browser_skip
            and (
                self.group == "surrogate-control"
                or re.search(r"\bshared\b", self.name, re.IGNORECASE) is not None
            )
        )


def parse_export(groups: Iterable[Mapping[str, Any]]) -> list[SuiteTest]:
    return [
        SuiteTest(
            id=test["id"],
            name=test["name"],
            group=group["id"],
            group_name=group["name"],
            kind=test.get("kind") or "required",
            browser_only=bool(test.get("browser_only")),
            browser_skip=bool(test.get("browser_skip")),
            depends_on=tuple(test.get("depends_on") or ()),
            cdn_only=bool(test.get("cdn_only")),
        )
        for group in groups
        for test in group["tests"]
    ]


def recorded_tests(document: Mapping[str, Any]) -> list[SuiteTest]:
    """The suite's tests as a results document (``conformance.json``) records them: what the
    tables need, for drawing them again from the document (the documentation site does)."""
    return [
        SuiteTest(
            id=test_id,
            name=test["name"],
            group=test["group"],
            group_name=test["group"],
            kind=test["kind"],
            browser_only=test["browser_only"],
            depends_on=tuple(test["depends_on"]),
            cdn_only=test["cdn_only"],
            shared=test["shared"],
        )
        for test_id, test in document["tests"].items()
    ]


def node() -> str:
    found = shutil.which("node")
    if found is None:
        raise SystemExit("node is not installed (the suite runs on Node.js)")
    return found


def load_suite(suite_dir: Path) -> list[SuiteTest]:
    answer = subprocess.run(
        [
            node(),
            "--input-type=module",
            "-e",
            EXPORT_JS,
            str(suite_dir),
            json.dumps(extra_groups(suite_dir)),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return parse_export(json.loads(answer.stdout))


def suite_version(suite_dir: Path) -> str:
    return str(json.loads((suite_dir / "package.json").read_text())["version"])


def suite_commit(suite_dir: Path) -> str | None:
    """The commit of a git checkout, when it still has its .git (an export has none)."""
    if not (suite_dir / ".git").exists():
        return None
    answer = subprocess.run(
        ["git", "-C", str(suite_dir), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    if answer.returncode != 0:
        return None
    return answer.stdout.strip() or None


def missing_dependencies(suite_dir: Path) -> list[str]:
    """The suite's npm dependencies that Node.js would not find from its engine (the npm
    package has them beside it, in the node_modules it was installed into; a git checkout
    needs its own)."""
    declared = json.loads((suite_dir / "package.json").read_text()).get("dependencies") or {}
    engine = engine_dir(suite_dir)
    return [
        name
        for name in declared
        if not any(
            (folder / "node_modules" / name / "package.json").is_file()
            for folder in (engine, *engine.parents)
        )
    ]


# The suite's published results (results/index.mjs): which cache, of what kind and version.
PUBLISHED_JS = """
import path from 'node:path'
import { pathToFileURL } from 'node:url'
const index = path.join(process.argv[1], 'results', 'index.mjs')
console.log(JSON.stringify((await import(pathToFileURL(index).href)).default))
"""


@dataclass(frozen=True)
class Published:
    """One cache's results as the suite publishes them, from the run its authors made."""

    name: str
    type: str  # "browser", "rev-proxy", "cdn"
    version: str
    results: Mapping[str, Any]


def load_published(suite_dir: Path) -> list[Published]:
    """The shared caches among the suite's published results (browsers are private caches,
    not comparable); none when the copy has no results/ folder."""
    if not (suite_dir / "results" / "index.mjs").is_file():
        return []
    answer = subprocess.run(
        [node(), "--input-type=module", "-e", PUBLISHED_JS, str(suite_dir)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    published = []
    for entry in json.loads(answer.stdout):
        path = suite_dir / "results" / str(entry["file"])
        if entry.get("type") == "browser" or not path.is_file():
            continue
        published.append(
            Published(
                name=str(entry["name"]),
                type=str(entry.get("type") or ""),
                version=str(entry.get("version") or ""),
                results=json.loads(path.read_text()),
            )
        )
    return published


class SuiteOrigin:
    """The suite's test origin, a Node.js child process on loopback."""

    def __init__(self, suite_dir: Path, log: Path) -> None:
        self.suite_dir = suite_dir
        self.server_dir = engine_dir(suite_dir) / "server"
        self.log = log
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SuiteOrigin:
        # cwd: the suite's file handler serves the package's own files, as under npm.
        self.process = subprocess.Popen(
            [node(), "--input-type=module", "-e", ORIGIN_JS, str(self.server_dir)],
            cwd=self.suite_dir,
            stdout=subprocess.PIPE,
            stderr=self.log.open("w"),
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"the suite's origin did not start (see {self.log})")
        self.port = int(line)
        # Its "SERVER WARNING" lines go on stdout: keep draining them into the log.
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with self.log.open("a") as log:
            for line in self.process.stdout:
                log.write(line)

    def stop(self) -> None:
        if self.process is not None:
            from scripts.local_servers import stop_process

            stop_process(self.process)
            self.process = None

    def __enter__(self) -> SuiteOrigin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_suite(suite_dir: Path, base_url: str, timeout: float = SUITE_TIMEOUT) -> dict[str, Any]:
    """The suite's command-line client against ``base_url``: its results, test id -> ``true``
    or ``[error name, message]``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("npm_")}
    # What `npm run cli --base=...` sets; an empty id runs every test.
    environment.update(npm_config_base=base_url, npm_package_config_id="")
    answer = subprocess.run(
        [node(), "--no-warnings", str(engine_dir(suite_dir) / "cli.mjs")],
        cwd=suite_dir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    try:
        results = json.loads(answer.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(
            f"the suite's client printed no results (exit {answer.returncode}): "
            f"{answer.stderr.strip()[-2000:]}"
        ) from None
    if not isinstance(results, dict):
        raise RuntimeError("the suite's client printed something other than its results")
    return results


# ---------------------------------------------------------------------------------------------
# The reverse proxy: the suite's requests, through a cache's client


# Content codings requests decodes when it reads a body: the body written back is decoded, so
# its Content-Encoding goes.
DECODED_CODINGS = frozenset({"gzip", "x-gzip", "deflate", "br", "zstd"})
# Request headers that are the client's connection to the proxy, not the request: requests
# sets Host from the URL and Content-Length from the body.
NOT_FORWARDED = frozenset({"host", "content-length", "transfer-encoding"})


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


def answer_from_response(response: Any, method: str) -> Answer:
    """What the proxy writes back for a client's response: the status, reason and headers as
    the client gives them, the body it read. The proxy frames the body itself, so the
    response's Transfer-Encoding goes and Content-Length is the body's length (a HEAD, 1xx,
    204 or 304 answer has no body and keeps the Content-Length it came with). A 1xx answer
    is what http.client makes of an origin's 102 or 103 (it skips only 100 Continue): passed
    on as it is, with no final response after it, the suite's client times out on it."""
    status = int(response.status_code)
    reason = response.reason or _phrase(status)
    body = b"" if method == "HEAD" else (response.content or b"")
    no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
    headers: list[tuple[str, str]] = []
    for name, value in response.headers.items():
        lowered = name.lower()
        if lowered == "transfer-encoding":
            continue
        if lowered == "content-length" and not no_body:
            continue
        if lowered == "content-encoding" and body and _decoded(value):
            continue
        headers.append((str(name), str(value)))
    if no_body:
        body = b""
    else:
        headers.append(("Content-Length", str(len(body))))
    return Answer(status, reason, headers, body)


def _decoded(content_encoding: str) -> bool:
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    return bool(codings) and all(c in DECODED_CODINGS for c in codings)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _header_bytes(text: str) -> bytes:
    text = text.replace("\r", " ").replace("\n", " ")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


class CacheProxy:
    """A reverse proxy on 127.0.0.1: each request goes through ``session`` (a requests
    session, cached or not) to ``upstream``, and the session's answer comes back."""

    def __init__(
        self, session: requests.Session, upstream: str, timeout: float = ORIGIN_TIMEOUT
    ) -> None:
        self.session = session
        self.upstream = upstream.rstrip("/")
        self.timeout = timeout
        self.errors: Counter[str] = Counter()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 120  # an idle kept-alive connection ends after it

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def __getattr__(self, name: str) -> Any:
                # Every method, whatever its name (do_GET, do_PUT, do_FOO, ...).
                if name.startswith("do_"):
                    return self._forward
                raise AttributeError(name)

            def _forward(self) -> None:
                answer = proxy.forward(self.command, self.path, self.headers.items(), self._body())
                head = [f"HTTP/1.1 {answer.status} {answer.reason}".rstrip()]
                head += [f"{name}: {value}" for name, value in answer.headers]
                self.wfile.write(b"".join(_header_bytes(line) + b"\r\n" for line in head))
                self.wfile.write(b"\r\n")
                self.wfile.write(answer.body)
                self.wfile.flush()
                # The connection stays open or closes as the suite's request asked (every
                # answer is framed by its Content-Length): a Connection or Keep-Alive header in
                # the answer is the cache's, passed on as it is.

            def _body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            # The suite sends 100 tests at a time.
            request_queue_size = 256

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def forward(
        self, method: str, path: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> Answer:
        sent: dict[str, str] = {}
        names: dict[str, str] = {}
        for name, value in headers:
            lowered = name.lower()
            if lowered in NOT_FORWARDED:
                continue
            if lowered in names:  # repeated field lines, combined as RFC 9110 allows
                sent[names[lowered]] = f"{sent[names[lowered]]}, {value}"
            else:
                names[lowered] = name
                sent[name] = value
        try:
            response = self.session.request(
                method,
                self.upstream + path,
                headers=sent,
                data=body or None,
                allow_redirects=False,
                timeout=self.timeout,
            )
            return answer_from_response(response, method)
        except Exception as error:  # the origin failed (it may hang up on purpose), or the client
            self.errors[type(error).__name__] += 1
            logger.info("%s %s: %r", method, path, error)
            text = f"proxy: {type(error).__name__}".encode()
            return Answer(
                502,
                "Bad Gateway",
                [("Content-Type", "text/plain"), ("Content-Length", str(len(text)))],
                text,
            )

    def start(self) -> CacheProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> CacheProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def plain_client(session: requests.Session) -> requests.Session:
    """The same client habits for every cache: no session headers (the suite's requests carry
    their own User-Agent, Accept and Accept-Encoding), no cookie jar (a ``Set-Cookie`` from
    one test would reach the next as a credential), nothing from the environment (proxies,
    ``.netrc`` credentials)."""
    session.headers.clear()
    session.trust_env = False
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session


# ---------------------------------------------------------------------------------------------
# The caches under test


# Builds a cache's client for one run: the session, and its settings as recorded.
Builder = Callable[["RunContext"], tuple[requests.Session, dict[str, Any]]]


@dataclass(frozen=True)
class Cache:
    id: str
    label: str
    description: str
    build: Builder


@dataclass
class RunContext:
    dynamodb_endpoint: str
    table_number: int = 0

    def new_table(self) -> str:
        """A fresh cache table on the local server."""
        from scripts.local_servers import create_cache_table, dynamodb_client

        self.table_number += 1
        name = f"http_cache_conformance_{self.table_number}"
        create_cache_table(dynamodb_client(self.dynamodb_endpoint), name)
        return name


def standards_settings() -> dict[str, Any]:
    """Standards mode when this version of the library has it; before, no heuristic
    freshness (``expire_after=0``) was the nearest setting."""
    from lambda_http_cache.config import CacheConfig

    if "standards_mode" in {f.name for f in dataclasses.fields(CacheConfig)}:
        return {"standards_mode": True}
    return {"expire_after": 0}


# The suite sends 100 tests at a time, and the local DynamoDB server (one Python process, on
# the same CPUs as the suite and the proxy) then answers some calls in more than the default
# 0.5 s: each would be a miss or an unstored response, and three in a row open the breaker
# for 30 s. Longer timeouts keep the store out of the measurement; every other setting is the
# library's. The run records the session's own error counts to show it.
LOCAL_STORE_ENVIRONMENT = {"HTTP_CACHE_CONNECT_TIMEOUT": "5", "HTTP_CACHE_READ_TIMEOUT": "5"}


def ours(settings: Callable[[], dict[str, Any]]) -> Builder:
    def build(context: RunContext) -> tuple[requests.Session, dict[str, Any]]:
        from lambda_http_cache.config import CacheConfig
        from lambda_http_cache.session import build_session

        chosen = {**settings(), "metrics": False}
        table = context.new_table()
        environ = {**os.environ, **LOCAL_STORE_ENVIRONMENT, "HTTP_CACHE_TABLE": table}
        # As @cached_http builds it, from the environment and the decorator's settings.
        session = build_session(CacheConfig.from_environment(environ, **chosen))
        recorded = {**chosen, "environment": {**LOCAL_STORE_ENVIRONMENT, "HTTP_CACHE_TABLE": table}}
        return plain_client(session), recorded

    return build


def requests_cache_session(context: RunContext) -> tuple[requests.Session, dict[str, Any]]:
    from requests_cache import CachedSession

    settings: dict[str, Any] = {"backend": "memory", "cache_control": True, "expire_after": 0}
    return plain_client(CachedSession(**settings)), settings


def hishel_session(context: RunContext) -> tuple[requests.Session, dict[str, Any]]:
    from hishel import CacheOptions, SqliteStorage
    from hishel.requests import CacheAdapter

    # RFC 9111 mode as a shared cache, in an in-memory database.
    options = CacheOptions(shared=True)
    storage = SqliteStorage(
        connection=sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    )
    session = requests.Session()
    adapter = CacheAdapter(storage=storage, rfc=options)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return plain_client(session), {"rfc": dict(options), "storage": "SqliteStorage(:memory:)"}


CACHES = [
    Cache(
        "ours-standards",
        "this project, standards mode",
        "build_session(CacheConfig.from_environment(environ, **settings)), a fresh table",
        ours(standards_settings),
    ),
    Cache(
        "ours-defaults",
        "this project, defaults",
        "build_session(CacheConfig.from_environment(environ, **settings)), a fresh table",
        ours(dict),
    ),
    Cache(
        "requests-cache",
        "requests-cache",
        "requests_cache.CachedSession(**settings)",
        requests_cache_session,
    ),
    Cache(
        "hishel",
        "hishel, shared",
        "a requests session with hishel.requests.CacheAdapter(storage, rfc=CacheOptions(...))",
        hishel_session,
    ),
]


# ---------------------------------------------------------------------------------------------
# Results

PASS, FAIL = "pass", "fail"
# Outcomes that are neither: the test could not tell.
SETUP, RETRY, HARNESS, DEPENDENCY, NOT_RUN = (
    "setup failed",
    "retried",
    "harness error",
    "dependency failed",
    "not run",
)
OTHER_OUTCOMES = (SETUP, RETRY, HARNESS, DEPENDENCY, NOT_RUN)
KINDS = ("required", "optimal", "check")


def outcome(test: SuiteTest, results: Mapping[str, Any], tests: Mapping[str, SuiteTest]) -> str:
    """A test's outcome as the suite's own display decides it (lib/display.mjs,
    determineTestResult): not run; a dependency that did not pass; a setup failure or a
    retried request; then the assertion's verdict. An error other than a failed assertion or
    setup (a fetch that failed) is a harness error; a ``check`` that fails is a "no"."""
    result = results.get(test.id)
    if result is None:
        return NOT_RUN
    for dependency in test.depends_on:
        if dependency in tests and outcome(tests[dependency], results, tests) != PASS:
            return DEPENDENCY
    if result is True:
        return PASS
    name = result[0] if isinstance(result, list) and result else None
    if name == "Setup":
        return RETRY if len(result) > 1 and result[1] == "retry" else SETUP
    if name == "Assertion":
        return FAIL
    return HARNESS


def outcomes(tests: Iterable[SuiteTest], results: Mapping[str, Any]) -> dict[str, str]:
    by_id = {test.id: test for test in tests}
    return {test.id: outcome(test, results, by_id) for test in by_id.values()}


def bucket(result: str) -> str:
    return result if result in (PASS, FAIL) else "other"


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0
    other: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.other

    def add(self, result: str) -> None:
        if result == PASS:
            self.passed += 1
        elif result == FAIL:
            self.failed += 1
        else:
            self.other += 1

    def cell(self) -> str:
        return f"{self.passed} / {self.failed} / {self.other}"


def tally(
    tests: Iterable[SuiteTest], results: Mapping[str, str], keep: Callable[[SuiteTest], bool]
) -> Tally:
    count = Tally()
    for test in tests:
        if keep(test):
            count.add(results[test.id])
    return count


def runnable(test: SuiteTest) -> bool:
    """Run by the suite's command-line client (it skips tests of browser caches only)."""
    return not test.browser_only


def scored(test: SuiteTest) -> bool:
    """In the headline: required and optimal tests the client runs."""
    return runnable(test) and test.kind in ("required", "optimal")


def summary_rows(
    tests: list[SuiteTest], by_cache: Mapping[str, Mapping[str, str]], labels: Mapping[str, str]
) -> list[list[str]]:
    """One row per cache: the headline (required + optimal passing of N) and its parts."""
    rows = []
    for cache_id, results in by_cache.items():
        headline = tally(tests, results, scored)
        required = tally(tests, results, lambda t: runnable(t) and t.kind == "required")
        optimal = tally(tests, results, lambda t: runnable(t) and t.kind == "optimal")
        checks = tally(tests, results, lambda t: runnable(t) and t.kind == "check")
        shared = tally(tests, results, lambda t: scored(t) and t.shared)
        rows.append(
            [
                labels[cache_id],
                f"**{headline.passed}** of {headline.total}",
                f"{required.passed} of {required.total}",
                f"{optimal.passed} of {optimal.total}",
                f"{checks.passed} of {checks.total}",
                f"{shared.passed} of {shared.total}",
            ]
        )
    return rows


SUMMARY_HEADER = [
    "cache",
    "required + optimal passing",
    "required",
    "optimal",
    "checks answered yes",
    "of which shared-cache tests (required + optimal)",
]


def kind_rows(tests: list[SuiteTest], by_cache: Mapping[str, Mapping[str, str]]) -> list[list[str]]:
    """passed / failed / other by kind, tests of any cache and shared-cache tests apart."""
    rows = []
    for shared, section in ((False, "any cache"), (True, "shared caches only")):
        for kind in KINDS:

            def keep(test: SuiteTest, kind: str = kind, shared: bool = shared) -> bool:
                return runnable(test) and test.kind == kind and test.shared == shared

            total = sum(1 for test in tests if keep(test))
            if total:
                cells = [tally(tests, results, keep).cell() for results in by_cache.values()]
                rows.append([section, kind, str(total), *cells])
    private = sum(1 for test in tests if test.browser_only)
    if private:
        rows.append(
            ["private (browser) caches only", "not run", str(private)] + ["" for _ in by_cache]
        )
    return rows


def group_rows(
    tests: list[SuiteTest], by_cache: Mapping[str, Mapping[str, str]]
) -> list[list[str]]:
    """passed / failed / other of the required and optimal tests, by the suite's groups."""
    groups: dict[str, str] = {}
    for test in tests:
        groups.setdefault(test.group, test.group_name)
    rows = []
    for group, name in groups.items():

        def keep(test: SuiteTest, group: str = group) -> bool:
            return scored(test) and test.group == group

        total = sum(1 for test in tests if keep(test))
        if total:
            cells = [tally(tests, results, keep).cell() for results in by_cache.values()]
            rows.append([f"{name} (`{group}`)", str(total), *cells])
    return rows


def other_rows(
    tests: list[SuiteTest], by_cache: Mapping[str, Mapping[str, str]], labels: Mapping[str, str]
) -> list[list[str]]:
    """What "other" is made of, over the tests the client runs."""
    rows = []
    for cache_id, results in by_cache.items():
        counts = Counter(results[test.id] for test in tests if runnable(test))
        rows.append([labels[cache_id], *(str(counts[name]) for name in OTHER_OUTCOMES)])
    return rows


def summary_table(
    tests: list[SuiteTest], by_cache: Mapping[str, Mapping[str, str]], labels: Mapping[str, str]
) -> str:
    return markdown_table(SUMMARY_HEADER, summary_rows(tests, by_cache, labels))


PUBLISHED_HEADER = [
    "cache",
    "kind",
    "required + optimal passing",
    "required",
    "optimal",
    "shared-cache tests (required + optimal)",
    "of the required + optimal, not in that run",
]


def comparison_rows(
    tests: list[SuiteTest],
    by_cache: Mapping[str, Mapping[str, str]],
    labels: Mapping[str, str],
    published: Sequence[tuple[str, str, Mapping[str, str]]],
) -> list[list[str]]:
    """The caches run here and the suite's published shared caches (label, type, outcomes),
    on the same required and optimal tests; a test that a published run did not have counts
    as not passed."""
    rows: list[tuple[str, str, Mapping[str, str]]] = [
        (labels[cache_id], "run here", results) for cache_id, results in by_cache.items()
    ]
    rows += published
    answer = []
    for label, kind, results in rows:
        headline = tally(tests, results, scored)
        required = tally(tests, results, lambda t: scored(t) and t.kind == "required")
        optimal = tally(tests, results, lambda t: scored(t) and t.kind == "optimal")
        shared = tally(tests, results, lambda t: scored(t) and t.shared)
        absent = sum(1 for test in tests if scored(test) and results[test.id] == NOT_RUN)
        answer.append(
            [
                label,
                kind,
                f"**{headline.passed}** of {headline.total}",
                f"{required.passed} of {required.total}",
                f"{optimal.passed} of {optimal.total}",
                f"{shared.passed} of {shared.total}",
                str(absent),
            ]
        )
    return answer


def kind_table(
    tests: list[SuiteTest], by_cache: Mapping[str, Mapping[str, str]], labels: Mapping[str, str]
) -> str:
    header = ["tests of", "kind", "tests", *(labels[c] for c in by_cache)]
    return markdown_table(header, kind_rows(tests, by_cache))


def group_table(
    tests: list[SuiteTest], by_cache: Mapping[str, Mapping[str, str]], labels: Mapping[str, str]
) -> str:
    header = ["group", "tests", *(labels[c] for c in by_cache)]
    return markdown_table(header, group_rows(tests, by_cache))


def suite_line(facts: Mapping[str, Any]) -> str:
    """Which suite ran. A git checkout's package.json keeps the version of the last npm
    release, whatever changed since: its commit is what names it."""
    if facts.get("suite_source", NPM) == NPM:
        return f"{facts['suite']} {facts['suite_version']} (npm)"
    commit = facts.get("suite_commit") or "unknown"
    return (
        f"{facts['suite']} from its git source, commit {commit} (its package.json says "
        f"{facts['suite_version']}: not the npm release of that number)"
    )


def facts_line(facts: Mapping[str, Any]) -> str:
    versions = facts["versions"]
    packages = ", ".join(f"{name} {version}" for name, version in versions.items() if version)
    changed = " (library changed since)" if facts.get("library_changed_since_commit") else ""
    return (
        f"{suite_line(facts)}, run {facts['date'][:10]} on "
        f"{facts['nproc']} CPUs (`nproc` {facts['nproc']}, {facts['cpu']}), Python "
        f"{facts['python']}, Node.js {facts['node']}, {facts['system']}; {packages}; "
        f"commit {facts['git_commit']}{changed}."
    )


def markdown(
    tests: list[SuiteTest],
    by_cache: Mapping[str, Mapping[str, str]],
    runs: Mapping[str, Mapping[str, Any]],
    facts: Mapping[str, Any],
    published: Sequence[Published] = (),
    json_name: str = "conformance.json",
    command: str = "make conformance",
) -> str:
    """The tables, for ``runs`` (per cache: label, description, settings, seconds, error)."""
    labels = {cache_id: runs[cache_id]["label"] for cache_id in by_cache}
    run = sum(1 for test in tests if runnable(test))
    scored_total = sum(1 for test in tests if scored(test))
    shared_total = sum(1 for test in tests if scored(test) and test.shared)
    caches_list = []
    for cache_id in by_cache:
        cache = runs[cache_id]
        settings = json.dumps(cache.get("settings"), sort_keys=True)
        line = f"- **{cache['label']}** (`{cache_id}`): {cache['description']}; settings "
        line += f"`{settings}`; {cache.get('seconds', 0):.0f} s."
        if cache.get("error"):
            line += f" **The run failed**: {cache['error']}"
        caches_list.append(line)
    return "\n".join(
        [
            "# HTTP caching conformance",
            "",
            f"Written by `{command}` (`python -m bench.conformance`); every test's result "
            f"for every cache is in `{json_name}`.",
            "",
            facts_line(facts),
            "",
            *caches_list,
            "",
            "## Summary",
            "",
            f"Of the suite's {len(tests)} tests, its command-line client runs {run} (the others "
            f"are for browser caches only); {scored_total} of those are required or optimal, "
            f"{shared_total} of them for shared caches only.",
            "",
            summary_table(tests, by_cache, labels),
            "",
            "## By kind",
            "",
            "passed / failed / other. A check that passes answered yes. Other: a failed setup, a "
            "retried request, a harness error, a dependency that did not pass, or not run.",
            "",
            kind_table(tests, by_cache, labels),
            "",
            "## By group",
            "",
            "Required and optimal tests: passed / failed / other.",
            "",
            group_table(tests, by_cache, labels),
            "",
            '## What "other" is',
            "",
            markdown_table(["cache", *OTHER_OUTCOMES], other_rows(tests, by_cache, labels)),
            "",
            *published_section(tests, by_cache, labels, published),
        ]
    )


def published_section(
    tests: list[SuiteTest],
    by_cache: Mapping[str, Mapping[str, str]],
    labels: Mapping[str, str],
    published: Sequence[Published],
) -> list[str]:
    if not published:
        return []
    return [
        "## Beside the suite's published results",
        "",
        "The suite's `results/` folder holds the results its authors published for other caches "
        "(run with the suite of their day, not by this harness); the shared caches among them, "
        "on this run's required and optimal tests. A test that their run did not have counts as "
        "not passed.",
        "",
        markdown_table(
            PUBLISHED_HEADER,
            comparison_rows(
                tests,
                by_cache,
                labels,
                [
                    (f"{cache.name} {cache.version}", cache.type, outcomes(tests, cache.results))
                    for cache in published
                ],
            ),
        ),
        "",
    ]


# ---------------------------------------------------------------------------------------------
# The run


def machine(suite_dir: Path, commit: str | None = None) -> dict[str, Any]:
    from bench.run import cpu_model, git_output

    versions: dict[str, str | None] = {}
    for dist in ("lambda-http-cache", "requests-cache", "hishel", "requests", "urllib3", "moto"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    node_version = subprocess.run(
        [node(), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    import lambda_http_cache

    # Whether the library measured differs from the commit: known only when it is this
    # working tree's (None when it was imported from elsewhere, e.g. an export of a commit).
    library = Path(lambda_http_cache.__file__).resolve().parent
    changed = None
    if library.is_relative_to(ROOT / "layer"):
        changed = bool(git_output("status", "--porcelain", "--", "layer"))
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "suite": SUITE_NAME,
        "suite_version": suite_version(suite_dir),
        "suite_source": suite_source(suite_dir),
        "suite_commit": commit or suite_commit(suite_dir),
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "node": node_version,
        "system": f"{platform.system()} {platform.release()}",
        "git_commit": git_output("rev-parse", "--short", "HEAD"),
        "library_changed_since_commit": changed,
        "versions": versions,
    }


@contextmanager
def logs_to(path: Path) -> Iterator[None]:
    """The caches' own warnings (a failed origin, say) go to a file, not the summary."""
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)
        handler.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.conformance", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--cache",
        action="append",
        choices=[cache.id for cache in CACHES],
        help="run only this cache (repeatable; default: all)",
    )
    parser.add_argument(
        "--suite",
        type=Path,
        default=SUITE_DIR,
        help="the suite: the npm package (default: the one `make conformance` installs) or a "
        "checkout of its git source",
    )
    parser.add_argument(
        "--suite-commit",
        help="the git checkout's commit, when it has no .git to read it from (recorded only)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="output folder (bench/results)")
    parser.add_argument(
        "--name",
        help="output file names without extension (default: conformance for the npm package, "
        "conformance-git for a git checkout)",
    )
    parser.add_argument("--timeout", type=float, default=SUITE_TIMEOUT, help="seconds per cache")
    return parser.parse_args(argv)


def run_cache(
    cache: Cache, context: RunContext, origin_url: str, suite_dir: Path, timeout: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One cache through the whole suite: the client's results, and what to record of the run
    (its settings, time, errors of the proxy and, for this project, the session's counters)."""
    began = time.perf_counter()
    record: dict[str, Any] = {"label": cache.label, "description": cache.description}
    results: dict[str, Any] = {}
    try:
        session, record["settings"] = cache.build(context)
    except Exception as error:
        record.update(seconds=0.0, error=f"could not build the client: {error!r}")
        return results, record
    proxy = CacheProxy(session, origin_url)
    try:
        with proxy:
            results = run_suite(suite_dir, proxy.url, timeout)
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        record["error"] = str(error)
    finally:
        session.close()
    # This project's session counts what it did, failed DynamoDB calls included.
    stats = getattr(session, "stats", None)
    record.update(
        seconds=round(time.perf_counter() - began, 1),
        proxy_errors=dict(proxy.errors),
        cache_counters=stats.drain()[0] if stats is not None else None,
    )
    return results, record


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    suite_dir: Path = args.suite.resolve()
    source = suite_source(suite_dir)
    if source is None:
        print(
            f"{SUITE_NAME} is not in {suite_dir} (neither the npm package's cli.mjs nor a git "
            "checkout's test-engine/cli.mjs): run `make conformance`"
        )
        return 2
    missing = missing_dependencies(suite_dir)
    if missing:
        print(
            f"the suite's npm dependencies are not installed ({', '.join(missing)}): "
            f"npm install --prefix {suite_dir} --omit=dev"
        )
        return 2
    name: str = args.name or ("conformance" if source == NPM else "conformance-git")
    # A git run's logs apart from the npm run's, as its results are.
    logs = "" if source == NPM else "git-"
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", flush=True)

    from scripts.local_servers import local_environment

    local_environment()
    SCRATCH.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    caches = [cache for cache in CACHES if not args.cache or cache.id in args.cache]
    tests = load_suite(suite_dir)
    published = load_published(suite_dir)
    facts = machine(suite_dir, args.suite_commit)
    progress(f"{suite_line(facts)}: {len(tests)} tests")

    from scripts.local_servers import MotoServer

    by_cache: dict[str, dict[str, str]] = {}
    raw: dict[str, dict[str, Any]] = {}
    runs: dict[str, dict[str, Any]] = {}
    with ExitStack() as stack:
        stack.enter_context(logs_to(SCRATCH / f"{logs}caches.log"))
        moto = stack.enter_context(MotoServer())
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = moto.endpoint
        origin = stack.enter_context(SuiteOrigin(suite_dir, SCRATCH / f"{logs}origin.log"))
        progress(f"suite origin at {origin.url}, DynamoDB server at {moto.endpoint}")
        context = RunContext(moto.endpoint)
        for cache in caches:
            raw[cache.id], runs[cache.id] = run_cache(
                cache, context, origin.url, suite_dir, args.timeout
            )
            by_cache[cache.id] = outcomes(tests, raw[cache.id])
            counters = runs[cache.id].get("cache_counters") or {}
            if counters.get("errors") or counters.get("bypassed"):
                progress(
                    f"{cache.label}: {counters.get('errors')} failed and "
                    f"{counters.get('bypassed')} skipped DynamoDB calls (see caches.log): the "
                    "local server was too slow, and the results count them"
                )
            count = Counter(bucket(by_cache[cache.id][t.id]) for t in tests if scored(t))
            error = runs[cache.id].get("error")
            progress(
                f"{cache.label}: {count[PASS]} of {sum(count.values())} required + optimal "
                f"passing ({runs[cache.id]['seconds']:.0f} s)"
                + (f"; FAILED: {error}" if error else "")
            )

    document = {
        "machine": facts,
        "tests": {
            test.id: {
                "group": test.group,
                "kind": test.kind,
                "shared": test.shared,
                "browser_only": test.browser_only,
                "depends_on": list(test.depends_on),
                "cdn_only": test.cdn_only,
                "name": test.name,
            }
            for test in tests
        },
        "caches": {
            cache_id: {**runs[cache_id], "outcomes": by_cache[cache_id], "results": raw[cache_id]}
            for cache_id in by_cache
        },
        # The suite's published shared caches, as this harness counts their results.
        "published": {
            cache.name: {
                "type": cache.type,
                "version": cache.version,
                "outcomes": outcomes(tests, cache.results),
            }
            for cache in published
        },
    }
    command = "make conformance"
    if source == GIT:
        command += " CONFORMANCE_SUITE_DIR=..."
    (args.out / f"{name}.json").write_text(json.dumps(document, indent=1) + "\n")
    (args.out / f"{name}.md").write_text(
        markdown(tests, by_cache, runs, facts, published, f"{name}.json", command)
    )
    labels = {cache_id: run["label"] for cache_id, run in runs.items()}
    print()
    print(summary_table(tests, by_cache, labels))
    print()
    print(kind_table(tests, by_cache, labels))
    print()
    progress(f"written {args.out / f'{name}.md'} and {name}.json")
    return 1 if any(run.get("error") for run in runs.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
