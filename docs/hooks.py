"""mkdocs hooks: the performance and conformance pages are generated from the results the
benchmarks write to bench/results/, so rerunning a benchmark updates the site.

A page asks for a table with a marker on a line of its own, ``<!-- results:NAME -->``; each
NAME is one entry of :data:`TABLES`. Every table starts with the date and the machine of its
run, as its results file records them (what a file lacks is said, never guessed). An unknown
marker fails the build. The benchmark charts are copied into the site from the same folder.

The benchmark tables are drawn by the benchmark's own report code (``bench.report``,
``bench.fleet_report``), so the site shows what ``make bench`` prints; the conformance tables
are counted here from the results file, whose outcomes the harness has already decided.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MARKER = re.compile(r"^<!-- results:([a-z0-9-]+) -->$", re.MULTILINE)
# Charts written by the benchmarks, and where the site serves them.
CHARTS = {
    "assets/results/latency.png": RESULTS / "latency.png",
    "assets/results/fleet.png": RESULTS / "fleet.png",
    "assets/results/coldstart-latency.png": RESULTS / "coldstart" / "latency.png",
    "assets/results/coldstart-3.14-latency.png": RESULTS / "coldstart-3.14" / "latency.png",
}


def _importable() -> None:
    """The benchmark's report code (bench/) importable: mkdocs restores ``sys.path`` after
    loading a hook, so this runs when the hook does its work."""
    for folder in (ROOT / "layer", ROOT):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


class ResultsError(Exception):
    """A page asks for a table that cannot be made."""


# ---------------------------------------------------------------------------------------------
# mkdocs events


def on_files(files: Any, *, config: Any) -> Any:
    """Add the benchmark charts that exist to the site's files."""
    from mkdocs.structure.files import File

    for uri, source in CHARTS.items():
        if source.is_file():
            files.append(File.generated(config, uri, abs_src_path=str(source)))
    return files


def on_page_markdown(markdown: str, *, page: Any, config: Any, files: Any) -> str:
    """Replace each results marker of the page by its table."""
    if "<!-- results:" not in markdown:
        return markdown
    from mkdocs.exceptions import PluginError

    _importable()
    depth = page.file.src_uri.count("/")

    def table(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in TABLES:
            raise PluginError(f"{page.file.src_uri}: unknown results table {name!r}")
        try:
            return TABLES[name](depth)
        except (ResultsError, KeyError, TypeError, ValueError) as error:
            raise PluginError(f"{page.file.src_uri}: results table {name!r}: {error!r}") from error

    return MARKER.sub(table, markdown)


# ---------------------------------------------------------------------------------------------
# Reading results


def load(relative: str) -> dict[str, Any]:
    path = RESULTS / relative
    if not path.is_file():
        raise ResultsError(f"bench/results/{relative} is missing")
    results: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return results


def run_line(relative: str, results: Mapping[str, Any], command: str) -> str:
    """Which run a table comes from: its file, date and machine, as recorded."""
    machine = results.get("machine") or {}
    missing = []
    date = str(machine.get("date") or "")[:10]
    if not date:
        missing.append("its date")
    parts = []
    if machine.get("nproc"):
        parts.append(f"{machine['nproc']} CPUs")
    if machine.get("cpu"):
        parts.append(str(machine["cpu"]))
    system = machine.get("system") or _system(machine.get("platform"))
    if system:
        parts.append(system)
    if machine.get("python"):
        parts.append(f"Python {machine['python']}")
    if machine.get("node"):
        parts.append(f"Node.js {str(machine['node']).lstrip('v')}")
    if not parts:
        missing.append("its machine")
    versions = machine.get("versions") or {}
    shown = ", ".join(
        f"{name} {version}"
        for name, version in versions.items()
        if version and name != "lambda-http-cache"
    )
    line = f"*From `bench/results/{relative}` (`{command}`): run"
    if date:
        line += f" of {date}"
    if parts:
        line += " on " + ", ".join(parts)
    if shown:
        line += f"; {shown}"
    line += "."
    if missing:
        line += " The file does not record " + " or ".join(missing) + "."
    return line + "*"


def _system(platform: object) -> str:
    """``Linux`` and the architecture from Python's platform string."""
    if not isinstance(platform, str) or not platform:
        return ""
    name = platform.split("-")[0]
    arch = next((p for p in ("x86_64", "aarch64", "arm64") if p in platform), "")
    return f"{name} {arch}".strip()


def block(*parts: str) -> str:
    return "\n\n".join(part for part in parts if part) + "\n"


def bench(name: str) -> Any:
    """A module of the benchmark's code (``report``, ``fleet_report``, ``conformance``)."""
    _importable()
    return importlib.import_module(f"bench.{name}")


def markdown_table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    table: str = bench("report").markdown_table(list(header), [list(row) for row in rows])
    return table


# ---------------------------------------------------------------------------------------------
# make bench: bench/results/latest.json, and the cold-start runs beside it


BENCH = "latest.json"
COLD = "coldstart/latest.json"
COLD_314 = "coldstart-3.14/latest.json"
FLEET = "fleet.json"
BENCH_COMMAND = "make bench"
COLD_COMMAND = "python -m bench.run --skip-warm --cold-runs 41 --out bench/results/coldstart"
COLD_314_COMMAND = (
    "python -m bench.run --skip-warm --cold-python .cache/debian-python/python3.14-amd64/"
    "python3.14 --out bench/results/coldstart-3.14"
)


def bench_targets(_depth: int, relative: str = BENCH, command: str = BENCH_COMMAND) -> str:
    report = bench("report")

    results = load(relative)
    return block(
        run_line(relative, results, command),
        markdown_table(report.TARGET_HEADER, report.target_rows(results)),
    )


def bench_side_by_side(_depth: int) -> str:
    report = bench("report")

    results = load(BENCH)
    return block(
        run_line(BENCH, results, BENCH_COMMAND),
        markdown_table(report.LATENCY_HEADER, report.latency_rows(results)),
    )


def bench_throughput(_depth: int) -> str:
    report = bench("report")

    results = load(BENCH)
    rate = results["warm"]["throughput"]
    rows = [
        [
            report.SHORT.get(name, name),
            f"{v['per_second']:.0f}",
            ", ".join(f"{x:.0f}" for x in v["rounds"]),
            str(v["not_hits"]),
            str(v["errors"]),
        ]
        for name, v in rate["variants"].items()
    ]
    intro = (
        f"{rate.get('threads', '?')} threads sharing one session (one client for the raw "
        f"case), body `{rate.get('body', '?')}`."
    )
    return block(
        run_line(BENCH, results, BENCH_COMMAND),
        intro,
        markdown_table(["variant", "hits / s", "per round", "not hits", "errors"], rows),
    )


def bench_hit_breakdown(_depth: int) -> str:
    results = load(BENCH)
    pieces = {
        body: steps
        for body, steps in results["warm"].get("hit_breakdown_us", {}).items()
        if body != "notes"
    }
    if not pieces:
        raise ResultsError(f"bench/results/{BENCH} has no hit_breakdown_us")
    steps: list[str] = []
    for measured in pieces.values():
        steps += [step for step in measured if step not in steps]
    rows = [[step, *(_number(pieces[body].get(step)) for body in pieces)] for step in steps]
    return block(
        run_line(BENCH, results, BENCH_COMMAND),
        markdown_table(["piece of a hit (median µs)", *pieces], rows),
    )


def _number(value: object) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:,.0f}"


