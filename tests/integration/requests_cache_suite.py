"""requests-cache's own test suites (its backend suite and its session tests), brought in from
its pinned source distribution.

requests-cache's wheel has no tests; its sdist does. On first use, pip downloads the sdist of
the pinned version into ``.cache/requests-cache/`` (ignored by git); it is checked against
the sha256 recorded here on every run, and only what the suites need is extracted from it:
``tests/integration/base_cache_test.py`` (``BaseCacheTest``), ``tests/unit/test_session.py``
(its session tests), ``tests/conftest.py`` (the constants, helpers and mock adapter they
import) and ``LICENSE``. requests-cache is under the BSD 2-Clause
licence (Copyright (c) 2019, Roman Haritonov; Copyright (c) 2023, Jordan Cook): its text is in
the extracted ``LICENSE``; nothing of its code is in this repository.

The download goes through pip, so pip's own settings apply (``PIP_INDEX_URL``,
``PIP_NO_INDEX=1`` for offline). If it fails, :func:`load_base_cache_test` raises
:class:`SuiteUnavailable` and the test module skips; a sdist whose hash differs is an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

VERSION = "1.3.3"
SDIST = f"requests_cache-{VERSION}.tar.gz"
SDIST_SHA256 = "79b72d5ac5143992d1836ad78f4d8e65666061dd44e220548caab3723089826b"
# What is extracted, from the sdist's top directory, and under which name.
MEMBERS = {
    "LICENSE": "LICENSE",
    "tests/conftest.py": "conftest.py",
    "tests/integration/base_cache_test.py": "base_cache_test.py",
    "tests/unit/test_session.py": "test_session.py",
}
CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "requests-cache"
DOWNLOAD_TIMEOUT = 300  # seconds; pip also prepares the sdist's metadata (a few seconds)

# Module names the files are loaded under (flat: the stress test pickles a function of
# base_cache_test.py by its module's name, which must be importable from sys.modules as is).
CONFTEST_MODULE = "requests_cache_suite_conftest"
BASE_CACHE_TEST_MODULE = "requests_cache_suite_base_cache_test"
SESSION_TESTS_MODULE = "requests_cache_suite_test_session"


class SuiteUnavailable(Exception):
    """The sdist could not be downloaded (no network, no index)."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _download() -> Path:
    """The pinned sdist in the cache directory, downloaded if missing; checked."""
    sdist = CACHE_DIR / SDIST
    if sdist.exists() and _sha256(sdist) == SDIST_SHA256:
        return sdist
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as scratch:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            "--retries",
            "1",
            "--dest",
            scratch,
            f"requests-cache=={VERSION}",
        ]
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            raise SuiteUnavailable(
                f"pip download of requests-cache {VERSION} took over {DOWNLOAD_TIMEOUT} s"
            ) from None
        downloaded = Path(scratch) / SDIST
        if result.returncode != 0 or not downloaded.exists():
            lines = (result.stderr or result.stdout).strip().splitlines()
            raise SuiteUnavailable(
                f"pip could not download requests-cache {VERSION} (exit {result.returncode}): "
                + (lines[-1] if lines else "no output")
            )
        digest = _sha256(downloaded)
        if digest != SDIST_SHA256:
            raise RuntimeError(
                f"{SDIST} has sha256 {digest}, not the pinned {SDIST_SHA256}: not used"
            )
        os.replace(downloaded, sdist)
    return sdist


def _extract(sdist: Path) -> Path:
    """Write the members the suite needs from ``sdist`` (checked) to the cache directory."""
    target = CACHE_DIR / VERSION
    target.mkdir(parents=True, exist_ok=True)
    top = SDIST.removesuffix(".tar.gz")
    with tarfile.open(sdist, "r:gz") as archive:
        for member, name in MEMBERS.items():
            source = archive.extractfile(f"{top}/{member}")
            if source is None:
                raise RuntimeError(f"{member} is not a file in {SDIST}")
            with source, open(target / name, "wb") as out:
                shutil.copyfileobj(source, out)
    return target


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_base_cache_test() -> ModuleType:
    """requests-cache's ``tests/integration/base_cache_test.py``, unmodified, as a module.

    It imports its helpers as ``tests.conftest``; in this project ``tests`` is this directory,
    so their conftest is loaded under a name of its own and stands in for ``tests.conftest``
    while base_cache_test.py is imported (and only then). Their root-logger setup (a rich
    handler at INFO, for their own runs) is left out: logging stays pytest's."""
    return _load_suite_module(BASE_CACHE_TEST_MODULE, "base_cache_test.py")


def load_session_tests() -> ModuleType:
    """requests-cache's ``tests/unit/test_session.py``, unmodified, as a module, loaded as
    :func:`load_base_cache_test` loads base_cache_test.py. Its tests build their sessions with
    the ``CachedSession`` it imports and the ``mock_session`` fixture of its conftest (not
    loaded as a pytest conftest): the caller substitutes both."""
    return _load_suite_module(SESSION_TESTS_MODULE, "test_session.py")


def load_conftest() -> ModuleType:
    """requests-cache's ``tests/conftest.py`` as the suites see it (``tests.conftest``)."""
    conftest = sys.modules.get(CONFTEST_MODULE)
    return conftest if conftest is not None else _load_conftest(_extract(_download()))


def _load_suite_module(name: str, filename: str) -> ModuleType:
    """The extracted ``filename`` as module ``name`` (loaded once), with requests-cache's
    conftest standing in for ``tests.conftest`` while it is imported."""
    if name in sys.modules:
        return sys.modules[name]
    directory = _extract(_download())
    conftest = _load_conftest(directory)
    with _entry(sys.modules, "tests.conftest", conftest):
        return _load(name, directory / filename)


def _load_conftest(directory: Path) -> ModuleType:
    conftest = sys.modules.get(CONFTEST_MODULE)
    if conftest is None:
        with mock.patch.object(logging, "basicConfig"):
            conftest = _load(CONFTEST_MODULE, directory / "conftest.py")
    return conftest


@contextlib.contextmanager
def _entry(mapping: MutableMapping[str, Any], key: str, value: Any) -> Iterator[None]:
    """``mapping[key] = value`` for the block, then as it was (only that key is touched)."""
    missing = object()
    saved = mapping.get(key, missing)
    mapping[key] = value
    try:
        yield
    finally:
        if saved is missing:
            mapping.pop(key, None)
        else:
            mapping[key] = saved


@contextlib.contextmanager
def local_httpbin() -> Iterator[str]:
    """httpbin (the application requests-cache's suite is written against) on a free loopback
    port, one thread per request; its base URL. The suite finds it through ``HTTPBIN_URL``."""
    from httpbin import app
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
