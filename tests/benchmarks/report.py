"""The Markdown report: one table (absolute numbers with ours/peer ratios beside them), the
target checks of the benchmark issue, where our build time goes (per stage and per pass, from the
pass manager's events), the scheduling fence study (``fence.py``) and the large-graph runs."""

from __future__ import annotations

import itertools
import math
from typing import Any

_ORDER = {"ours": 0, "casadi": 1, "casadi_cse": 2, "casadi_loop": 3, "gradgen052": 4}
_LABEL = {
    "ours": "ours",
    "casadi": "CasADi 3.8.2",
    "casadi_cse": "CasADi 3.8.2 cse",
    "casadi_loop": "CasADi 3.8.2 mapaccum",
    "gradgen052": "gradgen 0.5.2",
}
#: the per-stage columns of the build time table, in pipeline order (worker.py ``_ours_stages``)
_STAGES = [
    "problem",
    "lowering",
    "autodiff",
    "round trip",
    "simplify",
    "cse",
    "schedule",
    "allocate",
    "sanitize",
    "rust printing",
    "verify",
    "other passes",
]
#: the columns whose peer cells show ours/peer
_RATIO_FIELDS = ("build_s", "build_core_s", "ops", "compile_s", "ns", "kernel_ns", "peak_rss_mb")
#: the log-log slope target of the rosenbrock gradient build time
SLOPE_TARGET = 1.05
_KERNEL_ORDER = ["f", "grad", "hess", "hess_dense", "hvp", "jac"]
_KERNEL_LABEL = {"hess": "hess (sparse)", "hess_dense": "hess (dense)", "jac": "jac (sparse)"}


