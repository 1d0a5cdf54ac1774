"""The layer zip: contents, bytecode, reproducibility, and the example function running on it
in an isolated interpreter that sees only the layer, the function and what Lambda provides."""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from scripts import build_layer
from scripts.local_servers import LOCAL_CREDENTIALS, MotoServer, OriginServer, create_cache_table
from tests.deploy.cdk_support import ROOT, layer_dir

# What the Lambda Python runtimes provide: boto3 and its dependencies (urllib3 included).
RUNTIME_DISTRIBUTIONS = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
)
PRODUCTS = {
    1: {"id": 1, "name": "Kettle", "price": 24.5},
    2: {"id": 2, "name": "Teapot", "price": 18},
    3: {"id": 3, "name": "Mug", "price": 6.25},
}


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return layer_dir(tmp_path_factory)


@pytest.fixture(scope="session")
def manifest(built: Path) -> dict[str, Any]:
    return json.loads((built / build_layer.MANIFEST).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def layer_zip(built: Path, manifest: dict[str, Any]) -> Path:
    (entry,) = manifest["layers"]
    return built / entry["file"]


@pytest.fixture(scope="session")
def unpacked(layer_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("opt")
    with zipfile.ZipFile(layer_zip) as archive:
        archive.extractall(folder)
    return folder


def _site(unpacked: Path) -> Path:
    return unpacked / "python"


def _dist_names(site: Path) -> dict[str, Path]:
    names = {}
    for dist_info in site.glob("*.dist-info"):
        metadata = (dist_info / "METADATA").read_text(encoding="utf-8")
        name = re.search(r"^Name:\s*(\S+)", metadata, flags=re.MULTILINE)
        assert name, dist_info
        names[name.group(1).lower().replace("_", "-")] = dist_info
    return names


# Contents -------------------------------------------------------------------------------------


def test_one_pure_python_zip_serves_every_architecture_and_runtime(
    manifest: dict[str, Any], layer_zip: Path
) -> None:
    import lambda_http_cache

    (entry,) = manifest["layers"]
    assert manifest["version"] == lambda_http_cache.__version__
    assert entry["architectures"] == ["x86_64", "arm64"]
    assert entry["python_versions"] == ["3.11", "3.12", "3.13", "3.14"]
    assert entry["size"] == layer_zip.stat().st_size
    assert entry["sha256"] == hashlib.sha256(layer_zip.read_bytes()).hexdigest()
    with zipfile.ZipFile(layer_zip) as archive:
        names = archive.namelist()
    assert not [n for n in names if n.endswith(build_layer.BINARY_SUFFIXES)]


def test_zip_entries_are_sorted_with_fixed_times_and_modes(layer_zip: Path) -> None:
    with zipfile.ZipFile(layer_zip) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert all(n.startswith("python/") for n in names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}


def test_bundles_the_package_and_its_dependencies_not_what_lambda_ships(unpacked: Path) -> None:
    site = _site(unpacked)
    dists = _dist_names(site)
    for needed in ("lambda-http-cache", "requests-cache", "requests", "urllib3", "certifi"):
        assert needed in dists
    # urllib3 stays: requests needs it, and the runtime's copy is not guaranteed to fit.
    for provided in ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six"):
        assert provided not in dists
    for top in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "bin"):
        assert not (site / top).exists()
    assert (site / "lambda_http_cache" / "__init__.py").exists()
    assert (site / "lambda_http_cache" / "py.typed").exists()
    test_folders = [
        p
        for p in site.rglob("*")
        if p.is_dir() and p.name in build_layer.TEST_FOLDERS and ".dist-info" not in str(p)
    ]
    assert test_folders == []
    assert not list(site.glob("*.dist-info/direct_url.json"))


def _imports(source: Path, package_dir: Path) -> set[str]:
    """The modules ``source`` (a module of ``lambda_http_cache`` in ``package_dir``) imports,
    anywhere in it, relative imports resolved; ``from m import n`` counts ``m`` and ``m.n``."""
    parts = ["lambda_http_cache", *source.relative_to(package_dir).with_suffix("").parts]
    package = parts[:-1]  # a module's package; for __init__, the package itself
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_the_admin_command_stays_out_of_the_layer(unpacked: Path) -> None:
    """The admin command runs on a workstation, installed with the package: the layer holds
    every other file of the package, and none of them imports the admin code."""
    site = _site(unpacked)
    package = site / "lambda_http_cache"
    source_dir = ROOT / "layer" / "lambda_http_cache"
    assert (source_dir / "admin" / "__init__.py").exists()
    assert (source_dir / "__main__.py").exists()
    assert not (package / "admin").exists()
    assert not (package / "admin.py").exists()
    assert not (package / "__main__.py").exists()

    def files(folder: Path) -> set[str]:
        return {
            p.relative_to(folder).as_posix()
            for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        }

    sources = files(source_dir)
    expected = {f for f in sources if not f.startswith("admin/") and f != "__main__.py"}
    assert {"__init__.py", "backend.py", "table.py", "py.typed"} <= expected < sources
    assert files(package) == expected
    (dist_info,) = site.glob("lambda_http_cache-*.dist-info")
    record = (dist_info / "RECORD").read_text(encoding="utf-8")
    assert "lambda_http_cache/admin" not in record
    assert "__main__" not in record

    def admin_code(imported: set[str]) -> list[str]:
        return [
            m
            for m in imported
            if m in ("lambda_http_cache.admin", "lambda_http_cache.__main__")
            or m.startswith("lambda_http_cache.admin.")
        ]

    # As the checkout's __main__.py does (``from .admin import main``), and no layer file.
    assert admin_code(_imports(source_dir / "__main__.py", source_dir))
    for source in package.rglob("*.py"):
        assert not admin_code(_imports(source, package)), source


def test_every_bundled_distribution_keeps_its_license_and_metadata(unpacked: Path) -> None:
    site = _site(unpacked)
    for name, dist_info in _dist_names(site).items():
        metadata = (dist_info / "METADATA").read_text(encoding="utf-8")
        assert (dist_info / "RECORD").exists(), name
        license_files = [
            p
            for p in dist_info.rglob("*")
            if p.is_file() and re.match(r"(LICEN[CS]E|COPYING)", p.name)
        ]
        declared = re.search(r"^License(-Expression)?:\s*\S", metadata, flags=re.MULTILINE)
        assert license_files or declared, f"{name} ships no license"
        if name != "lambda-http-cache":
            assert license_files, f"{name}: its license file is left out"
        # RECORD lists exactly the files shipped (bytecode included, without hashes).
        for line in (dist_info / "RECORD").read_text(encoding="utf-8").splitlines():
            assert (site / line.split(",")[0]).exists(), f"{name} RECORD lists {line}"


def test_bundled_urllib3_fits_the_runtime_botocore(unpacked: Path) -> None:
    """The layer's urllib3 comes first on sys.path, so botocore uses it too."""
    dist_info = _dist_names(_site(unpacked))["urllib3"]
    bundled = Version(dist_info.name.removesuffix(".dist-info").rpartition("-")[2])
    botocore = importlib.metadata.distribution("botocore")
    requirements = [Requirement(r) for r in botocore.requires or []]
    checked = 0
    for version in build_layer.PYTHON_VERSIONS:
        environment = {"python_version": version, "python_full_version": f"{version}.0"}
        for requirement in requirements:
            if requirement.name == "urllib3" and (
                requirement.marker is None or requirement.marker.evaluate(environment)
            ):
                assert bundled in requirement.specifier, (version, str(requirement))
                checked += 1
    assert checked >= len(build_layer.PYTHON_VERSIONS)


# Bytecode -------------------------------------------------------------------------------------

BYTECODE_CHECK = r"""
import _imp, importlib.util, json, sys
from pathlib import Path

site = Path(sys.argv[1])
tag = sys.implementation.cache_tag
problems, checked = [], 0
for source in site.rglob("*.py"):
    pyc = Path(importlib.util.cache_from_source(str(source)))
    if not pyc.exists():
        problems.append(f"missing {pyc}")
        continue
    data = pyc.read_bytes()
    flags = int.from_bytes(data[4:8], "little")
    if data[:4] != importlib.util.MAGIC_NUMBER:
        problems.append(f"magic {pyc}")
    elif flags != 0b01:  # hash-based, source not checked
        problems.append(f"flags {flags} {pyc}")
    elif data[8:16] != importlib.util.source_hash(source.read_bytes()):
        problems.append(f"stale {pyc}")
    checked += 1
print(json.dumps({"tag": tag, "checked": checked, "problems": problems}))
"""


def test_bytecode_exists_only_for_versions_with_an_interpreter(
    unpacked: Path, manifest: dict[str, Any]
) -> None:
    (entry,) = manifest["layers"]
    assert "3.11" in entry["bytecode"]  # this interpreter's version at least
    # Every version the build finds an interpreter for has bytecode, and no other.
    assert entry["bytecode"] == [
        v for v in build_layer.PYTHON_VERSIONS if build_layer.find_interpreter(v) is not None
    ]
    tags = {f"cpython-{v.replace('.', '')}" for v in entry["bytecode"]}
    site = _site(unpacked)
    sources = list(site.rglob("*.py"))
    found: dict[str, int] = {}
    for pyc in site.rglob("*.pyc"):
        assert pyc.parent.name == "__pycache__"
        stem, tag = pyc.name.split(".")[:2]
        assert tag in tags, pyc
        assert (pyc.parent.parent / f"{stem}.py").exists(), f"orphan {pyc}"
        found[tag] = found.get(tag, 0) + 1
    assert found == dict.fromkeys(tags, len(sources))


@pytest.mark.parametrize("version", build_layer.PYTHON_VERSIONS)
def test_bytecode_matches_its_interpreter_and_sources(
    unpacked: Path, manifest: dict[str, Any], version: str
) -> None:
    (entry,) = manifest["layers"]
    interpreter = build_layer.find_interpreter(version)
    if version not in entry["bytecode"] or interpreter is None:
        pytest.skip(f"no python{version} here: the layer has no bytecode for it")
    answer = subprocess.run(
        [interpreter, "-I", "-c", BYTECODE_CHECK, str(_site(unpacked))],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(answer.stdout)
    assert report["problems"] == []
    assert report["checked"] > 100


def test_two_builds_give_identical_zips_and_only_changed_inputs_rebuild(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both builds read one snapshot of the inputs, which the working tree may not stay.
    snapshot = tmp_path / "src"
    shutil.copytree(
        build_layer.PACKAGE_DIR,
        snapshot / "layer" / build_layer.PACKAGE,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    for relative in ("pyproject.toml", "scripts/build_layer.py", "scripts/layer-constraints.txt"):
        (snapshot / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, snapshot / relative)
    monkeypatch.setattr(build_layer, "ROOT", snapshot)
    monkeypatch.setattr(build_layer, "PACKAGE_DIR", snapshot / "layer" / build_layer.PACKAGE)
    monkeypatch.setattr(build_layer, "CONSTRAINTS", snapshot / "scripts/layer-constraints.txt")
    inputs = ("pyproject.toml", "scripts/build_layer.py", "scripts/layer-constraints.txt")
    monkeypatch.setattr(build_layer, "INPUTS", tuple(snapshot / p for p in inputs))
    (first,) = build_layer.build(tmp_path / "one")
    (second,) = build_layer.build(tmp_path / "two")
    if second.path.read_bytes() != first.path.read_bytes():
        with zipfile.ZipFile(first.path) as a, zipfile.ZipFile(second.path) as b:
            first_entries = {i.filename: i.CRC for i in a.infolist()}
            second_entries = {i.filename: i.CRC for i in b.infolist()}
        differing = sorted(
            n
            for n in first_entries.keys() | second_entries.keys()
            if first_entries.get(n) != second_entries.get(n)
        )
        pytest.fail(f"the two builds differ in {differing[:20]}")
    manifests = [
        (d / build_layer.MANIFEST).read_bytes() for d in (tmp_path / "one", tmp_path / "two")
    ]
    assert manifests[0] == manifests[1]

    # `make layer` again: nothing to do. A source edit: the zip is stale.
    before = first.path.stat().st_mtime_ns
    assert build_layer.is_up_to_date(tmp_path / "one")
    assert build_layer.main(["--out", str(tmp_path / "one")]) == 0
    assert first.path.stat().st_mtime_ns == before
    with (build_layer.PACKAGE_DIR / "__init__.py").open("a", encoding="utf-8") as source:
        source.write("# edited\n")
    assert not build_layer.is_up_to_date(tmp_path / "one")


# The example function on the layer, in an isolated interpreter ----------------------------------

INVOKE = r"""
import json, sys
function_dir, layer_dir, runtime_dir, invocations = json.loads(sys.argv[1])
# Lambda's order: the function's code, then /opt/python, then the runtime's packages.
sys.path[:0] = [function_dir, layer_dir, runtime_dir]
import handler
results = [handler.handler({"product_ids": [1, 2, 3]}, None) for _ in range(invocations)]
# The decorator's path never loads requests-cache; the drop-in backend still finds it.
requests_cache_loaded = "requests_cache" in sys.modules
import requests_cache
origins = {}
for name in ("handler", "lambda_http_cache", "requests_cache", "requests", "urllib3", "boto3"):
    origins[name] = sys.modules[name].__file__
print(json.dumps({
    "results": results,
    "origins": origins,
    "sys_path": sys.path,
    "requests_cache_loaded": requests_cache_loaded,
    "version": "%d.%d" % sys.version_info[:2],
}))
"""


@pytest.fixture(scope="session")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a Lambda Python runtime provides: boto3 and its dependencies (linked from this
    environment, all pure Python), and nothing else."""
    folder = tmp_path_factory.mktemp("var-runtime")
    for name in RUNTIME_DISTRIBUTIONS:
        distribution = importlib.metadata.distribution(name)
        base = Path(str(distribution.locate_file("")))
        tops = {
            Path(str(f)).parts[0]
            for f in distribution.files or []
            if not str(f).startswith("..") and Path(str(f)).parts[0] != "bin"
        }
        for top in tops:
            link = folder / top
            if not link.exists():
                link.symlink_to(base / top)
    return folder


@pytest.fixture(scope="session")
def function_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example function's folder (so nothing is written into the repository)."""
    folder = tmp_path_factory.mktemp("var-task")
    shutil.copy2(ROOT / "functions" / "catalog" / "handler.py", folder / "handler.py")
    return folder


@pytest.fixture
def catalog_origin() -> Any:
    with OriginServer() as origin:
        for product_id, product in PRODUCTS.items():
            origin.route(f"/products/{product_id}", json.dumps(product))
        yield origin


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def _invoke(
    interpreter: str,
    paths: tuple[Path, Path, Path],
    environment: dict[str, str],
    invocations: int,
) -> dict[str, Any]:
    argument = json.dumps([*map(str, paths), invocations])
    answer = subprocess.run(
        [interpreter, "-I", "-S", "-c", INVOKE, argument],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    report: dict[str, Any] = json.loads(answer.stdout.strip().splitlines()[-1])
    return report


@pytest.mark.parametrize("version", build_layer.PYTHON_VERSIONS)
def test_example_function_runs_on_the_layer_in_an_isolated_interpreter(
    version: str,
    manifest: dict[str, Any],
    unpacked: Path,
    runtime_dir: Path,
    function_dir: Path,
    moto_server: MotoServer,
    ddb: Any,
    catalog_origin: OriginServer,
) -> None:
    (entry,) = manifest["layers"]
    interpreter = build_layer.find_interpreter(version)
    assert version in entry["python_versions"]
    if interpreter is None:
        # Nothing here can load the zip as this runtime would: the file-list tests above
        # are what checks it for this version.
        pytest.skip(f"no python{version} interpreter here")
    table = f"http_cache_layer_{version.replace('.', '_')}"
    create_cache_table(ddb, table)
    environment = {
        **LOCAL_CREDENTIALS,
        "PATH": "/usr/bin:/bin",
        "AWS_ENDPOINT_URL_DYNAMODB": moto_server.endpoint,
        "HTTP_CACHE_TABLE": table,
        "CATALOG_API_URL": catalog_origin.url(""),
        "AWS_LAMBDA_FUNCTION_NAME": "catalog",
    }
    site = _site(unpacked)
    paths = (function_dir, site, runtime_dir)
    before = _snapshot(unpacked)

    warm = _invoke(interpreter, paths, environment, invocations=2)
    first, second = warm["results"]
    assert warm["version"] == version
    assert first["cache"] == {"hits": 0, "misses": 3}
    assert second["cache"] == {"hits": 3, "misses": 0}
    assert [line["price"] for line in second["lines"]] == [24.5, 18, 6.25]
    assert second["total"] == 48.75
    # A new container (cold start) finds the responses in the table.
    cold = _invoke(interpreter, paths, environment, invocations=1)
    assert cold["results"][0]["cache"] == {"hits": 3, "misses": 0}
    assert catalog_origin.hits == {f"/products/{i}": 1 for i in PRODUCTS}

    # Each module came from where Lambda would find it; no site-packages was on the path.
    origins = warm["origins"]
    assert origins["handler"].startswith(str(function_dir))
    for name in ("lambda_http_cache", "requests_cache", "requests", "urllib3"):
        assert origins[name].startswith(str(site)), (name, origins[name])
    assert origins["boto3"].startswith(str(runtime_dir))
    assert not [p for p in warm["sys_path"] if "site-packages" in p]
    assert warm["requests_cache_loaded"] is False
    # The layer's bytecode served the imports: nothing was compiled and written into it.
    if version in entry["bytecode"]:
        assert _snapshot(unpacked) == before
