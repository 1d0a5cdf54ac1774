"""Build the Lambda layer zip(s) under ``dist/``, without Docker.

    python scripts/build_layer.py [--out DIR] [--force] [--refresh-pins]

What goes in, all under ``python/`` (Lambda puts ``/opt/python`` on ``sys.path``):

- ``lambda_http_cache`` itself, installed from ``layer/`` with its ``*.dist-info``, less the
  admin command (``admin/`` and ``__main__.py``): it runs on a workstation, installed with the
  package, never in a function;
- its runtime dependencies from ``[project] dependencies`` in pyproject.toml, as pure-Python
  wheels only (pip ``--platform any --implementation py --abi none --only-binary=:all:``),
  versions pinned by ``scripts/layer-constraints.txt`` so that a rebuild gives the same bytes;
- every bundled distribution's ``*.dist-info`` (licenses, metadata): the layer redistributes them;
- bytecode for each Python version the layer declares *and* this machine has an interpreter for
  (or, on a Debian-based machine, can unpack from Debian's packages: 3.14 comes from there
  today), compiled by that interpreter with ``--invalidation-mode unchecked-hash``.

What stays out:

- what every Lambda Python runtime already ships: boto3, botocore, s3transfer, jmespath,
  python-dateutil, six. urllib3 is shipped too (as botocore's dependency) but stays in the layer:
  requests needs it, and the layer's copy, found first on ``sys.path``, must fit both requests
  and the runtime's botocore (urllib3 2.x fits botocore on Python >= 3.10);
- test folders, console scripts (``bin/``), and bytecode compiled by anything else.

Why bytecode matters and why unchecked hashes: Lambda mounts layers read-only, so modules without
matching bytecode are compiled again on every cold start. Bytecode is specific to one Python
minor version, so each version's ``__pycache__/*.cpython-3XX.pyc`` is compiled by that version's
interpreter; a version without an interpreter here gets none (noted in the output) rather than
mismatched bytecode. Timestamp-checked bytecode would be stale as soon as the zip's fixed
timestamps are unpacked; unchecked-hash bytecode is valid for the sources it was compiled
from, and the layer is immutable.

When every file is pure Python (checked: no extension modules, every wheel ``none-any``, and the
dependency markers give the same set for every declared Python version and architecture), one
zip serves both architectures and every declared runtime. The zip is reproducible: sorted
entries, fixed timestamps (1980-01-01) and permissions. A manifest (``layer-manifest.json``)
beside the zip tells the CDK app what each zip is for.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "lambda_http_cache"
PACKAGE_DIR = ROOT / "layer" / PACKAGE
DEFAULT_OUT = ROOT / "dist"
CONSTRAINTS = ROOT / "scripts" / "layer-constraints.txt"
MANIFEST = "layer-manifest.json"

# The Lambda runtimes and architectures the layer is built for.
PYTHON_VERSIONS = ("3.11", "3.12", "3.13", "3.14")
ARCHITECTURES = ("x86_64", "arm64")
# Distributions every Lambda Python runtime provides (boto3 and its dependencies, less urllib3).
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six"}
)
# Folders that are never imported at run time.
TEST_FOLDERS = frozenset({"tests", "test", "testing"})
# Our own package's parts that run on a workstation only (the admin command): left out.
WORKSTATION_ONLY = frozenset({"admin", "__main__.py"})
BINARY_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
# Zip entries: 1980-01-01 00:00:00 (the earliest a zip can hold), rw-r--r--.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
ZIP_FILE_MODE = 0o100644
# Bytecode records the source path: make it the one Lambda loads the layer from.
RUNTIME_ROOT = "/opt"
# Inputs whose change means a new layer (the README is not one: the layer's metadata carries
# a one-line description instead, so a documentation edit publishes no new layer version).
INPUTS = (ROOT / "pyproject.toml", Path(__file__).resolve(), CONSTRAINTS)


class BuildError(RuntimeError):
    """The layer cannot be built as declared."""


@dataclass(frozen=True)
class LayerZip:
    path: Path
    architectures: tuple[str, ...]
    python_versions: tuple[str, ...]
    bytecode: tuple[str, ...]
    files: int
    unpacked_bytes: int

    @property
    def size(self) -> int:
        return self.path.stat().st_size


# Inputs -----------------------------------------------------------------------------------


def package_version() -> str:
    """``lambda_http_cache.__version__``, read without importing the package."""
    tree = ast.parse((PACKAGE_DIR / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise BuildError(f"no __version__ string in {PACKAGE_DIR / '__init__.py'}")


def project_dependencies() -> list[Requirement]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [Requirement(spec) for spec in pyproject["project"]["dependencies"]]


def layer_requirements() -> list[Requirement]:
    """The project's dependencies that the layer must bundle."""
    return [r for r in project_dependencies() if canonicalize_name(r.name) not in RUNTIME_PROVIDED]