def _fmt(v: Any, kind: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if kind == "ms":
        return f"{v * 1e3:.3g}"
    if kind == "s":
        return f"{v:.2f}"
    if kind == "ns":
        return f"{v:.4g}"
    if kind == "err":
        return f"{v:.1e}"
    if kind == "pct":
        return f"{v:.1f}"
    if kind == "mb":
        return f"{v:.0f}"
    return str(v)


def _ratio(ours: Any, peer: Any) -> str:
    if ours is None or peer is None or not peer:
        return ""
    return f" ({ours / peer:.2g}x)"


def write_report(data: dict[str, Any]) -> str:
    info, rows = data["info"], data["rows"]
    index = {(r["system"], r["problem"], r["n"], r["kernel"]): r for r in rows}
    keys = sorted(
        {(r["problem"], r["n"], r["kernel"]) for r in rows},
        key=lambda k: (k[0], k[1], _KERNEL_ORDER.index(k[2])),
    )
    lines = [
        f"# gradgen benchmarks ({info['date']})",
        "",
        f"Machine: {info['cpu']}; {info['machine']}. Mode: {'quick' if info['quick'] else 'full'}; "
        f"total {info['total_s']:.0f} s.",
        "",
        "Build = symbols to source text (median of 3 in full mode); build-expr = the same without "
        "building the problem's expressions (`problem` in the stage table below: the same Python "
        "arithmetic for every system, whose cost is a property of each system's Python binding; "
        "CasADi 3.8.2's costs 20-40 µs of CPU per operation on some machines, ours about 2 µs); "
        "ops/calls = arithmetic operations "
        "and math-function calls counted in the kernel source (`tests/benchmarks/counting.py`); work = "
        "workspace length (CasADi: `sz_w`, its register count); compile = `cargo build --release` of the "
        "generated crate / `gcc -O3 -c` of CasADi's C; ns/call = median of 800 harness loops of about "
        "0.2 ms (calls per loop in the `loop` column, the same for every system of a row), timed in "
        "8 round-robin rounds: in each round every system's kernel and its harness loop run 100 loops, "
        "in an order rotated per round, so load drift on a shared machine hits every system alike "
        "(`tests/benchmarks/rounds.py`); spread = interquartile range of those loops as % of their "
        "median (the noise behind the figure; a ratio between two rows is only as sure as their "
        "spreads); each call through a function pointer the "
        "optimizer cannot see through (Rust: `std::hint::black_box`, C: a `volatile` pointer); "
        "harness ns = the same loop calling an empty function of the same signature (cycling the "
        "inputs, building the slices or argument arrays, the indirect call); kernel ns = ns/call - "
        "harness ns (`tests/benchmarks/harness.py`); err = ‖out - ref‖∞/‖ref‖∞ "
        "against numpy references; peak = build process "
        "max RSS. Peer rows show ours/peer in parentheses (< 1 means ours is smaller/faster). "
        "`CasADi 3.8.2` is CasADi's default build (`cse=False`, its faster one), `CasADi 3.8.2 cse` "
        'the same with `{"cse": True}` (fewer operations, slower build). '
        "`hess (sparse)`: CasADi's `hessian` output (its structural nonzeros, the full symmetric "
        'pattern, compressed-column order) and ours from `Function.sparse_hessian(0, triangle="full")` '
        "(see the pattern check below: the same nonzeros in the same order, so the work is identical); "
        "gradgen 0.5.2 has no sparse Hessian: its row is `hess (dense)`, the dense row-major matrix of "
        "`Function.hessian(0)`, beside ours. `jac (sparse)`: the banded "
        "Jacobian of the pendulum multiple-shooting defects (`2N x (3N + 2)`), CasADi's `jacobian` "
        "(its CCS nonzeros) and ours from `Function.sparse_jacobian(0)` (no gradgen 0.5.2 row). "
        "Sizes 3000 and 10000 measure the build only.",
        "",
        "| problem | n | kernel | system | build ms | build-expr ms | ops | calls | work | compile s "
        "| ns/call | spread % | kernel ns | harness ns | loop | err "
        "| peak MB | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in keys:
        ours = index.get(("ours", *key), {})
        for system in sorted({r["system"] for r in rows}, key=lambda s: _ORDER.get(s, 9)):
            r = index.get((system, *key))
            if r is None:
                continue
            peer = system != "ours"

            def cell(field: str, kind: str, r: dict[str, Any] = r, peer: bool = peer) -> str:
                v = r.get(field)
                text = _fmt(v, kind)
                if peer and v is not None and field in _RATIO_FIELDS:
                    text += _ratio(ours.get(field), v)  # noqa: B023 (ours is read at once)
                return text

            status = r["status"] if r["status"] == "ok" else r["status"].replace("|", "/")[:160]
            if r["status"] == "ok" and r.get("rel_err") is not None and not r["rel_err"] <= 1e-6:
                status = "**WRONG RESULT** (non-finite or error > 1e-6)"
            kernel = _KERNEL_LABEL.get(key[2], key[2])
            lines.append(
                f"| {key[0]} | {key[1]} | {kernel} | {_LABEL.get(system, system)} | "
                f"{cell('build_s', 'ms')} | {cell('build_core_s', 'ms')} | "
                f"{cell('ops', 'int')} | {_fmt(r.get('calls'), 'int')} | {_fmt(r.get('workspace'), 'int')} | "
                f"{cell('compile_s', 's')} | {cell('ns', 'ns')} | {_fmt(r.get('ns_spread'), 'pct')} | "
                f"{cell('kernel_ns', 'ns')} | "
                f"{_fmt(r.get('harness_ns'), 'ns')} | {_fmt(r.get('iters'), 'int')} | "
                f"{_fmt(r.get('rel_err'), 'err')} | {cell('peak_rss_mb', 'mb')} | {status} |"
            )
    lines += speed_table(rows, index)
    lines += peer052_table(rows, index)
    lines += ["", "## Targets (from this run)", ""]
    lines += _targets(rows, index)
    lines += _staged_section(rows, index)
    lines += _stage_table(rows, index)
    if data.get("floor"):
        lines += _floor_table(data["floor"])
    if data.get("fence"):
        lines += fence_table(data["fence"])
    if data.get("large"):
        lines += [
            "",
            "## Large graphs (ours)",
            "",
            "| case | build + Rust s | build peak MB | source MB | cargo build --release s "
            "| compile peak MB | status |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in data["large"]:
            name = "10^6-node primal" if r["problem"] == "large" else f"pendulum N={r['n']} gradient"
            lines.append(
                f"| {name} | {_fmt(r.get('build_s'), 's')} | {_fmt(r.get('peak_rss_mb'), 'mb')} | "
                f"{(r.get('source_bytes') or 0) / 1e6:.1f} | {_fmt(r.get('compile_s'), 's')} | "
                f"{_fmt(r.get('compile_peak_rss_mb'), 'mb')} | {r['status'][:160]} |"
            )
    return "\n".join(lines) + "\n"


def speed_table(rows: list[dict[str, Any]], index: dict[Any, dict[str, Any]]) -> list[str]:
    """ns/call of ours beside both CasADi builds, per row timed by all three: the figures, their
    spreads and the ratios (of ns/call and of kernel ns)."""
    timed = [
        r
        for r in rows
        if r["system"] == "ours"
        and r.get("ns") is not None
        and any(index.get((s, r["problem"], r["n"], r["kernel"]), {}).get("ns") for s in _PEERS)
    ]
    if not timed:
        return []
    timed.sort(key=lambda r: (r["problem"], r["n"], _KERNEL_ORDER.index(r["kernel"])))
    lines = [
        "",
        "## Kernel speed: ours / CasADi",
        "",
        "ns/call (spread %: interquartile range of the loops as % of the median) of every row "
        "timed for ours and CasADi, all systems of a row interleaved in the same rounds; `x` = "
        "ours / CasADi of ns/call, `kernel x` = the same of kernel ns (the harness's empty-loop "
        "cost removed). A ratio whose distance from 1 is within the spreads is noise. `fast x` = "
        "ours / CasADi of the fastest loop of each (ns/call in the machine's fast mode: the medians "
        "mix a fast and a 1.5-1.8x slower mode in proportions that differ between slots, the "
        "fastest loops repeat to about 1 %; `tests/benchmarks/rounds.py`). What makes the "
        "rows that lose lose: `tests/benchmarks/KERNEL_SPEED.md`.",
        "",
        "| problem | n | kernel | ours ns (spread) | "
        + " | ".join(f"{_LABEL[s]} ns (spread) | x | kernel x | fast x" for s in _PEERS)
        + " |",
        "|---|---|---|---|" + "---|---|---|---|" * len(_PEERS),
    ]

    def ns_cell(r: dict[str, Any]) -> str:
        if r.get("ns") is None:
            return "-"
        return f"{_fmt(r['ns'], 'ns')} ({_fmt(r.get('ns_spread'), 'pct')})"

    for r in timed:
        cells = [ns_cell(r)]
        for s in _PEERS:
            p = index.get((s, r["problem"], r["n"], r["kernel"]), {})
            cells.append(ns_cell(p))
            cells.append(_ratio(r.get("ns"), p.get("ns")).strip(" ()") or "-")
            cells.append(_ratio(r.get("kernel_ns"), p.get("kernel_ns")).strip(" ()") or "-")
            cells.append(_ratio(r.get("ns_min"), p.get("ns_min")).strip(" ()") or "-")
        kernel = _KERNEL_LABEL.get(r["kernel"], r["kernel"])
        lines.append(f"| {r['problem']} | {r['n']} | {kernel} | " + " | ".join(cells) + " |")
    return lines


#: the peers of the kernel speed table
_PEERS = ("casadi", "casadi_cse")


def peer052_table(rows: list[dict[str, Any]], index: dict[Any, dict[str, Any]]) -> list[str]:
    """Ours beside gradgen 0.5.2 (PyPI), per row it was asked to build: its status (why a row
    did not finish or is wrong), and where it has figures, ours and its ns/call, build time,
    native compile time, workspace and operations with the ratios ours / gradgen 0.5.2, and how
    far its outputs are from ours."""
    theirs = [r for r in rows if r["system"] == "gradgen052"]
    if not theirs:
        return []
    theirs.sort(key=lambda r: (r["problem"], r["n"], _KERNEL_ORDER.index(r["kernel"])))
    lines = [
        "",
        "## ours / gradgen 0.5.2",
        "",
        "gradgen 0.5.2 (PyPI) builds each row with its own API in its own virtualenv (`worker.py`: "
        "the same `Function` calls, its dense row-major Hessian, its `SingleShootingProblem` for "
        "the staged pendulum), in a thread with a 1 GiB stack and a recursion limit of 10^6 (it "
        "recurses over the tree expansion of an expression; at Python's default limit it stops with "
        "`RecursionError` on the larger rows); its crate is its `lib.rs` with a plain `Cargo.toml`, "
        "built with `cargo build --release` offline like ours and timed by the same harness in the "
        "same rounds. `x` = ours / gradgen 0.5.2 (< 1: ours faster or smaller); `vs ours` = largest "
        "difference of its outputs from ours relative to ours' largest (a kernel whose outputs "
        "are wrong against the numpy reference is reported and not timed). A row that does not "
        "finish in its time limit says what it was doing then: the phase, the depth of its stack "
        "and the functions that fill it (`sx.py __repr__` is 0.5.2's interning, which formats the "
        "tree expansion of every new node's operands, and `<string> __hash__` the hash its "
        "dataclasses generate, recursive over the same tree: exponential in the steps of an "
        "unrolled recurrence that reuses its state). Its unrolled kernels are generated as its "
        "`Function.generate_rust` does, without simplification; its staged ones at `medium`, like "
        "ours. Where its outputs are wrong, its generated code says why: the derivative of `a**2` "
        "is `2/a * a**2` (NaN at a = 0: the staged gradient and HVP, whose first control is 0), "
        "its forward-over-reverse HVP of `a**2` evaluates `ln(a)` (NaN for a < 0: the Rosenbrock "
        "HVP), and the negation of an inlined sum is printed `-(a) + (b)` (the staged pendulum's "
        "dynamics helper, the diagonal of the product-form Rosenbrock Hessian).",
        "",
        "| problem | n | kernel | ns/call ours / 0.5.2 | x | build ms ours / 0.5.2 | x "
        "| compile s ours / 0.5.2 | x | work ours / 0.5.2 | ops ours / 0.5.2 | vs ours "
        "| gradgen 0.5.2 status |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in theirs:
        o = index.get(("ours", p["problem"], p["n"], p["kernel"]), {})

        def pair(field: str, kind: str, o: dict[str, Any] = o, p: dict[str, Any] = p) -> str:
            return f"{_fmt(o.get(field), kind)} / {_fmt(p.get(field), kind)}"

        def x(field: str, o: dict[str, Any] = o, p: dict[str, Any] = p) -> str:
            return _ratio(o.get(field), p.get(field)).strip(" ()") or "-"

        status = p["status"].replace("|", "/")[:400]
        kernel = _KERNEL_LABEL.get(p["kernel"], p["kernel"])
        lines.append(
            f"| {p['problem']} | {p['n']} | {kernel} | {pair('ns', 'ns')} | {x('ns')} | "
            f"{pair('build_s', 'ms')} | {x('build_s')} | {pair('compile_s', 's')} | {x('compile_s')} | "
            f"{pair('workspace', 'int')} | {pair('ops', 'int')} | {_fmt(p.get('vs_ours'), 'err')} | "
            f"{status} |"
        )
    timed = [p for p in theirs if p.get("ns") is not None]
    wins = [p for p in timed if (index.get(("ours", p["problem"], p["n"], p["kernel"])) or {}).get("ns")]
    finished = sum(1 for p in theirs if p["status"] == "ok")
    lines += [
        "",
        f"gradgen 0.5.2: {finished} of {len(theirs)} rows built, compiled and correct; "
        f"{len(timed)} timed, {len(wins)} of them beside ours.",
    ]
    return lines


def _targets(rows: list[dict[str, Any]], index: dict[Any, dict[str, Any]]) -> list[str]:
    out = []

    def check(name: str, misses: list[str], total: int) -> None:
        if total == 0:
            out.append(f"- {name}: not measured (no comparable pairs)")
        elif misses:
            out.append(f"- {name}: **MISSED** on {len(misses)}/{total}: " + "; ".join(misses))
        else:
            out.append(f"- {name}: met on all {total}")

    pairs = [
        (r, index.get(("casadi", r["problem"], r["n"], r["kernel"]))) for r in rows if r["system"] == "ours"
    ]
    pairs_cse = [
        (r, index.get(("casadi_cse", r["problem"], r["n"], r["kernel"])))
        for r in rows
        if r["system"] == "ours"
    ]
    pairs052 = [
        (r, index.get(("gradgen052", r["problem"], r["n"], r["kernel"])))
        for r in rows
        if r["system"] == "ours"
    ]

    def cmp(
        ps: list[Any], field: str, factor: float, cond: Any = lambda r: True, peer_field: str | None = None
    ) -> tuple[list[str], int]:
        misses, total = [], 0
        theirs = peer_field or field
        for o, p in ps:
            if p is None or o.get(field) is None or p.get(theirs) is None or not cond(o):
                continue
            total += 1
            if o[field] > factor * p[theirs]:
                ratio = f"{o[field] / p[theirs]:.2g}x" if p[theirs] else f"{o[field]} vs 0"
                misses.append(f"{o['problem']}({o['n']}) {o['kernel']} {ratio}")
        return misses, total

    check("kernel speed ours ≤ 1.0x CasADi (kernel ns, harness cost removed)", *cmp(pairs, "kernel_ns", 1.0))
    check("kernel speed ours ≤ 1.0x CasADi (ns/call, harness included)", *cmp(pairs, "ns", 1.0))
    check("kernel speed ours ≤ 1.0x CasADi (fast mode: the fastest loop of each)", *cmp(pairs, "ns_min", 1.0))
    check("kernel speed ours ≤ 1.0x CasADi cse (kernel ns)", *cmp(pairs_cse, "kernel_ns", 1.0))
    check("kernel speed ours ≤ 1.0x gradgen 0.5.2", *cmp(pairs052, "ns", 1.0))
    check("operation count ours ≤ CasADi cse", *cmp(pairs_cse, "ops", 1.0))
    check("operation count ours ≤ CasADi", *cmp(pairs, "ops", 1.0))
    check(
        "operation count ours at the opt-in level high ≤ CasADi cse",
        *cmp(pairs_cse, "ops_opt_in", 1.0, peer_field="ops"),
    )
    check(
        "operation count ours at the opt-in level high ≤ CasADi",
        *cmp(pairs, "ops_opt_in", 1.0, peer_field="ops"),
    )
    check("workspace ours ≤ CasADi (its sz_w)", *cmp(pairs, "workspace", 1.0))
    check("workspace ours ≤ CasADi cse (its sz_w)", *cmp(pairs_cse, "workspace", 1.0))
    check(
        "build time within 2x of CasADi (cse=False) at n ≥ 1000 and on pendulum",
        *cmp(pairs, "build_s", 2.0, lambda r: r["n"] >= 1000 or r["problem"] == "pendulum"),
    )
    check(
        "build time without building the expressions within 2x of CasADi (cse=False), same rows",
        *cmp(pairs, "build_core_s", 2.0, lambda r: r["n"] >= 1000 or r["problem"] == "pendulum"),
    )
    check(
        "build time within 2x of CasADi cse at n ≥ 1000",
        *cmp(pairs_cse, "build_s", 2.0, lambda r: r["n"] >= 1000),
    )
    check("build time ≥ 10x faster than gradgen 0.5.2 where it finishes", *cmp(pairs052, "build_s", 0.1))
    check("native compile time ≤ CasADi's gcc -O3", *cmp(pairs, "compile_s", 1.0))
    checked = [r for r in rows if r["system"] == "ours" and r.get("pattern")]
    if checked:
        differ = [f"{r['problem']}({r['n']}): {r['pattern']}" for r in checked if r["pattern"] != "same"]
        detail = ", ".join(f"{r['problem']}({r['n']}) {r['kernel']} nnz {r['nnz']}" for r in checked)
        if differ:
            out.append("- sparse nonzeros identical to CasADi's: **NO** on " + "; ".join(differ))
        else:
            out.append(
                f"- sparse Hessian and Jacobian nonzeros identical to CasADi's (same (row, col) list "
                f"in the same order): yes on all {len(checked)} ({detail})"
            )
        for r in checked:
            if r.get("sweeps"):
                out.append(f"- {r['problem']}({r['n']}) {r['kernel']}: {r['sweeps']}")
    grads = [
        r
        for r in rows
        if r["system"] == "ours"
        and r["problem"] == "rosenbrock"
        and r["kernel"] == "grad"
        and r.get("build_s")
        and 100 <= r["n"] <= 10000
    ]
    pts = sorted((r["n"], r["build_s"]) for r in grads)
    if len(pts) >= 2:
        slope = _slope(pts)
        verdict = "met" if slope <= SLOPE_TARGET else "**MISSED**"
        staged = sorted((r["n"], _without_round_trip(r)) for r in grads if r.get("stages"))
        extra = ""
        if len(staged) >= 2:
            extra = f"; without the round trip {_slope(staged):.2f}"
        out.append(
            f"- build time linear (log-log slope of rosenbrock gradient, n={pts[0][0]}..{pts[-1][0]}): "
            f"{slope:.2f} ({verdict}, target ≤ {SLOPE_TARGET}{extra})"
        )
    else:
        out.append("- build time slope: not measured")
    failing = [r for r in rows if r["status"] != "ok"]
    if failing:
        out.append("")
        out.append("Failures and skipped cases:")
        for r in failing:
            out.append(
                f"- {_LABEL.get(r['system'], r['system'])} {r['problem']}({r['n']}) {r['kernel']}: "
                f"{r['status'][:200]}"
            )
    return out


#: the staged problems (``problems.STAGED``) and the state size of each
_STAGED_NX = {"pendulum_staged": 2}


def _staged_section(rows: list[dict[str, Any]], index: dict[Any, dict[str, Any]]) -> list[str]:
    """Staged single shooting: ours (loops calling stage helpers) beside CasADi's unrolled C and
    its ``mapaccum`` loop, per horizon; and the checks of the staged-loops issue."""
    lines: list[str] = []
    for problem, nx in _STAGED_NX.items():
        ours = sorted(
            (r for r in rows if r["system"] == "ours" and r["problem"] == problem and r["status"] == "ok"),
            key=lambda r: (_KERNEL_ORDER.index(r["kernel"]), r["n"]),
        )
        if not ours:
            continue
        lines += [
            "",
            f"## Staged single shooting ({problem}: RK4 pendulum, nx = {nx})",
            "",
            "Ours: `SingleShootingProblem` (a `for` loop calling private stage helpers); CasADi "
            "unrolled: the SX graph of the whole horizon; CasADi mapaccum: an MX function over "
            "`mapaccum` of one SX stage (accumulator: state and running cost), its gradient and HVP "
            "by CasADi's AD of that function. Ratios are ours / peer.",
            "",
            "| kernel | N | build ms (ours / unrolled / mapaccum) | compile s (ours / unrolled / mapaccum) "
            "| ns/call ours | vs unrolled | vs mapaccum | fast vs unrolled | fast vs mapaccum "
            "| work (ours / unrolled / mapaccum) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in ours:
            peers = [index.get((s, problem, r["n"], r["kernel"]), {}) for s in ("casadi", "casadi_loop")]

            def three(field: str, kind: str, r: dict[str, Any] = r, peers: list[Any] = peers) -> str:
                return " / ".join(_fmt(x.get(field), kind) for x in (r, *peers))

            ratios = [
                _ratio(r.get(field), p.get(field)).strip(" ()") or "-"
                for field in ("ns", "ns_min")
                for p in peers
            ]
            lines.append(
                f"| {r['kernel']} | {r['n']} | {three('build_s', 'ms')} | {three('compile_s', 's')} | "
                f"{_fmt(r.get('ns'), 'ns')} | {' | '.join(ratios)} | {three('workspace', 'int')} |"
            )
        lines += ["", "Checks:", ""]
        by = {(r["kernel"], r["n"]): r for r in ours}
        ns_sorted = sorted({r["n"] for r in ours})
        lo, hi = ns_sorted[0], ns_sorted[-1]
        for field, what in (("build_s", "build time"), ("compile_s", "cargo build --release time")):
            growth = [
                f"{k} {by[(k, hi)][field] / by[(k, lo)][field]:.2g}x"
                for k in ("f", "grad", "hvp")
                if (k, lo) in by and (k, hi) in by and by[(k, lo)].get(field) and by[(k, hi)].get(field)
            ]
            lines.append(f"- {what} at N={hi} / at N={lo}: " + (", ".join(growth) or "not measured"))
        sizes = [(n, by[("grad", n)].get("workspace")) for n in ns_sorted if ("grad", n) in by]
        if len(sizes) >= 2 and all(w is not None for _, w in sizes):
            (n0, w0), (n1, w1) = sizes[0], sizes[-1]
            per = (w1 - w0) / (n1 - n0)
            lines.append(f"- gradient workspace grows by {per:.3g} per stage (nx = {nx}): {sizes}")
        for (peer, label), (field, mode) in itertools.product(
            (("casadi", "CasADi unrolled C"), ("casadi_loop", "CasADi mapaccum")),
            (("ns", ""), ("ns_min", " (fast mode)")),
        ):
            worse = []
            total = 0
            for r in ours:
                p = index.get((peer, problem, r["n"], r["kernel"]), {})
                if r.get(field) and p.get(field):
                    total += 1
                    if r[field] > p[field]:
                        worse.append(f"{r['kernel']}({r['n']}) {r[field] / p[field]:.2g}x")
            verdict = "met" if not worse else "**MISSED** on " + "; ".join(worse)
            what = f"{label}{mode}"
            lines.append(
                f"- ns/call ours ≤ {what}: {verdict} ({total} pairs)" if total else f"- vs {what}: -"
            )
    return lines


def _slope(pts: list[tuple[int, float]]) -> float:
    return math.log(pts[-1][1] / pts[0][1]) / math.log(pts[-1][0] / pts[0][0])


def _without_round_trip(r: dict[str, Any]) -> float:
    st = r["stages"]
    return float(st["total"] - st.get("round trip", 0.0))


def _stage_table(rows: list[dict[str, Any]], index: dict[Any, dict[str, Any]]) -> list[str]:
    """Where our build time goes: one extra build per row with every stage timed apart."""
    staged = [r for r in rows if r["system"] == "ours" and r.get("stages")]
    if not staged:
        return []
    staged.sort(key=lambda r: (r["problem"], r["n"], _KERNEL_ORDER.index(r["kernel"])))
    lines = [
        "",
        "## Where the build time goes (ours, ms)",
        "",
        "One more build per row with every stage timed apart (`worker.py` `_ours_stages`): `problem` "
        "builds the SX expressions, `lowering` is `Function(...)`, the pass columns come from the "
        "pass managers' events (`passes.manager.observe_passes`; `verify` is their IR verification), "
        "`round trip` is what `f.gradient()` & co. spend outside their passes (the derivative kernel "
        "turned back into SX and lowered again), `rust printing` what `generate_rust` spends outside "
        "its passes, `other passes` the passes without a column (the sparse Hessian's). "
        "`no rt` = total without the round trip; `vs CasADi` = that / CasADi's "
        "(`cse=False`) build time; `µs/op` = `no rt` per instruction of the generated kernel (`ops`).",
        "",
        "| problem | n | kernel | ops | " + " | ".join(_STAGES) + " | total | no rt | vs CasADi | µs/op |",
        "|---|---|---|---|" + "---|" * (len(_STAGES) + 4),
    ]
    for r in staged:
        st = dict(r["stages"])
        st["other passes"] = sum(v for k, v in st.items() if k not in _STAGES and k != "total")
        ops = (r.get("stage_ops") or {}).get("generated")
        peer = index.get(("casadi", r["problem"], r["n"], r["kernel"]), {}).get("build_s")
        no_rt = _without_round_trip(r)
        cells = " | ".join(f"{st.get(k, 0.0) * 1e3:.1f}" for k in _STAGES)
        vs = f"{no_rt / peer:.2g}x" if peer else "-"
        per_op = f"{no_rt * 1e6 / ops:.1f}" if ops else "-"
        lines.append(
            f"| {r['problem']} | {r['n']} | {_KERNEL_LABEL.get(r['kernel'], r['kernel'])} | {ops or '-'} | "
            f"{cells} | {st['total'] * 1e3:.1f} | {no_rt * 1e3:.1f} | {vs} | {per_op} |"
        )
    return lines


#: the floor measurement that bounds each stage from below (floor.py)
_FLOOR_OF = {
    "lowering": "intern",
    "autodiff": "intern",
    "simplify": "intern",
    "schedule": "renumber",
    "allocate": "visit",
    "verify": "visit",
    "rust printing": "format",
}


def _floor_table(floor: dict[str, Any]) -> list[str]:
    """Each stage's cost per instruction beside the least a Python pass doing its job costs."""
    stages, fl = floor["stages_us"], floor["floor_us"]
    lines = [
        "",
        f"## The pure-Python floor (rosenbrock({floor['n']}) gradient, {floor['instructions']} "
        "instructions, µs per instruction)",
        "",
        "`floor.py` times the least a pass does per instruction in CPython (wall time, best of 5): "
        + ", ".join(f"`{k}` {v:.2f}" for k, v in fl.items())
        + " (see its docstring). Below, each stage of the build (best of 5) beside the floor "
        "that bounds it; `x floor` is how far the stage is from it (`verify` runs three or four "
        "full checks, `autodiff` builds several instructions per primal one). See "
        "`tests/benchmarks/BUILD_SPEED.md` for what would break the floor.",
        "",
        "| stage | µs/instruction | floor | x floor |",
        "|---|---|---|---|",
    ]
    for stage, cost in stages.items():
        if stage == "total":
            continue
        ref = _FLOOR_OF.get(stage)
        bound = fl.get(ref) if ref else None
        ratio = f"{cost / bound:.1f}" if bound else "-"
        lines.append(f"| {stage} | {cost:.2f} | {f'{ref} {bound:.2f}' if bound else '-'} | {ratio} |")
    lines.append(f"| total | {stages['total']:.2f} | | |")
    return lines


def fence_table(study: dict[str, Any]) -> list[str]:
    """The Markdown section of the study: ns/call per (problem, layout), ratios to the
    baseline, and per layout the problems where it is the fastest (within 3 %)."""
    variants, base = study["variants"], study["baseline"]
    lines = [
        "",
        "## Scheduling fence study (ours, ns/call)",
        "",
        "`tests/benchmarks/fence.py`: every problem generated once per layout (`fence K`: a "
        "`compiler_fence` every K statements; `no fence`; `chunks of K`: no fence, "
        "`#[inline(never)]` functions of K statements over the workspace), all layouts timed "
        f"by one harness in interleaved rounds (the fastest of 180 loops of about 0.2 ms: the "
        f"machine's fast mode, `rounds.py`; one run); `(x)` = ns / `{base}`; "
        "`harness` = the same loop around an empty function; `same` = outputs of every layout "
        "bit-identical, `err` = against the Python interpreter; `=` after a figure: the layout "
        "prints the same text for that problem as the first layout of the row that does (the two "
        "figures differ by the run's noise alone).",
        "",
        "| problem | ops | " + " | ".join(variants) + " | harness | best | same | err |",
        "|---|---|" + "---|" * (len(variants) + 4),
    ]
    wins = dict.fromkeys(variants, 0)
    logs: dict[str, list[float]] = {v: [] for v in variants}
    worst = dict.fromkeys(variants, 1.0)
    noise = 1.0  # the largest ratio between two figures of the same text
    for r in study["rows"]:
        ns = r["ns"]
        ref = ns[base]
        text_of = r.get("text_of", {v: v for v in variants})
        for v in variants:
            same = ns[text_of[v]]
            noise = max(noise, ns[v] / same, same / ns[v])
        best = min(variants, key=lambda v: ns[v])
        for v in variants:
            if ns[v] <= 1.03 * ns[best]:
                wins[v] += 1
            logs[v].append(math.log(ns[v] / ref))
            worst[v] = max(worst[v], ns[v] / ns[best])
        cells = " | ".join(
            f"{ns[v]:.4g}"
            + ("" if v == base else f" ({ns[v] / ref:.2f}x)")
            + ("" if text_of[v] == v else " =")
            for v in variants
        )
        lines.append(
            f"| {r['problem']} | {r['ops']} | {cells} | {ns['harness']:.3g} | {best} | "
            f"{'yes' if r['identical'] else '**NO**'} | {r['rel_err']:.1e} |"
        )
    n = len(study["rows"])
    lines += [
        "",
        f"Per layout, over {n} problems: on how many it is the fastest or within 3 % of the fastest; "
        f"geometric mean of its ns/call / `{base}`'s (the harness's own cost is a few ns, below "
        "1 % of every problem here); its worst ns/call / the fastest layout's, over the problems. "
        f"Two layouts printing the same text differed by up to {noise:.2f}x in this run: a smaller "
        "difference on one problem is not resolved.",
        "",
        "| layout | fastest (within 3 %) | geomean vs " + base + " | worst vs fastest |",
        "|---|---|---|---|",
    ]
    for v in variants:
        gm = math.exp(sum(logs[v]) / max(len(logs[v]), 1))
        lines.append(f"| {v} | {wins[v]}/{n} | {gm:.3f} | {worst[v]:.2f}x |")
    return lines
