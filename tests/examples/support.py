"""What the tests of examples/ share: loading an example as Lambda imports a handler module,
and running a shell example with a stand-in ``aws`` command that records its calls."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
_modules = itertools.count()

# A stand-in for the AWS CLI: records each call (its arguments, as the shell passed them) as
# a JSON line, and answers a call that asks for one value (--query) with a made-up one.
FAKE_AWS = """#!{python}
import json, sys
args = sys.argv[1:]
with open({record!r}, "a", encoding="utf-8") as out:
    out.write(json.dumps(args) + "\\n")
if "--query" in args:
    print("fake-" + "-".join(a.strip("-") for a in args[:2]))
"""


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a new module, as Lambda's init imports a handler."""
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}_{next(_modules)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lambda_context(request_id: str, tenant_id: str | None = None) -> SimpleNamespace:
    """What a handler (and Powertools' decorators) read of Lambda's context."""
    return SimpleNamespace(
        aws_request_id=request_id,
        function_name="pricing",
        memory_limit_in_mb=256,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:pricing",
        tenant_id=tenant_id,
    )


def run_with_fake_aws(
    script: Path, tmp: Path, env: dict[str, str] | None = None
) -> list[list[str]]:
    """Run a shell example with ``aws`` recording its calls; the calls, in order."""
    record = tmp / "aws-calls.jsonl"
    record.write_text("", encoding="utf-8")
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "aws"
    fake.write_text(FAKE_AWS.format(python=sys.executable, record=str(record)), encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    environment = {
        **os.environ,
        **(env or {}),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }
    subprocess.run(["bash", str(script)], check=True, cwd=ROOT, env=environment, timeout=60)
    return [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]


def options(call: list[str]) -> dict[str, str | bool]:
    """A CLI call's ``--name value`` options (a flag without a value is True)."""
    found: dict[str, str | bool] = {}
    args = list(call)
    while args:
        arg = args.pop(0)
        if arg.startswith("--"):
            if args and not args[0].startswith("--"):
                found[arg[2:]] = args.pop(0)
            else:
                found[arg[2:]] = True
    return found


def shell_words(script: Path) -> list[str]:
    """The script's words, comments left out (for static checks)."""
    return shlex.split(script.read_text(encoding="utf-8"), comments=True)


def api_parameters(call: list[str]) -> tuple[str, dict[str, Any]]:
    """``aws dynamodb <command> --opt value ...`` as a boto3 method name and its parameters."""
    service, command, *rest = call
    assert service == "dynamodb", call
    parameters: dict[str, Any] = {}
    for name, value in options(rest).items():
        key = "".join(part.capitalize() for part in name.split("-"))
        if name in ("key", "expression-attribute-names", "expression-attribute-values"):
            assert isinstance(value, str)
            parameters[key] = json.loads(value)
        else:
            parameters[key] = value
    return command.replace("-", "_"), parameters