def package_sources() -> list[Path]:
    """The package's files that go in the layer."""
    return sorted(
        p
        for p in PACKAGE_DIR.rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and p.suffix != ".pyc"
        and p.relative_to(PACKAGE_DIR).parts[0] not in WORKSTATION_ONLY
    )


def source_digest() -> str:
    """A digest of everything the layer is built from."""
    digest = hashlib.sha256()
    for path in [*INPUTS, *package_sources()]:
        if path.exists():
            digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


# Interpreters -------------------------------------------------------------------------------


def _interpreter_version(executable: str) -> str | None:
    try:
        answer = subprocess.run(
            [
                executable,
                "-I",
                "-c",
                "import sys; print(sys.implementation.name, '%d.%d' % sys.version_info[:2])",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    name, _, version = answer.stdout.strip().partition(" ")
    return version if answer.returncode == 0 and name == "cpython" else None


def _candidates(version: str) -> Iterator[str]:
    override = os.environ.get(f"LAYER_PYTHON_{version.replace('.', '_')}")
    if override:
        yield override
    if "{}.{}".format(*sys.version_info[:2]) == version:
        yield sys.executable
    found = shutil.which(f"python{version}")
    if found:
        yield found
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    for prefix in sorted((pyenv_root / "versions").glob(f"{version}.*"), reverse=True):
        yield str(prefix / "bin" / f"python{version}")
    for folder in ("/usr/local/bin", "/usr/bin"):
        yield f"{folder}/python{version}"


def find_interpreter(version: str) -> str | None:
    """A CPython interpreter of exactly ``version`` (3.X), or None.

    Looks at ``LAYER_PYTHON_3_X``, this interpreter, ``python3.X`` on PATH, pyenv's versions and
    the usual system folders; a candidate counts only if running it reports that version. Failing
    those, on a Debian-based machine, Debian's own build of that version (see
    :func:`debian_interpreter`)."""
    for candidate in _candidates(version):
        if Path(candidate).exists() and _interpreter_version(candidate) == version:
            return candidate
    debian = debian_interpreter(version)
    if debian and _interpreter_version(debian) == version:
        return debian
    return None


# Debian's unstable suite carries CPython versions before any stable Debian (or this machine's)
# does: 3.14 when Lambda's python3.14 runtime arrived. Its packages are unpacked, not installed,
# into .cache/, and run with their own C library through its dynamic loader, so nothing on the
# machine changes. Set LAYER_PYTHON_FROM_DEBIAN=0 to never fetch them.
DEBIAN_SUITE = "sid"
DEBIAN_CACHE = ROOT / ".cache" / "debian-python"
DEBIAN_LIBRARIES = ("libc6", "zlib1g", "libexpat1", "libssl3t64", "libffi8", "liblzma5")
DEBIAN_ARCHITECTURES = {
    "amd64": ("x86_64-linux-gnu", "ld-linux-x86-64.so.2"),
    "arm64": ("aarch64-linux-gnu", "ld-linux-aarch64.so.1"),
}


def _debian_mirror() -> str | None:
    """The Debian mirror this machine's apt already uses (its deb822 or one-line sources)."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        for line in text.splitlines():
            words = line.split()
            if line.startswith("URIs:") and len(words) > 1 and words[1].endswith("/debian"):
                return words[1]
            if words[:1] == ["deb"] and any(w.endswith("/debian") for w in words[1:3]):
                return next(w for w in words[1:3] if w.endswith("/debian"))
    return None


def debian_interpreter(version: str) -> str | None:
    """CPython ``version`` from Debian's unstable suite, unpacked under ``.cache/`` (once), as
    a launcher script; None where that cannot be had (no apt-get or dpkg-deb, no Debian mirror
    configured, another architecture, or the suite has no such version)."""
    if os.environ.get("LAYER_PYTHON_FROM_DEBIAN", "1") == "0":
        return None
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb") and shutil.which("dpkg")):
        return None
    architecture = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=False
    ).stdout.strip()
    mirror = _debian_mirror()
    if architecture not in DEBIAN_ARCHITECTURES or mirror is None:
        return None
    triplet, loader = DEBIAN_ARCHITECTURES[architecture]
    base = DEBIAN_CACHE / f"python{version}-{architecture}"
    launcher = base / f"python{version}"
    if launcher.exists():
        return str(launcher)
    packages = [f"python{version}-minimal", f"libpython{version}-minimal"]
    packages += [f"libpython{version}-stdlib", *DEBIAN_LIBRARIES]
    apt = base / "apt"
    shutil.rmtree(base, ignore_errors=True)
    for folder in (apt / "lists" / "partial", apt / "archives" / "partial", base / "debs"):
        folder.mkdir(parents=True)
    keyring = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
    signed = f"[signed-by={keyring}] " if keyring.exists() else ""
    (apt / "sources.list").write_text(f"deb {signed}{mirror} {DEBIAN_SUITE} main\n")
    options = [
        f"-oDir::Etc::sourcelist={apt / 'sources.list'}",
        "-oDir::Etc::sourceparts=/nonexistent",
        f"-oDir::State::Lists={apt / 'lists'}",
        f"-oDir::Cache::archives={apt / 'archives'}",
        f"-oAPT::Architecture={architecture}",
        "-oAPT::Sandbox::User=root" if os.geteuid() == 0 else "-oDebug::NoLocking=1",
    ]
    print(f"fetching python{version} from Debian's {DEBIAN_SUITE} suite into {base}")
    steps = [["apt-get", *options, "update"], ["apt-get", *options, "download", *packages]]
    for step in steps:
        done = subprocess.run(
            step, cwd=base / "debs", capture_output=True, text=True, timeout=600, check=False
        )
        if done.returncode != 0:
            print(f"note: Debian's python{version} not fetched: {done.stderr.strip()[-300:]}")
            shutil.rmtree(base, ignore_errors=True)
            return None
    root = base / "root"
    for deb in sorted((base / "debs").glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    shutil.rmtree(apt)
    libraries = root / "usr" / "lib" / triplet
    launcher.write_text(
        "#!/bin/sh\n"
        f'exec "{libraries / loader}" --library-path "{libraries}" '
        f'"{root / "usr" / "bin" / f"python{version}"}" "$@"\n'
    )
    launcher.chmod(0o755)
    return str(launcher)


# Build steps --------------------------------------------------------------------------------


def _pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"pip failed ({' '.join(args[:2])}):\n{result.stdout}{result.stderr}")


def install_dependencies(target: Path, *, pinned: bool) -> None:
    """Pure-Python wheels of the layer's dependencies into ``target``."""
    requirements = [str(r) for r in layer_requirements()]
    args = [
        "install",
        "--no-compile",
        "--target",
        str(target),
        "--platform",
        "any",
        "--implementation",
        "py",
        "--abi",
        "none",
        "--python-version",
        PYTHON_VERSIONS[0],
        "--only-binary=:all:",
    ]
    if pinned and CONSTRAINTS.exists():
        args += ["--constraint", str(CONSTRAINTS)]
    _pip(*args, *requirements)


def install_package(target: Path, workdir: Path) -> None:
    """``lambda_http_cache`` and its dist-info, built from a copy of :func:`package_sources`
    (the build writes nothing into the working tree)."""
    source = workdir / "source"
    for path in package_sources():
        copy = source / "layer" / PACKAGE / path.relative_to(PACKAGE_DIR)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)
    shutil.copy2(ROOT / "pyproject.toml", source / "pyproject.toml")
    (source / "README.md").write_text(
        "A shared, persistent HTTP cache in DynamoDB for AWS Lambda functions.\n",
        encoding="utf-8",
    )
    _pip("install", "--no-deps", "--no-compile", "--target", str(target), str(source))
    # pip records where it installed from: a temporary folder, different on every build.
    for direct_url in target.glob("*.dist-info/direct_url.json"):
        direct_url.unlink()


def _dist_infos(site: Path) -> list[Path]:
    return sorted(site.glob("*.dist-info"))


def _dist_name(dist_info: Path) -> str:
    for line in (dist_info / "METADATA").read_text(encoding="utf-8").splitlines():
        if line.startswith("Name:"):
            return canonicalize_name(line.partition(":")[2].strip())
    raise BuildError(f"{dist_info.name} has no Name")


def _record_paths(dist_info: Path) -> list[str]:
    record = dist_info / "RECORD"
    return [line.split(",")[0] for line in record.read_text(encoding="utf-8").splitlines() if line]


def _remove(site: Path, relative: str) -> None:
    path = site / relative
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def remove_runtime_provided(site: Path) -> list[str]:
    """Remove any runtime-provided distribution a dependency pulled in; their names."""
    removed = []
    for dist_info in _dist_infos(site):
        name = _dist_name(dist_info)
        if name in RUNTIME_PROVIDED:
            for relative in _record_paths(dist_info):
                _remove(site, relative)
            shutil.rmtree(dist_info, ignore_errors=True)
            removed.append(name)
    return removed


def prune(site: Path) -> None:
    """Drop console scripts, test folders and any bytecode, then make each RECORD list exactly
    the files that remain (bytecode is added to the RECORDs after compilation)."""
    _remove(site, "bin")
    for path in sorted(site.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if not path.exists() or not path.is_dir():
            continue
        in_metadata = any(part.endswith(".dist-info") for part in path.relative_to(site).parts)
        if path.name == "__pycache__" or (path.name in TEST_FOLDERS and not in_metadata):
            shutil.rmtree(path)
    for path in site.rglob("*.pyc"):
        path.unlink()
    for dist_info in _dist_infos(site):
        record = dist_info / "RECORD"
        kept = [
            line
            for line in record.read_text(encoding="utf-8").splitlines()
            if line and (site / line.split(",")[0]).exists()
        ]
        record.write_text("\n".join(kept) + "\n", encoding="utf-8")


def check_pure(site: Path) -> None:
    binaries = sorted(
        str(p.relative_to(site)) for p in site.rglob("*") if p.name.endswith(BINARY_SUFFIXES)
    )
    if binaries:
        raise BuildError(f"extension modules in a pure-Python layer: {binaries}")
    for dist_info in _dist_infos(site):
        wheel = (dist_info / "WHEEL").read_text(encoding="utf-8")
        tags = re.findall(r"^Tag:\s*(\S+)", wheel, flags=re.MULTILINE)
        if "Root-Is-Purelib: true" not in wheel or not all(t.endswith("-none-any") for t in tags):
            raise BuildError(f"{dist_info.name} is not a pure-Python wheel: {tags}")


def _environment(version: str, architecture: str) -> dict[str, str]:
    machine = "aarch64" if architecture == "arm64" else "x86_64"
    return {
        "python_version": version,
        "python_full_version": f"{version}.0",
        "implementation_name": "cpython",
        "implementation_version": f"{version}.0",
        "platform_python_implementation": "CPython",
        "platform_machine": machine,
        "platform_system": "Linux",
        "sys_platform": "linux",
        "os_name": "posix",
        "platform_release": "",
        "platform_version": "",
    }


def _required_closure(
    roots: Iterable[Requirement], metadata: dict[str, list[Requirement]], env: dict[str, str]
) -> set[str]:
    """The distributions ``roots`` need in ``env``, following Requires-Dist and extras."""
    visited: set[tuple[str, str]] = set()
    pending = [(canonicalize_name(r.name), extra) for r in roots for extra in ["", *r.extras]]
    while pending:
        name, extra = pending.pop()
        if (name, extra) in visited or name in RUNTIME_PROVIDED:
            continue
        visited.add((name, extra))
        for dependency in metadata.get(name, []):
            marker = dependency.marker
            if marker is None or marker.evaluate({**env, "extra": extra}):
                dependency_name = canonicalize_name(dependency.name)
                pending.extend((dependency_name, e) for e in ["", *dependency.extras])
    return {name for name, _ in visited}


def check_markers(site: Path) -> None:
    """The bundled set must be what every declared Python version and architecture needs:
    pip resolved on this machine, and one zip serves them all only if no marker differs."""
    metadata: dict[str, list[Requirement]] = {}
    for dist_info in _dist_infos(site):
        requires = [
            Requirement(line.partition(":")[2].strip())
            for line in (dist_info / "METADATA").read_text(encoding="utf-8").splitlines()
            if line.startswith("Requires-Dist:")
        ]
        metadata[_dist_name(dist_info)] = requires
    roots = [Requirement(PACKAGE.replace("_", "-"))]
    installed = set(metadata)
    for version in PYTHON_VERSIONS:
        for architecture in ARCHITECTURES:
            needed = _required_closure(roots, metadata, _environment(version, architecture))
            if needed != installed:
                raise BuildError(
                    f"python{version} on {architecture} needs {sorted(needed ^ installed)} "
                    "differently from this build: one zip cannot serve every runtime"
                )


def compile_bytecode(staging: Path, versions: Iterable[str]) -> list[str]:
    """Bytecode beside each source for every version with an interpreter; those versions."""
    compiled = []
    for version in versions:
        interpreter = find_interpreter(version)
        if interpreter is None:
            print(
                f"note: no Python {version} interpreter here: the layer carries no bytecode for "
                f"python{version} (those modules compile in memory at each cold start)"
            )
            continue
        command = [
            interpreter,
            "-I",
            "-m",
            "compileall",
            "-q",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(staging),
            "-p",
            RUNTIME_ROOT,
            str(staging / "python"),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BuildError(f"python{version} could not compile the layer:\n{result.stdout}")
        print(f"bytecode for python{version} compiled by {interpreter}")
        compiled.append(version)
    return compiled


def record_bytecode(site: Path) -> None:
    """List each distribution's bytecode in its RECORD, as installers do (no hash)."""
    for dist_info in _dist_infos(site):
        record = dist_info / "RECORD"
        lines = [line for line in record.read_text(encoding="utf-8").splitlines() if line]
        sources = {line.split(",")[0] for line in lines if line.split(",")[0].endswith(".py")}
        extra = []
        for source in sorted(sources):
            folder = (site / source).parent / "__pycache__"
            stem = Path(source).stem
            for pyc in sorted(folder.glob(f"{stem}.cpython-*.pyc")):
                extra.append(f"{pyc.relative_to(site).as_posix()},,")
        record.write_text("\n".join(sorted(set(lines + extra))) + "\n", encoding="utf-8")


def write_zip(staging: Path, destination: Path) -> tuple[int, int]:
    """A reproducible zip of ``staging``; (files, unpacked bytes)."""
    files = sorted(
        (p for p in staging.rglob("*") if p.is_file()),
        key=lambda p: p.relative_to(staging).as_posix(),
    )
    unpacked = 0
    temporary = destination.with_suffix(".zip.tmp")
    with zipfile.ZipFile(temporary, "w") as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(staging).as_posix(), date_time=ZIP_EPOCH)
            info.external_attr = ZIP_FILE_MODE << 16
            info.create_system = 3  # Unix, so the mode above is honoured
            info.compress_type = zipfile.ZIP_DEFLATED
            data = path.read_bytes()
            unpacked += len(data)
            archive.writestr(info, data, compresslevel=9)
    temporary.replace(destination)
    return len(files), unpacked


def _pins(text: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            pins[canonicalize_name(line.partition("==")[0])] = line
    return pins


def write_constraints(site: Path, *, refresh: bool) -> None:
    """Pin every bundled distribution in ``scripts/layer-constraints.txt``: all of them anew
    when refreshing (or when there is no file), else only those not pinned yet."""
    installed = {
        _dist_name(d): f"{_dist_name(d)}=={d.name.removesuffix('.dist-info').rpartition('-')[2]}"
        for d in _dist_infos(site)
        if _dist_name(d) != canonicalize_name(PACKAGE)
    }
    existing = {} if refresh or not CONSTRAINTS.exists() else _pins(CONSTRAINTS.read_text())
    added = sorted(set(installed) - set(existing))
    if not added and existing:
        return
    pins = {**installed, **existing}
    text = (
        "# Exact versions bundled in the Lambda layer, written by scripts/build_layer.py.\n"
        "# Refresh with: python scripts/build_layer.py --refresh-pins\n"
        + "\n".join(pins[name] for name in sorted(pins))
        + "\n"
    )
    CONSTRAINTS.write_text(text, encoding="utf-8")
    print(f"pinned in {CONSTRAINTS.relative_to(ROOT)}: {', '.join(added) or 'all anew'}")


# Manifest -------------------------------------------------------------------------------------


def read_manifest(out: Path) -> dict[str, Any] | None:
    try:
        manifest: dict[str, Any] = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest


def is_up_to_date(out: Path) -> bool:
    """Whether ``out`` holds zips built from the current inputs, untouched since."""
    manifest = read_manifest(out)
    if manifest is None or manifest.get("source_digest") != source_digest():
        return False
    for layer in manifest.get("layers", []):
        path = out / layer["file"]
        if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != layer["sha256"]:
            return False
    return bool(manifest.get("layers"))


def _describe(layer: LayerZip) -> str:
    return (
        f"{layer.path.name}: {layer.size:,} bytes zipped, {layer.unpacked_bytes:,} bytes "
        f"unpacked, {layer.files} files; architectures {', '.join(layer.architectures)}; "
        f"runtimes python{', python'.join(layer.python_versions)}; bytecode for "
        f"{', '.join(layer.bytecode) or 'none'}"
    )


def build(out: Path = DEFAULT_OUT, *, pinned: bool = True) -> list[LayerZip]:
    """Build the layer zip(s) and the manifest into ``out``; the zips built."""
    out.mkdir(parents=True, exist_ok=True)
    version = package_version()
    with tempfile.TemporaryDirectory(prefix="layer-build-") as tmp:
        workdir = Path(tmp)
        staging = workdir / "layer"
        site = staging / "python"
        install_dependencies(site, pinned=pinned)
        install_package(site, workdir)
        removed = remove_runtime_provided(site)
        if removed:
            print(f"left out (the Lambda runtime provides them): {', '.join(removed)}")
        prune(site)
        check_pure(site)
        check_markers(site)
        write_constraints(site, refresh=not pinned)
        bytecode = compile_bytecode(staging, PYTHON_VERSIONS)
        record_bytecode(site)
        name = f"{PACKAGE}-{version}-layer.zip"
        files, unpacked = write_zip(staging, out / name)
    layer = LayerZip(out / name, ARCHITECTURES, PYTHON_VERSIONS, tuple(bytecode), files, unpacked)
    manifest = {
        "package": PACKAGE,
        "version": version,
        "source_digest": source_digest(),
        "layers": [
            {
                "file": layer.path.name,
                "architectures": list(layer.architectures),
                "python_versions": list(layer.python_versions),
                "bytecode": list(layer.bytecode),
                "sha256": hashlib.sha256(layer.path.read_bytes()).hexdigest(),
                "size": layer.size,
                "unpacked_bytes": layer.unpacked_bytes,
                "files": layer.files,
            }
        ],
    }
    for stale in out.glob(f"{PACKAGE}-*-layer*.zip"):
        if stale.name != name:
            stale.unlink()
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(_describe(layer))
    return [layer]


def ensure_built(out: Path = DEFAULT_OUT) -> dict[str, Any]:
    """The manifest of ``out``, building the layer first if it is missing or stale."""
    if not is_up_to_date(out):
        build(out)
    manifest = read_manifest(out)
    assert manifest is not None
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (dist/)")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument(
        "--refresh-pins",
        action="store_true",
        help="resolve the newest allowed versions and rewrite scripts/layer-constraints.txt",
    )
    args = parser.parse_args(argv)
    try:
        if not (args.force or args.refresh_pins) and is_up_to_date(args.out):
            manifest = read_manifest(args.out)
            assert manifest is not None
            for layer in manifest["layers"]:
                print(f"up to date: {layer['file']}: {layer['size']:,} bytes zipped")
            return 0
        build(args.out, pinned=not args.refresh_pins)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