def cold_targets(_depth: int) -> str:
    return bench_targets(_depth, COLD, COLD_COMMAND)


def cold_init(_depth: int, relative: str = COLD, command: str = COLD_COMMAND) -> str:
    report = bench("report")

    results = load(relative)
    return block(
        run_line(relative, results, command),
        markdown_table(report.COLD_HEADER, report.cold_rows(results)),
    )


def cold_first_response(_depth: int, relative: str = COLD, command: str = COLD_COMMAND) -> str:
    report = bench("report")

    results = load(relative)
    if not results["cold_start"].get("first_response"):
        raise ResultsError(f"bench/results/{relative} has no time to first response")
    return block(
        run_line(relative, results, command),
        markdown_table(report.SIDE_HEADER, report.side_by_side_rows(results)),
    )


def cold_314_first_response(depth: int) -> str:
    results = load(COLD_314)
    python = results.get("cold_start", {}).get("python", "?")
    return block(
        f"Cold starts on Python {python} (the interpreter the cold starts ran on; the "
        "benchmark itself ran on the one named below).",
        cold_first_response(depth, COLD_314, COLD_314_COMMAND),
    )


def fleet_variants(_depth: int) -> str:
    fleet_report = bench("fleet_report")

    results = load(FLEET)
    s = results.get("settings", {})
    setup = (
        f"{s.get('processes', '?')} containers x {s.get('threads', '?')} threads, "
        f"{s.get('keys', '?')} keys, expiry {s.get('expire_after', '?')} s, origin "
        f"{_ms(s.get('origin_delay'))}, {s.get('seconds', '?')} s per variant."
    )
    loaded = results.get("loaded")
    return block(
        run_line(FLEET, results, "make bench-fleet"),
        setup,
        markdown_table(fleet_report.VARIANT_HEADER, fleet_report.variant_rows(results["variants"])),
        "The same variants on a loaded machine:" if loaded else "",
        markdown_table(fleet_report.VARIANT_HEADER, fleet_report.variant_rows(loaded))
        if loaded
        else "",
    )


def _ms(seconds: object) -> str:
    return f"{seconds * 1000:.0f} ms" if isinstance(seconds, int | float) else "?"


