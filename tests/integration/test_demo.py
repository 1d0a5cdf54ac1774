"""`make demo` (`python -m scripts.demo`) end to end: it passes, and what it prints says what it
measured: the init time of a handler imported from scratch, the basket's price as a price, and
where a refresh counted in a later invocation's metrics comes from."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # the demo takes about 12 s


@pytest.fixture(scope="module")
def printed() -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.demo"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "layer")},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


def test_init_is_measured_in_a_new_process(printed: list[str]) -> None:
    inits = [line for line in printed if line.startswith("container ")]
    assert len(inits) == 2
    for line in inits:
        match = re.fullmatch(
            r"container [AB]: init (\d+) ms \(the handler module imported by a new Python "
            r"process, as Lambda's init does\)",
            line,
        )
        assert match, line
        # Importing requests, boto3 and the library from scratch is never a few milliseconds
        assert int(match.group(1)) >= 50, line


def test_the_basket_total_reads_as_a_price(printed: list[str]) -> None:
    invocations = [line for line in printed if line.startswith("  invocation ")][:7]
    assert all("; basket total: $" in line for line in invocations), invocations
    assert invocations[0].endswith("; basket total: $38.99")
    assert not any(re.search(r"\b1 (hits|misses|API calls)\b", line) for line in printed)


def test_a_refresh_in_the_next_invocations_metrics_is_explained(printed: list[str]) -> None:
    [index] = [i for i, line in enumerate(printed) if "CacheRefreshes=" in line]
    assert printed[index + 1] == (
        "      (CacheRefreshes and its OriginLatency: invocation 9's refresh, which ran after "
        "its response, so it is counted in the next invocation's metrics)"
    )
    assert printed[index - 1].startswith("  invocation 10 (right after)")
