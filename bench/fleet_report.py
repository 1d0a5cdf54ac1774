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
OPERATIONS = ("GetItem", "GetItem (consistent)", "PutItem", "PutItem (claim)", "PutItem (lease)")


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


def _per_fill(v: dict[str, Any]) -> str:
    mean, worst = (
        v.get("origin_calls_per_key_per_fill_mean"),
        v.get("origin_calls_per_key_per_fill_max"),
    )
    if mean is None or worst is None:
        return "-"
    return f"{mean:.2f} ({worst:.2f})"


def _first_fill(v: dict[str, Any]) -> str:
    calls = v.get("first_fill_calls_per_key")
    if calls is None:
        return "primed" if v.get("first_fill_included") is False else "-"
    waited = v.get("latency_first_fill")
    return ", ".join(str(n) for n in calls) + (f" ({_pair(waited)})" if waited else "")


def _load(v: dict[str, Any]) -> str:
    average = v.get("load_average") or {}
    busy = v.get("cpu_busy_percent")
    return (
        f"{busy:.0f} % / {average.get('max', '?')}"
        if busy is not None
        else str(average.get("max", "-"))
    )


def variant_rows(variants: dict[str, Any]) -> list[list[str]]:
    rows = []
    for v in variants.values():
        lease = v["lease_costs"]
        leased = lease["lease_put_items"] or lease["consistent_get_items"]
        during = v["latency_during_expiry"]
        stale = v["latency_stale_served"]
        containers = v.get("containers_per_fill") or {}
        rows.append(
            [
                v["short"],
                _per_fill(v),
                _first_fill(v),
                f"{v['origin_calls_per_key_per_window_mean']:.2f} "
                f"({v['origin_calls_per_key_per_window_max']:.2f})",
                f"{containers.get('mean', '-')} / {containers.get('max', '-')}",
                _pair(v["latency"]),
                f"{_pair(during)} ({during['n'] if during else 0})",
                f"{_pair(stale)} ({stale['n'] if stale else 0})",
                _pair(v["latency_fresh_hits"]),
                _calls(v["dynamodb_calls_per_request"]),
                (
                    f"{lease['write_units_per_key_per_window']:.2f} / "
                    f"{lease['read_units_per_key_per_window']:.2f}"
                    if leased
                    else "-"
                ),
                _load(v),
                str(v["dynamodb_failures"]),
                f"{v['failed']} of {v['requests']:,}",
            ]
        )
    return rows


VARIANT_HEADER = [
    "variant",
    "origin calls per key per fill: mean (worst key)",
    "first fill: origin calls per key (its callers' median / p99 ms)",
    "per key per expiry window: mean (worst key)",
    "containers per fill: mean / max",
    "latency median / p99 ms",
    "during an expiry: median / p99 ms (requests)",
    "stale serves: median / p99 ms (requests)",
    "fresh hits: median / p99 ms",
    "DynamoDB calls per request",
    "lease units per key per window: write / read",
    "CPU busy / highest load average",
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
        f"variant; the whole run took {results['seconds']:.0f} s. {_fill_line(results)} "
        f"{_load_line(results)}"
    )


def _fill_line(results: dict[str, Any]) -> str:
    s = results["settings"]
    gap = s.get("fill_gap_seconds", s["expire_after"] / 2)
    if s.get("primed"):
        return (
            "Keys primed before the run (staggered over one expiry): the first fill is not "
            f"measured; a key's origin calls less than {gap:g} s apart make one fill."
        )
    return (
        "First fill included: every run starts on an empty table, all containers asking at "
        f"once; a key's origin calls less than {gap:g} s apart make one fill."
    )


def _load_line(results: dict[str, Any]) -> str:
    s = results["settings"]
    loaded = results.get("loaded") or {}
    if not loaded:
        return "No loaded run (--load 0)." if not s.get("load") else "No loaded run."
    names = "; ".join(v["short"] for v in loaded.values())
    return (
        f"Loaded run ({names}): {s['load']} CPU-bound processes spinning beside the fleet, "
        f"on {results['machine']['nproc']} CPUs."
    )


LOADED_TITLE = "On a loaded machine: {load} CPU-bound processes beside the fleet"


