"""The site's pages against what they document: every setting the library reads is on the
configuration page, every code sample is a file of examples/ that a test runs, the README's
example is that file, and every `make` target the pages name exists."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from lambda_http_cache.config import ENVIRONMENT, CacheConfig

from tests.examples.support import EXAMPLES, ROOT

DOCS = ROOT / "docs"
PACKAGE = ROOT / "layer" / "lambda_http_cache"
CONFIGURATION = DOCS / "configuration.md"
FENCE = re.compile(
    r"^(?P<indent> *)(?P<fence>```+)(?P<lang>[^\n]*)\n(?P<body>.*?)^(?P=indent)(?P=fence)\s*$",
    re.MULTILINE | re.DOTALL,
)
INCLUDE = re.compile(r'^\s*--8<-- "(?P<path>[^"]+)"\s*$')
# What a fenced block may hold besides an included file: commands to type, not code samples.
COMMANDS = ("make ", "pip ", ".venv/bin/python ", "npx ")


def pages() -> Iterator[Path]:
    yield from sorted(DOCS.rglob("*.md"))


def fenced_blocks(text: str) -> Iterator[tuple[str, str]]:
    for match in FENCE.finditer(text):
        yield match.group("lang").strip(), match.group("body")


def read_from_environment() -> set[str]:
    """Every variable name the package reads from ``os.environ`` (or an ``environ`` argument)
    by a literal: ``environ.get("X")``, ``environ["X"]``, ``os.getenv("X")``."""
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            target: ast.expr | None = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
                owner = ast.unparse(node.func.value)
                if (node.func.attr in ("get", "pop") and owner.endswith("environ")) or (
                    node.func.attr == "getenv"
                ):
                    target = node.args[0]
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("environ"):
                target = node.slice
            if isinstance(target, ast.Constant) and isinstance(target.value, str):
                names.add(target.value)
    return names


def test_the_configuration_page_lists_every_setting_the_library_reads() -> None:
    text = CONFIGURATION.read_text(encoding="utf-8")
    rows = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\| `(\w+)` \| (`\w+`|\(code only\)) \|", text, re.MULTILINE)
    }
    # Every setting of CacheConfig has its row, with its variable (or "code only").
    for field in CacheConfig.__dataclass_fields__:
        assert field in rows, f"{field} is not on the configuration page"
        expected = f"`{ENVIRONMENT[field][0]}`" if field in ENVIRONMENT else "(code only)"
        assert rows[field] == expected, (field, rows[field])
    assert set(rows) == set(CacheConfig.__dataclass_fields__)
    # And every other variable the package reads is named on the page.
    others = read_from_environment()
    assert {"AWS_LAMBDA_FUNCTION_NAME", "POWERTOOLS_SERVICE_NAME", "REQUESTS_CA_BUNDLE"} <= others
    for name in others:
        assert f"`{name}`" in text, f"{name} is read by the library but not on the page"


def test_every_code_sample_is_an_included_example() -> None:
    included: set[str] = set()
    for page in pages():
        for lang, body in fenced_blocks(page.read_text(encoding="utf-8")):
            if lang == "mermaid":
                continue
            for line in body.splitlines():
                if not line.strip():
                    continue
                include = INCLUDE.match(line)
                if include:
                    included.add(include.group("path"))
                    continue
                assert line.strip().startswith(COMMANDS), (
                    f"{page.relative_to(ROOT)}: a code sample written in the page, not "
                    f"included from examples/: {line!r}"
                )
    assert all(path.startswith("examples/") for path in included), included
    for path in included:
        assert (ROOT / path).is_file(), path
    # Every example is on a page, and named by a test that runs it.
    tests = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py"))
    for example in sorted(EXAMPLES.iterdir()):
        if example.is_file():
            assert f"examples/{example.name}" in included, f"{example.name} is on no page"
            assert example.stem in tests or example.name in tests, f"no test runs {example.name}"


def test_the_readmes_example_is_the_basic_handler() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = (EXAMPLES / "handler_basic.py").read_text(encoding="utf-8")
    python = [body for lang, body in fenced_blocks(readme) if lang == "python"]
    assert python == [code]


def test_every_make_target_named_exists() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    rules = re.findall(r"^([a-z][a-z0-9 -]*):(?!=)", makefile, re.MULTILINE)
    targets = {target for rule in rules for target in rule.split()}
    for path in [ROOT / "README.md", *pages()]:
        text = path.read_text(encoding="utf-8")
        named = re.findall(r"`make ([a-z][a-z0-9-]*)", text)
        named += re.findall(r"^\s*make ([a-z][a-z0-9-]*)", text, re.MULTILINE)
        for name in named:
            assert name in targets, f"{path.relative_to(ROOT)} names `make {name}`"


def test_no_page_carries_a_commit_hash() -> None:
    for path in [ROOT / "README.md", *pages()]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\bcommit [0-9a-f]{7,40}\b", text), path
