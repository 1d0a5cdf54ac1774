"""The fleet benchmark's tables (text and Markdown) and chart, from the results of one run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import markdown_table, text_table

CHART_NAMES = {
    "requests_cache": "requests-cache\nDynamoDbCache",
    "uncoordinated": "ours: no\ncoordination",
    "coalesce": "ours:\ncoalescing only",
    "leases": "ours: coalescing\n+ leases",
    "swr": "ours: stale-while-\nrevalidate",
    "early_refresh": "ours: early\nrefresh",
}
# Operations in the order they are shown.
OPERATIONS = ("GetItem", "GetItem (consistent)", "PutItem", "PutItem (lease)")


def _ms(summary: dict[str, Any] | None, field: str) -> str:
    if not summary:
        return "-"
    value = float(summary[field])
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _pair(summary: dict[str, Any] | None) -> str:
    if not summary:
        return "-"
    return f"{_ms(summary, 'median_ms')} / {_ms(summary, 'p99_ms')}"


def _calls(per: dict[str, float]) -> str:
    shown = [op for op in OPERATIONS if op in per] + sorted(set(per) - set(OPERATIONS))
    if not shown:
        return "0"
    return " + ".join(f"{per[op]:.3f} {op}" for op in shown)


def variant_rows(results: dict[str, Any]) -> list[list[str]]:
    rows = []
    for v in results["variants"].values():
        lease = v["lease_costs"]
        leased = lease["lease_put_items"] or lease["consistent_get_items"]
        during = v["latency_during_expiry"]
        rows.append(
            [
                v["short"],
                f"{v['origin_calls_per_key_per_window_mean']:.2f} "
                f"({v['origin_calls_per_key_per_window_max']:.2f})",
                f"{v['origin_calls_per_refresh']['mean']} / {v['containers_per_refresh']['mean']}",
                _pair(v["latency"]),
                f"{_pair(during)} ({during['n'] if during else 0})",
                _pair(v["latency_fresh_hits"]),
                _calls(v["dynamodb_calls_per_request"]),
                (
                    f"{lease['write_units_per_key_per_window']:.2f} / "
                    f"{lease['read_units_per_key_per_window']:.2f}"
                    if leased
                    else "-"
                ),
                str(v["dynamodb_failures"]),
                f"{v['failed']} of {v['requests']:,}",
            ]
        )
    return rows


VARIANT_HEADER = [
    "variant",
    "origin calls per key per window: mean (worst key)",
    "per refresh: origin calls / containers",
    "latency median / p99 ms",
    "during an expiry: median / p99 ms (requests)",
    "fresh hits: median / p99 ms",
    "DynamoDB calls per request",
    "lease units per key per window: write / read",
    "DynamoDB calls failed",
    "failed requests",
]


def killed_rows(results: dict[str, Any]) -> list[list[str]]:
    k = results.get("killed_holder")
    if not k:
        return []
    waited = k["latency_waited"]
    return [
        ["containers asking for the key", f"{k['containers']} x {k['threads']} threads"],
        [
            "lease (4 x origin time, 1 to 10 s) / waiter's wait bound",
            f"{k['lease_seconds']:.2f} s / {k['wait_bound_seconds']:.2f} s "
            f"(origin took {k['primed_origin_seconds'] * 1000:.0f} ms; poll "
            f"{k['poll_seconds'] * 1000:.0f} ms)",
        ],
        ["holder killed after taking the lease", f"{k['killed_after_lease_ms']} ms"],
        [
            "requests that had to wait (issued before the first refreshed answer): median / max ms",
            (
                f"{waited['n']}: {_ms(waited, 'median_ms')} / {k['latency_waited_max_ms']:.0f}"
                if waited
                else "-"
            ),
        ],
        [
            "normal refresh in the defaults run: latency / time to its origin call (medians)",
            f"{k['normal_refresh_ms']:.1f} ms / {k['normal_to_origin_ms']:.1f} ms",
        ],
        [
            "worst delay beyond a normal refresh (latency) / bound",
            f"{k['max_delay_beyond_normal_ms']:.0f} ms / {k['wait_bound_seconds'] * 1000:.0f} ms "
            f"({'within' if k['within_bound'] else 'over'})",
        ],
        [
            "longest wait itself: lease lost to last look at the table / "
            "thread waiting for its container's leader",
            f"{k['lease_wait_max_ms']:.0f} ms / {k['flight_wait_max_ms']:.0f} ms",
        ],
        [
            "DynamoDB calls of the requests that had to wait: median / p99 ms",
            _pair(k.get("dynamodb_call_ms_of_waiting_requests")),
        ],
        [
            "first refreshed answer, after the lease was taken",
            f"{k['first_refreshed_answer_after_lease_ms']} ms",
        ],
        [
            "origin calls after the holder died (containers)",
            f"{k['origin_calls_after_kill']} ({k['containers_calling_origin']})",
        ],
        ["DynamoDB calls failed (timeouts of the local server)", str(k["dynamodb_failures"])],
        ["failed requests", f"{k['failed']} of {k['requests']:,}"],
    ]


def target_rows(results: dict[str, Any]) -> list[list[str]]:
    return [
        [t["target"], t["scope"], str(t["value"]), t["limit"], "met" if t["met"] else "missed"]
        for t in results["targets"]
    ]


def machine_line(results: dict[str, Any]) -> str:
    m = results["machine"]
    v = m["versions"]
    s = results["settings"]
    return (
        f"Measured {m['date'][:10]} on {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, "
        f"boto3 {v.get('boto3')}, requests-cache {v.get('requests-cache')}, moto {v.get('moto')}; "
        f"commit {m['git_commit']}"
        f"{' with uncommitted library changes' if m.get('library_changed_since_commit') else ''}; "
        f"load average {m['load_average_at_start'][0]} at the start, "
        f"{m.get('load_average_at_end', ['?'])[0]} at the end. "
        f"{s['processes']} containers x {s['threads']} threads, {s['keys']} keys, expiry "
        f"{s['expire_after']} s, origin {s['origin_delay'] * 1000:.0f} ms, pauses "
        f"{s['think'][0] * 1000:.0f} to {s['think'][1] * 1000:.0f} ms, {s['seconds']:g} s per "
        f"variant; the whole run took {results['seconds']:.0f} s."
    )


def text(results: dict[str, Any]) -> str:
    parts = [
        machine_line(results),
        "",
        text_table(VARIANT_HEADER, variant_rows(results)),
    ]
    if results.get("killed_holder"):
        parts += [
            "",
            "Lease holder killed mid-refresh",
            text_table(["", ""], killed_rows(results)),
        ]
    parts += ["", text_table(["target", "scope", "measured", "limit", ""], target_rows(results))]
    return "\n".join(parts)


def markdown(results: dict[str, Any]) -> str:
    parts = [
        "# Fleet: one origin call per key per expiry",
        "",
        machine_line(results),
        "",
        markdown_table(VARIANT_HEADER, variant_rows(results)),
    ]
    if results.get("killed_holder"):
        parts += [
            "",
            "## Lease holder killed mid-refresh",
            "",
            markdown_table(["", ""], killed_rows(results)),
        ]
    parts += [
        "",
        "## Targets",
        "",
        markdown_table(["target", "scope", "measured", "limit", ""], target_rows(results)),
        "",
    ]
    return "\n".join(parts)


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    variants = list(results["variants"].values())
    names = [CHART_NAMES.get(name, v["short"]) for name, v in results["variants"].items()]
    xs = list(range(len(variants)))
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 5.4))

    means = [v["origin_calls_per_key_per_window_mean"] for v in variants]
    worst = [v["origin_calls_per_key_per_window_max"] for v in variants]
    bars = left.bar(xs, means, color="#4c72b0", label="mean over keys")
    left.scatter(xs, worst, color="#c44e52", zorder=3, marker="_", s=300, label="worst key")
    left.axhline(1.1, color="#55a868", linestyle="--", linewidth=1, label="target: 1.1")
    for bar, value, v in zip(bars, means, variants, strict=True):
        failures = v["dynamodb_failures"]
        left.annotate(
            f"{value:.2f}" + (f"\n({failures} DynamoDB\ntimeouts)" if failures else ""),
            (bar.get_x() + bar.get_width() / 2, value),
            ha="center",
            va="bottom",
            fontsize=8,
            xytext=(0, 2),
            textcoords="offset points",
        )
    left.set_xticks(xs, names, fontsize=7.5)
    left.set_ylabel("origin calls per key per expiry window")
    left.set_title("Origin calls per key per expiry")
    left.legend(fontsize=8)

    width = 0.27
    series = (
        ("all requests", "latency", "#8172b2"),
        ("during an expiry", "latency_during_expiry", "#c44e52"),
        ("fresh hits", "latency_fresh_hits", "#55a868"),
    )
    for offset, (label, field, color) in zip((-width, 0.0, width), series, strict=True):
        values = [(v[field] or {}).get("p99_ms", 0.0) for v in variants]
        right.bar([x + offset for x in xs], values, width, label=label, color=color)
    right.set_yscale("log")
    right.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    right.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:g}"))
    right.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    right.set_xticks(xs, names, fontsize=7.5)
    right.set_ylabel("caller p99, ms (log scale)")
    right.set_title("Caller latency p99")
    right.legend(fontsize=8)
    m = results["machine"]
    s = results["settings"]
    figure.suptitle(
        f"{s['processes']} containers x {s['threads']} threads, {s['keys']} keys, expiry "
        f"{s['expire_after']} s, origin {s['origin_delay'] * 1000:.0f} ms; "
        f"{m['date'][:10]}, {m['nproc']} CPUs, Python {m['python']}",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