def text(results: dict[str, Any]) -> str:
    parts = [
        machine_line(results),
        "",
        text_table(VARIANT_HEADER, variant_rows(results["variants"])),
    ]
    if results.get("loaded"):
        parts += [
            "",
            LOADED_TITLE.format(load=results["settings"]["load"]),
            text_table(VARIANT_HEADER, variant_rows(results["loaded"])),
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
        "# Fleet: one origin call per key per fill",
        "",
        machine_line(results),
        "",
        markdown_table(VARIANT_HEADER, variant_rows(results["variants"])),
    ]
    if results.get("loaded"):
        parts += [
            "",
            "## " + LOADED_TITLE.format(load=results["settings"]["load"]),
            "",
            markdown_table(VARIANT_HEADER, variant_rows(results["loaded"])),
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

    idle = results["variants"]
    loaded = results.get("loaded") or {}
    order = [*idle, *(name for name in loaded if name not in idle)]
    names = [CHART_NAMES.get(n, (idle.get(n) or loaded[n])["short"]) for n in order]
    xs = list(range(len(order)))
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 5.4))

    # Idle bars, and beside them the loaded run's where it has the variant (a variant run in
    # one of the two only: its bar centred).
    pair = 0.38
    both = set(idle) & set(loaded)
    runs = [("idle", idle, "#4c72b0", -1.0)]
    if loaded:
        load = results["settings"]["load"]
        runs.append((f"loaded ({load} CPU-bound processes)", loaded, "#dd8452", 1.0))
    top = 1.1
    for label, section, color, side in runs:
        at = [(x, section[name]) for x, name in enumerate(order) if name in section]
        if not at:
            continue
        xs_run = [x + (side * pair / 2 if order[x] in both else 0.0) for x, _ in at]
        means = [v.get("origin_calls_per_key_per_fill_mean") or 0.0 for _, v in at]
        worst = [v.get("origin_calls_per_key_per_fill_max") or 0.0 for _, v in at]
        top = max(top, *worst)
        bars = left.bar(xs_run, means, pair, color=color, label=f"{label}: mean over keys")
        left.scatter(xs_run, worst, color="#c44e52", zorder=3, marker="_", s=160)
        for bar, value, (_, v) in zip(bars, means, at, strict=True):
            failures = v["dynamodb_failures"]
            left.annotate(
                f"{value:.2f}" + (f"\n({failures} DynamoDB\ntimeouts)" if failures else ""),
                (bar.get_x() + bar.get_width() / 2, value),
                ha="center",
                va="bottom",
                fontsize=7 if loaded else 8,
                xytext=(0, 2),
                textcoords="offset points",
            )
    left.scatter([], [], color="#c44e52", marker="_", s=160, label="worst key")
    left.axhline(1.1, color="#55a868", linestyle="--", linewidth=1, label="target: 1.1")
    left.set_xticks(xs, names, fontsize=7.5)
    primed = results["settings"].get("primed")
    left.set_ylabel(
        "origin calls per key per fill" + (" (keys primed)" if primed else ", first fill included")
    )
    left.set_title("Origin calls per key per fill")
    left.set_ylim(0, top * 1.35)  # room for the legend above the bars
    left.legend(fontsize=8, loc="upper right")

    width = 0.2
    series = (
        ("all requests", "latency", "#8172b2"),
        ("during an expiry", "latency_during_expiry", "#c44e52"),
        ("stale serves", "latency_stale_served", "#dd8452"),
        ("fresh hits", "latency_fresh_hits", "#55a868"),
    )
    offsets = (-1.5 * width, -0.5 * width, 0.5 * width, 1.5 * width)
    shown = [(x, idle[name]) for x, name in enumerate(order) if name in idle]
    for offset, (label, field, color) in zip(offsets, series, strict=True):
        values = [(v[field] or {}).get("p99_ms", 0.0) for _, v in shown]
        right.bar([x + offset for x, _ in shown], values, width, label=label, color=color)
    right.set_yscale("log")
    right.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    right.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:g}"))
    right.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    right.set_xticks(xs, names, fontsize=7.5)
    right.set_ylabel("caller p99, ms (log scale)")
    right.set_title("Caller latency p99" + (" (idle machine)" if loaded else ""))
    highest = max(
        ((v[field] or {}).get("p99_ms", 0.0) for _, v in shown for _, field, _ in series),
        default=1.0,
    )
    right.set_ylim(top=max(highest, 1.0) * 4)  # room for the legend above the bars
    right.legend(fontsize=8, loc="upper center", ncols=4)
    m = results["machine"]
    s = results["settings"]
    figure.suptitle(
        f"{s['processes']} containers x {s['threads']} threads, {s['keys']} keys, expiry "
        f"{s['expire_after']} s, origin {s['origin_delay'] * 1000:.0f} ms, "
        f"{'keys primed' if s.get('primed') else 'first fill included'}; "
        f"{m['date'][:10]}, {m['nproc']} CPUs, Python {m['python']}",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