def fleet_killed(_depth: int) -> str:
    fleet_report = bench("fleet_report")

    results = load(FLEET)
    rows = fleet_report.killed_rows(results)
    if not rows:
        raise ResultsError(f"bench/results/{FLEET} has no killed-holder scenario")
    return block(
        run_line(FLEET, results, "make bench-fleet"),
        markdown_table(["lease holder killed mid-refresh", ""], rows),
    )


def fleet_targets(_depth: int) -> str:
    fleet_report = bench("fleet_report")

    results = load(FLEET)
    return block(
        run_line(FLEET, results, "make bench-fleet"),
        markdown_table(
            ["target", "scope", "measured", "limit", ""], fleet_report.target_rows(results)
        ),
    )


def chart(uri: str, title: str) -> Callable[[int], str]:
    def draw(depth: int) -> str:
        if not CHARTS[uri].is_file():
            relative = CHARTS[uri].relative_to(ROOT)
            return f"*No chart: `{relative}` has not been written.*\n"
        return f"![{title}]({'../' * depth}{uri})\n"

    return draw


# ---------------------------------------------------------------------------------------------
# make conformance: bench/results/conformance.json (npm release), conformance-git.json (git)

CONFORMANCE = "conformance.json"
CONFORMANCE_GIT = "conformance-git.json"


def _conformance(relative: str) -> tuple[Any, dict[str, Any], Any]:
    """The benchmark's conformance module, the results document at ``relative``, and the
    arguments its tables take: the tests, each cache's outcomes, each cache's label."""
    conformance = bench("conformance")
    results = load(relative)
    caches = results["caches"]
    tables = (
        conformance.recorded_tests(results),
        {cache_id: cache["outcomes"] for cache_id, cache in caches.items()},
        {cache_id: cache["label"] for cache_id, cache in caches.items()},
    )
    return conformance, results, tables


def conformance_summary(_depth: int, relative: str = CONFORMANCE) -> str:
    conformance, results, (tests, by_cache, labels) = _conformance(relative)
    run = sum(1 for test in tests if conformance.runnable(test))
    scored = sum(1 for test in tests if conformance.scored(test))
    shared = sum(1 for test in tests if conformance.scored(test) and test.shared)
    facts = (
        f"Suite: {conformance.suite_line(results['machine'])}. It holds {len(tests)} tests; its "
        f"command-line client runs {run}, of which {scored} are required or optimal ({shared} "
        "of those for shared caches only)."
    )
    return block(
        run_line(relative, results, "make conformance"),
        facts,
        conformance.summary_table(tests, by_cache, labels),
    )


def conformance_kinds(_depth: int, relative: str = CONFORMANCE) -> str:
    conformance, results, (tests, by_cache, labels) = _conformance(relative)
    return block(
        run_line(relative, results, "make conformance"),
        "passed / failed / other (other: a failed setup, a retried request, a harness error, "
        "a dependency that did not pass, or not run).",
        conformance.kind_table(tests, by_cache, labels),
    )


def conformance_published(_depth: int, relative: str = CONFORMANCE) -> str:
    conformance, results, (tests, by_cache, labels) = _conformance(relative)
    published = results.get("published") or {}
    if not published:
        raise ResultsError(f"bench/results/{relative} has no published results")
    others = [
        (f"{name} {cache.get('version', '')}".strip(), cache.get("type", ""), cache["outcomes"])
        for name, cache in published.items()
    ]
    return block(
        run_line(relative, results, "make conformance"),
        "The suite's own published results for other shared caches (run by its authors with "
        "the suite of their day), on this run's required and optimal tests; a test their run "
        "did not have counts as not passed.",
        markdown_table(
            conformance.PUBLISHED_HEADER,
            conformance.comparison_rows(tests, by_cache, labels, others),
        ),
    )


def _git(table: Callable[..., str]) -> Callable[[int], str]:
    def of_git(depth: int) -> str:
        return table(depth, CONFORMANCE_GIT)

    return of_git


TABLES: dict[str, Callable[[int], str]] = {
    "bench-targets": bench_targets,
    "bench-side-by-side": bench_side_by_side,
    "bench-throughput": bench_throughput,
    "bench-hit-breakdown": bench_hit_breakdown,
    "bench-chart": chart("assets/results/latency.png", "latency of each variant"),
    "coldstart-targets": cold_targets,
    "coldstart-init": cold_init,
    "coldstart-first-response": cold_first_response,
    "coldstart-chart": chart("assets/results/coldstart-latency.png", "cold starts"),
    "coldstart-314-first-response": cold_314_first_response,
    "fleet-variants": fleet_variants,
    "fleet-killed": fleet_killed,
    "fleet-targets": fleet_targets,
    "fleet-chart": chart("assets/results/fleet.png", "origin calls and latency by variant"),
    "conformance-summary": conformance_summary,
    "conformance-kinds": conformance_kinds,
    "conformance-published": conformance_published,
    "conformance-git-summary": _git(conformance_summary),
    "conformance-git-kinds": _git(conformance_kinds),
    "conformance-git-published": _git(conformance_published),
}
