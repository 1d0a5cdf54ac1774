"""`make bench`: every variant side by side in one run, then the targets.

    python -m bench.run [--quick] [--origin-delay MS] [--hits N] [--cold-runs N] ...

Starts a local DynamoDB-compatible server (a child process), a counting proxy in front of it and
an HTTP origin that answers after ``--origin-delay``; measures the warm paths (latency, DynamoDB
calls, item sizes, throughput, profiles) and the cold start; writes ``latest.json`` and
``latency.png`` to the output folder (``bench/results/``; ``bench/results/tmp/`` for
``--quick``) and prints the results and the targets.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import coldstart, report, warm
from bench.bodies import make_bodies
from scripts.local_servers import (
    DynamoDbProxy,
    MotoServer,
    OriginServer,
    create_cache_table,
    dynamodb_client,
    local_environment,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

FULL = {
    "hits": 200,
    "misses": 20,
    "count_misses": 3,
    "count_repeats": 10,
    "throughput_seconds": 3.0,
    "throughput_rounds": 3,
    "profile_requests": 300,
    "cold_runs": 21,
}
QUICK = {
    "hits": 20,
    "misses": 3,
    "count_misses": 2,
    "count_repeats": 3,
    "throughput_seconds": 0.5,
    "throughput_rounds": 1,
    "profile_requests": 30,
    "cold_runs": 3,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (few samples)")
    parser.add_argument(
        "--origin-delay", type=float, default=20.0, help="origin answer delay, ms (20)"
    )
    parser.add_argument("--hits", type=int, help="timed repeated requests per variant and body")
    parser.add_argument("--misses", type=int, help="timed misses per variant and body")
    parser.add_argument("--count-misses", type=int, help="misses in the counted pass")
    parser.add_argument("--count-repeats", type=int, help="repeats in the counted pass")
    parser.add_argument("--threads", type=int, default=8, help="threads for throughput (8)")
    parser.add_argument("--throughput-seconds", type=float, help="seconds per throughput run")
    parser.add_argument("--throughput-rounds", type=int, help="throughput runs per variant")
    parser.add_argument("--profile-requests", type=int, help="requests per profile")
    parser.add_argument("--cold-runs", type=int, help="cold starts per configuration")
    parser.add_argument(
        "--no-layer-build",
        action="store_true",
        help="use dist/*.zip as it is instead of running the (no-op when fresh) layer build",
    )
    parser.add_argument(
        "--cold-python",
        help="the interpreter the cold starts run (default: this one); its version's layer "
        "bytecode, boto3 and awslambdaric are used",
    )
    parser.add_argument("--skip-cold", action="store_true", help="warm measurements only")
    parser.add_argument("--skip-warm", action="store_true", help="cold start only")
    parser.add_argument("--seed", type=int, default=5, help="seed of the interleaving order")
    parser.add_argument("--out", type=Path, help="output folder (bench/results)")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.out is None:
        args.out = RESULTS / "tmp" if args.quick else RESULTS
    return args


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_output(*args: str) -> str:
    answer = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return answer.stdout.strip()


def machine() -> dict[str, Any]:
    versions = {}
    for dist in ("boto3", "botocore", "requests", "requests-cache", "urllib3", "moto"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    from lambda_http_cache import __version__

    versions["lambda-http-cache"] = __version__
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "environment_variables": len(os.environ),
        "git_commit": git_output("rev-parse", "--short", "HEAD"),
        "library_changed_since_commit": bool(git_output("status", "--porcelain", "--", "layer")),
        "versions": versions,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    local_environment()
    bodies = make_bodies()
    results: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in sorted(vars(args).items())
        },
        "bodies": {
            b.name: {"bytes": b.size, "content_type": b.content_type, "description": b.description}
            for b in bodies
        },
    }

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", flush=True)

    with (
        MotoServer() as moto,
        DynamoDbProxy(moto.endpoint) as proxy,
        OriginServer(delay=args.origin_delay / 1000) as origin,
    ):
        progress(f"DynamoDB server at {moto.endpoint}, origin delay {args.origin_delay:g} ms")
        create_cache_table(dynamodb_client(moto.endpoint), warm.OURS_TABLE)
        for body in bodies:
            origin.route(body.path, body.content, {"Content-Type": body.content_type})
        origin.route("/warmup.json", b"")

        if not args.skip_warm:
            results["warm"] = warm.run(
                bodies,
                origin.url,
                moto.endpoint,
                proxy,
                misses=args.misses,
                hits=args.hits,
                count_misses=args.count_misses,
                count_repeats=args.count_repeats,
                threads=args.threads,
                throughput_seconds=args.throughput_seconds,
                throughput_rounds=args.throughput_rounds,
                profile_requests=args.profile_requests,
                seed=args.seed,
                progress=progress,
            )
        if not args.skip_cold:
            progress(f"cold start: {args.cold_runs} runs of each configuration")
            results["cold_start"] = coldstart.run(
                proxy,
                origin,
                moto.endpoint,
                runs=args.cold_runs,
                build_layer=not args.no_layer_build,
                seed_value=args.seed,
                python=args.cold_python,
            )
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["targets"] = report.targets(results)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(results, indent=1) + "\n")
    report.chart(results, args.out / "latency.png")
    summary = report.markdown(results)
    (RESULTS / "tmp").mkdir(parents=True, exist_ok=True)
    (RESULTS / "tmp" / ("summary-quick.md" if args.quick else "summary.md")).write_text(summary)
    print()
    print(report.text(results))
    print(f"\nwrote {args.out / 'latest.json'} and {args.out / 'latency.png'}")
    print(f"benchmark took {results['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
