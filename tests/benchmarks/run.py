"""``make bench``: gradgen side by side with CasADi 3.8.2 and gradgen 0.5.2 (PyPI).

Usage: ``python -m tests.benchmarks.run [--quick] [--systems ours,casadi,casadi_cse,casadi_loop,gradgen052]
[--problems rosenbrock,rosenbrock_product,logsumexp,pendulum,pendulum_product,shooting,pendulum_staged]
[--sizes 10,20] [--no-large] [--no-fence]``.

CasADi runs twice: ``casadi`` is its default build (``cse=False``, the faster one; the build
time targets compare against it) and ``casadi_cse`` is ``{"cse": True}`` (fewer operations; the
operation count target compares against it). Both use the same virtualenv. ``casadi_loop`` (the
staged problems only) is CasADi's loop version: an MX function over ``mapaccum`` of one stage.

Each system builds each kernel in its own interpreter (``worker.py``): ours in this venv, the
peers in virtualenvs that this driver creates under ``tests/benchmarks/.peers/``. Kernels are
compiled natively (``cargo build --release`` per generated crate, ``gcc -O3 -c`` for CasADi's C),
and checked against numpy references through a native harness per system. Timing comes last, for
all systems at once: per (problem, size, kernel), rounds in which every system's kernel and its
empty-function loop run a few loops each, in an order rotated per round (``rounds.py``), so that
load drift on a shared machine hits every system alike. The scheduling fence study
(``fence.py``) then times the layouts of long kernels. Results go to
``tests/benchmarks/results/`` (``results.json``, ``results.md``, ``build_time.png``). A case that
fails (error, compile failure, time limit) is reported as such in the table: a build that does not
finish in its time limit with what it was doing then (the worker's ``progress.json``), a kernel
whose outputs are wrong (against the numpy reference) is reported and not timed. Every peer row's
outputs are also compared with ours (``vs_ours``: the largest difference relative to ours).

gradgen 0.5.2 is built with its own API: the same ``Function`` calls, ``generate_rust`` with its
keyword options, its dense row-major Hessian as the ``hess_dense`` row, its
``SingleShootingProblem`` for the staged problem; its crate is its ``lib.rs`` with a plain
``Cargo.toml`` (a std crate without dependencies, built offline like ours). Its time limit per
kernel is at least :data:`PEER_MIN_TIMEOUT` (its build is superlinear: most unrolled rows do not
finish, and the report says where each one was when it was stopped).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import shutil
import signal
import subprocess
import sys
import time
from typing import Any

import numpy as np

from tests.cargo import cargo_env

from . import reference
from .counting import count_ops
from .harness import HARNESS_SUFFIX, Case, c_harness, rust_harness
from .problems import KERNELS, OURS_EXTRA, PROBLEMS, SYSTEM_KERNELS, SYSTEMS_OF, UNROLLED_SYSTEMS
from .report import write_report
from .rounds import median, spread, time_round_robin

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
PEERS = HERE / ".peers"
RESULTS = HERE / "results"
WORK = REPO / "build" / "bench"
TARGET = REPO / "build" / "bench-cargo-target"
PEER_PACKAGES = {"casadi": ["casadi==3.8.2", "numpy", "matplotlib"], "gradgen052": ["gradgen==0.5.2"]}
SYSTEMS = ("ours", "casadi", "casadi_cse", "casadi_loop", "gradgen052")
#: system -> the peer virtualenv it runs in
PEER_VENV = {"casadi": "casadi", "casadi_cse": "casadi", "casadi_loop": "casadi", "gradgen052": "gradgen052"}
CASADI = ("casadi", "casadi_cse", "casadi_loop")
#: the least generation time limit per kernel of a peer [s] (``--timeout`` raises it)
PEER_MIN_TIMEOUT = {"gradgen052": 60.0}


def log(msg: str) -> None:
    print(msg, flush=True)


def python_for(system: str) -> pathlib.Path:
    return pathlib.Path(sys.executable) if system == "ours" else PEERS / PEER_VENV[system] / "bin" / "python"


def ensure_peer(system: str) -> str | None:
    """Create the peer's venv and install its pinned packages; an error message on failure."""
    system = PEER_VENV[system]
    venv = PEERS / system
    stamp = venv / ".installed"
    want = " ".join(PEER_PACKAGES[system])
    if stamp.exists() and stamp.read_text() == want:
        return None
    try:
        if not (venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        proc = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *PEER_PACKAGES[system]],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if proc.returncode != 0:
            return f"pip install {want} failed: {proc.stderr[-500:]}"
    except (OSError, subprocess.SubprocessError) as exc:
        return f"could not create the {system} virtualenv: {exc}"
    stamp.write_text(want)
    return None


_RSS_WRAPPER = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "sys.stderr.write('\\nMAXRSS_KB %d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
    "sys.exit(r.returncode)"
)


def run_measured(
    cmd: list[str], cwd: pathlib.Path, env: dict[str, str] | None, timeout: float, rss: bool = False
) -> dict[str, Any]:
    """Run ``cmd``; wall time, exit code, output and (``rss``) the peak RSS of its process tree."""
    if rss:
        cmd = [sys.executable, "-c", _RSS_WRAPPER, *cmd]
    t0 = time.perf_counter()
    # a session of its own, so a timeout ends the whole tree (the compiler under the RSS wrapper
    # holds the output pipes: killing the wrapper alone would wait for the compiler to finish)
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return {"rc": None, "timeout": True, "wall_s": time.perf_counter() - t0, "out": out, "err": err}
    wall = time.perf_counter() - t0
    res = {"rc": proc.returncode, "timeout": False, "wall_s": wall, "out": out, "err": err}
    if rss and "MAXRSS_KB" in err:
        res["peak_rss_mb"] = int(err.rsplit("MAXRSS_KB", 1)[1].split()[0]) / 1024
        res["err"] = err.rsplit("MAXRSS_KB", 1)[0]
    return res


def case_list(quick: bool, problems_sel: set[str]) -> list[tuple[str, int, str, bool]]:
    """(problem, size, kernel, full_figures); scaling-only sizes measure the build alone."""
    cases = []
    sizes = {
        "rosenbrock": [10, 100] if quick else [10, 100, 1000],
        "rosenbrock_product": [10, 100],
        "logsumexp": [20],
        "pendulum": [20] if quick else [20, 100],
        "shooting": [100] if quick else [100, 1000],
        "pendulum_product": [20] if quick else [20, 100],
        "pendulum_staged": [10, 100, 1000],
    }
    for problem, ns in sizes.items():
        if problem not in problems_sel:
            continue
        for n in ns:
            for k in KERNELS[problem]:
                cases.append((problem, n, k, True))
    if "rosenbrock" in problems_sel:
        for n in [1000] if quick else [3000, 10000]:
            cases.append(("rosenbrock", n, "grad", n <= 1000 and not quick))
    return cases


def system_cases(system: str, cases: list[tuple[str, int, str, bool]]) -> list[tuple[str, int, str, bool]]:
    """The cases ``system`` builds: ours adds its extra kernels (``OURS_EXTRA``), a problem
    measured on some systems only (``SYSTEMS_OF``) is left to them, and a system building
    another kernel in place of one (``SYSTEM_KERNELS``: gradgen 0.5.2's dense Hessian) builds it."""
    if system == "ours":
        cases = [
            (p, n, k2, full)
            for p, n, k, full in cases
            for k2 in (k, *([OURS_EXTRA[k]] if k in OURS_EXTRA else []))
        ]
    cases = [c for c in cases if system in SYSTEMS_OF.get(c[0], UNROLLED_SYSTEMS)]
    renamed = SYSTEM_KERNELS.get(system, {})
    return [(p, n, renamed.get(k, k), full) for p, n, k, full in cases]


def build_case(
    system: str, problem: str, n: int, kernel: str, args: argparse.Namespace, full: bool
) -> dict[str, Any]:
    key = f"{problem}_{n}_{kernel}"
    out = WORK / system / key
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    job = {
        "system": system,
        "problem": problem,
        "size": n,
        "kernel": kernel,
        "out_dir": str(out),
        "reps": 1 if args.quick else 3,
        "function_name": f"k_{key}",
        "crate_name": f"b{system}_{key}",
        "level": "medium",
        "opt_in_level": "high",
        "write_crate": full,
    }
    limit = generation_limit(system, args.timeout)
    job["timeout_s"] = limit
    (out / "job.json").write_text(json.dumps(job))
    res = run_measured(
        [str(python_for(system)), str(HERE / "worker.py"), str(out / "job.json")], out, None, limit
    )
    row: dict[str, Any] = {
        "system": system,
        "problem": problem,
        "n": n,
        "kernel": kernel,
        "key": key,
        "full": full,
    }
    if res["timeout"]:
        row["status"] = did_not_finish(limit, "generation", out / "progress.json")
        progress = read_progress(out / "progress.json")
        if progress and progress.get("phase") == EXPRESSIONS_PHASE:
            row["stuck_in"] = EXPRESSIONS_PHASE  # where every kernel of the problem starts
        return row
    meta_path = out / "meta.json"
    if not meta_path.exists():
        row["status"] = f"crashed (exit {res['rc']}{_signal_name(res['rc'])}): {res['err'][-300:]}"
        return row
    meta = json.loads(meta_path.read_text())
    if not meta.get("ok"):
        row["status"] = f"error: {meta.get('error')}"
        (out / "traceback.txt").write_text(meta.get("traceback", ""))
        return row
    row.update(
        {
            k: meta[k]
            for k in (
                "build_s",
                "build_core_s",
                "problem_s",
                "build_times_s",
                "peak_rss_mb",
                "workspace",
                "input_sizes",
                "output_size",
                "source_bytes",
                "stages",
                "stage_ops",
            )
            if k in meta
        }
    )
    row["meta"] = meta
    src = (out / ("kernel.c" if system in CASADI else "kernel.rs")).read_text()
    row["ops"], row["calls"] = count_ops(src)
    opt_in = out / "kernel_opt_in.rs"
    if opt_in.exists():  # ours at the rounding opt-in level
        row["ops_opt_in"] = count_ops(opt_in.read_text())[0]
    row["status"] = "ok"
    return row


#: the worker's phase building a problem's expressions (``worker.EXPRESSIONS_PHASE``), the
#: first of every kernel of the problem: a build stopped there stops every kernel
EXPRESSIONS_PHASE = "building the expressions"


def generation_limit(system: str, timeout: float) -> float:
    """The time limit [s] of one kernel's generation by ``system`` (``--timeout`` for a peer,
    at least its :data:`PEER_MIN_TIMEOUT`; ours at least 600 s)."""
    if system == "ours":
        return max(timeout, 600.0)
    return max(timeout, PEER_MIN_TIMEOUT.get(system, 0.0))


def did_not_finish(limit: float, stage: str, progress: pathlib.Path | None = None) -> str:
    """The status of a row stopped at its time limit: the stage, and where the build was (its
    phase, stack depth and the functions filling its stack) when the worker's watchdog wrote
    ``progress`` shortly before the limit."""
    status = f"did not finish in {limit:.0f} s ({stage})"
    p = read_progress(progress)
    if p:
        frames = ", ".join(f"{where} x{n}" for where, n in p.get("frames", []))
        status += (
            f": at {p.get('elapsed_s', 0.0):.0f} s in {p.get('phase', '?')}, {p.get('depth', 0)} frames deep"
            f" (innermost {p.get('innermost', '?')}; most frames: {frames})"
        )
    return status


def read_progress(path: pathlib.Path | None) -> dict[str, Any] | None:
    """The worker's ``progress.json`` (``None``: none written or unreadable)."""
    try:
        p = json.loads(path.read_text()) if path is not None else None
    except (OSError, ValueError):
        return None
    return p if isinstance(p, dict) else None


def _signal_name(rc: int | None) -> str:
    if rc is None or rc >= 0:
        return ""
    try:
        return f", {signal.Signals(-rc).name}"
    except ValueError:
        return ""


def compile_case(row: dict[str, Any], env: dict[str, str], limit: float) -> None:
    out = WORK / row["system"] / row["key"]
    if row["system"] in CASADI:
        cmd = ["gcc", "-O3", "-c", "kernel.c", "-o", "kernel.o"]
        res = run_measured(cmd, out, None, limit, rss=True)
    else:
        res = run_measured(["cargo", "build", "--release", "-q"], out / "crate", env, limit, rss=True)
    if res["timeout"]:
        stage = "gcc -O3 -c" if row["system"] in CASADI else "cargo build --release"
        row["status"] = did_not_finish(limit, stage)
    elif res["rc"] != 0:
        row["status"] = "does not compile: " + (res["err"] or res["out"])[-400:].replace("\n", " ")
    else:
        row["compile_s"] = res["wall_s"]
        row["compile_peak_rss_mb"] = res.get("peak_rss_mb")


def build_harness(system: str, rows: list[dict[str, Any]], env: dict[str, str]) -> pathlib.Path | None:
    """Compile ``system``'s timing harness over its compiled rows; the executable, or ``None``
    (the rows are then marked as failed)."""
    ok = [r for r in rows if r["status"] == "ok" and "compile_s" in r]
    if not ok:
        return None
    hdir = WORK / system / "harness"
    cases = []
    for r in ok:
        meta = r["meta"]
        cases.append(
            Case(
                r["key"],
                f"b{system}_{r['key']}",
                f"k_{r['key']}",
                r["input_sizes"],
                r["output_size"],
                r["workspace"],
                meta.get("iw", 0),
                meta.get("sz_arg", 0),
                meta.get("sz_res", 0),
            )
        )
    if system in CASADI:
        hdir.mkdir(parents=True, exist_ok=True)
        (hdir / "harness.c").write_text(c_harness(cases))
        objs = [str(WORK / system / r["key"] / "kernel.o") for r in ok]
        res = run_measured(["gcc", "-O3", "harness.c", *objs, "-lm", "-o", "harness"], hdir, None, 900)
        exe = hdir / "harness"
    else:
        (hdir / "src").mkdir(parents=True, exist_ok=True)
        toml, main = rust_harness(
            cases, {c.crate: str(WORK / system / r["key"] / "crate") for c, r in zip(cases, ok, strict=True)}
        )
        (hdir / "Cargo.toml").write_text(toml)
        (hdir / "src" / "main.rs").write_text(main)
        res = run_measured(["cargo", "build", "--release", "-q"], hdir, env, 1800)
        # one executable per system: the next system's harness build replaces the target's
        exe = hdir / "bench_harness"
        if res["rc"] == 0:
            shutil.copy2(TARGET / "release" / "bench_harness", exe)
    if res["rc"] != 0:
        for r in ok:
            r["status"] = "harness does not build: " + res["err"][-300:].replace("\n", " ")
        return None
    return exe


def probe_case(exe: pathlib.Path, system: str, r: dict[str, Any]) -> float | None:
    """Run case ``r`` once through the harness: check its outputs against the numpy reference
    (``rel_err``) and return the ns/call of a short probe loop (``None``: the row failed)."""
    blocks = reference.inputs(r["problem"], r["n"], r["kernel"])
    flat = np.concatenate(blocks)
    if sum(r["input_sizes"]) != len(flat):
        r["status"] = f"unexpected input sizes {r['input_sizes']}"
        return None
    d = WORK / system / r["key"]
    flat.astype("<f8").tofile(d / "in.bin")
    probe = run_measured(
        [str(exe), r["key"], str(d / "in.bin"), str(d / "out.bin"), "1000", "3"], d, None, 600
    )
    if probe["rc"] != 0:
        r["status"] = f"harness failed (exit {probe['rc']}): {probe['err'][-200:]}"
        return None
    got = dense_output(d / "out.bin", r["meta"])
    ref = reference.reference(r["problem"], r["n"], r["kernel"], blocks)
    r["rel_err"] = reference.max_rel_error(got, ref)
    if not r["rel_err"] <= MAX_REL_ERR:  # a wrong kernel is reported, not timed
        bad = int(np.count_nonzero(~np.isfinite(got))) if got.shape == ref.shape else None
        what = f"{bad} of {got.size} outputs not finite" if bad else f"max rel error {r['rel_err']:.1e}"
        if got.shape != ref.shape:
            what = f"{got.size} outputs, {ref.size} expected"
        r["status"] = f"wrong result ({what} against the numpy reference): not timed"
        return None
    return min(float(v) for v in probe["out"].split()[1:4])


#: the largest error against the numpy reference of a kernel that is timed
MAX_REL_ERR = 1e-6


def dense_output(path: pathlib.Path, meta: dict[str, Any]) -> np.ndarray:
    """A case's outputs written by the harness, a sparse result (CasADi's, ours: its nonzeros,
    ``meta`` giving their rows and columns) densified row-major."""
    got = np.fromfile(path, dtype="<f8")
    if "out_rows" in meta and len(got) == len(meta["out_rows"]):
        dense = np.zeros(meta["out_shape"])
        dense[meta["out_rows"], meta["out_cols"]] = got
        got = dense.reshape(-1)  # row-major; the Hessian is symmetric
    return got


def compare_with_ours(rows: list[dict[str, Any]]) -> None:
    """Set ``vs_ours`` on every probed peer row: the largest difference of its outputs (densified)
    from ours of the same (problem, n, kernel), relative to ours' largest (``inf``: other sizes or
    non-finite values)."""
    ours = {(r["problem"], r["n"], r["kernel"]): r for r in rows if r["system"] == "ours" and "rel_err" in r}
    for r in rows:
        o = ours.get((r["problem"], r["n"], r["kernel"]))
        if r["system"] == "ours" or o is None or "rel_err" not in r:
            continue
        theirs = dense_output(WORK / r["system"] / r["key"] / "out.bin", r.get("meta") or {})
        mine = dense_output(WORK / "ours" / o["key"] / "out.bin", o.get("meta") or {})
        r["vs_ours"] = reference.max_rel_error(theirs, mine)


#: timing rounds per case and loops per slot and round (the figure is the median of all loops)
ROUNDS = 8
LOOPS = 100


def time_cases(runs: list[tuple[pathlib.Path, dict[str, Any], float]], args: argparse.Namespace) -> None:
    """Time every probed row (harness executable, row, probe ns) in round-robin rounds
    (``rounds.py``): per (problem, size, kernel), every system's kernel and empty-function
    harness loop in each round, so that load drift hits every system alike. Sets ``ns``,
    ``harness_ns``, ``kernel_ns``, ``iters`` and the spreads of the loops on each row."""
    groups: dict[tuple[str, int, str], list[tuple[str, str]]] = {}
    where: dict[tuple[str, str], tuple[pathlib.Path, dict[str, Any]]] = {}
    probes: dict[tuple[str, int, str], list[float]] = {}
    for exe, r, ns in runs:
        g = (r["problem"], r["n"], r["kernel"])
        for key in (r["key"], r["key"] + HARNESS_SUFFIX):
            groups.setdefault(g, []).append((r["system"], key))
            where[(r["system"], key)] = (exe, r)
        probes.setdefault(g, []).append(ns)
    # many short loops and their median: on a shared machine a loop that the scheduler preempts
    # is an outlier the median ignores, where long loops are all preempted. The same calls per
    # loop for every system of a group, about ``budget`` seconds for the slowest.
    budget = 0.0001 if args.quick else 0.0002
    iters = {g: int(min(1e7, max(20, budget * 1e9 / max(max(p), 1.0)))) for g, p in probes.items()}

    def timer(slot: tuple[str, str], loops: int) -> list[float] | None:
        exe, r = where[slot]
        g = (r["problem"], r["n"], r["kernel"])
        d = WORK / slot[0] / r["key"]
        out = "empty.bin" if slot[1].endswith(HARNESS_SUFFIX) else "out.bin"
        return time_loop(exe, slot[1], d, iters[g], loops, out)

    for g, slots in groups.items():
        systems = ", ".join(s for s, k in slots if not k.endswith(HARNESS_SUFFIX))
        log(f"[time] {g[0]} n={g[1]} {g[2]}: {systems}")
    t0 = time.perf_counter()
    samples = time_round_robin(list(groups.values()), ROUNDS, LOOPS, timer)
    log(f"[time] {len(runs)} rows in {len(groups)} groups timed in {time.perf_counter() - t0:.0f} s")
    for _, r, _ in runs:
        total = samples[(r["system"], r["key"])]
        empty = samples[(r["system"], r["key"] + HARNESS_SUFFIX)]
        if not total or not empty:
            r["status"] = "harness failed"
            continue
        r["ns"] = median(total)
        r["harness_ns"] = median(empty)
        r["kernel_ns"] = r["ns"] - r["harness_ns"]
        # the fastest loop: the machine's fast mode (see ``rounds.py``)
        r["ns_min"] = min(total)
        r["kernel_ns_min"] = r["ns_min"] - min(empty)
        r["ns_spread"] = spread(total)
        r["harness_spread"] = spread(empty)
        r["loops"] = len(total)
        r["iters"] = iters[(r["problem"], r["n"], r["kernel"])]


def time_loop(
    exe: pathlib.Path, key: str, d: pathlib.Path, iters: int, loops: int, out: str = "out.bin"
) -> list[float] | None:
    """ns/call of each of ``loops`` harness loops of ``iters`` calls of case ``key`` (``None``
    if the harness failed); the first call's outputs go to ``d / out``."""
    cmd = [str(exe), key, str(d / "in.bin"), str(d / out), str(iters), str(loops)]
    timed = run_measured(cmd, d, None, 900)
    if timed["rc"] != 0:
        return None
    return [float(v) for v in timed["out"].splitlines()[0].split()[1:]]


def large_benchmarks(args: argparse.Namespace, env: dict[str, str]) -> list[dict[str, Any]]:
    """Ours only: 10^6-node primal and pendulum N=300 gradient through the pipeline to a crate."""
    out_rows = []
    for problem, n, kernel in (("large", 1_000_000, "f"), ("pendulum", 300, "grad")):
        log(f"[large] ours {problem} n={n} {kernel}")
        a = argparse.Namespace(**{**vars(args), "quick": True})
        row = build_case("ours", problem, n, kernel, a, True)
        if row["status"] == "ok":
            compile_case(row, env, 1800)
        row.pop("meta", None)
        out_rows.append(row)
        log(
            f"    {row['status']} build {row.get('build_s', 0):.2f} s "
            f"peak {row.get('peak_rss_mb', 0):.0f} MB "
            f"compile {row.get('compile_s', 0):.1f} s"
        )
    return out_rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer sizes, one build rep, shorter timing loops")
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--timeout", type=float, default=None, help="peer build time limit per kernel [s]")
    ap.add_argument("--sizes", default="", help="only these problem sizes (comma-separated; default all)")
    ap.add_argument("--no-large", action="store_true", help="skip the 10^6-node and pendulum N=300 runs")
    ap.add_argument(
        "--compile-timeout", type=float, default=1200.0, help="native compile time limit per kernel [s]"
    )
    ap.add_argument("--no-fence", action="store_true", help="skip the scheduling fence study (fence.py)")
    args = ap.parse_args(argv)
    if args.timeout is None:
        args.timeout = 20.0 if args.quick else 60.0
    systems = [s for s in args.systems.split(",") if s]
    t_start = time.perf_counter()
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    env = cargo_env()
    env["CARGO_TARGET_DIR"] = str(TARGET)
    unavailable: dict[str, str] = {}
    for s in systems:
        if s != "ours":
            err = ensure_peer(s)
            if err:
                unavailable[s] = err
                log(f"peer {s} unavailable: {err}")
    rows: list[dict[str, Any]] = []
    runs: list[tuple[pathlib.Path, dict[str, Any], float]] = []
    cases = case_list(args.quick, set(args.problems.split(",")))
    if args.sizes:
        cases = [c for c in cases if str(c[1]) in args.sizes.split(",")]
    for system in systems:
        failed_at: dict[tuple[str, str], str] = {}
        sys_rows = []
        for problem, n, kernel, full in system_cases(system, cases):
            if system in unavailable:
                sys_rows.append(
                    {
                        "system": system,
                        "problem": problem,
                        "n": n,
                        "kernel": kernel,
                        "status": f"peer unavailable: {unavailable[system]}",
                    }
                )
                continue
            prior = failed_at.get((problem, kernel)) or failed_at.get((problem, "*"))
            if prior:
                sys_rows.append(
                    {
                        "system": system,
                        "problem": problem,
                        "n": n,
                        "kernel": kernel,
                        "key": "",
                        "status": f"not run: {prior}",
                    }
                )
                continue
            log(f"[build] {system} {problem} n={n} {kernel}")
            row = build_case(system, problem, n, kernel, args, full)
            if row["status"] != "ok":
                failed_at[(problem, kernel)] = f"n={n} failed ({row['status'][:60]})"
                if row.get("stuck_in") == EXPRESSIONS_PHASE:
                    failed_at[(problem, "*")] = f"n={n} {kernel}: {row['status'][:110]}"
            elif full:
                compile_case(row, env, args.compile_timeout)
            log(
                f"    {row['status'][:150]}  build={row.get('build_s', float('nan')):.4f}s"
                f" compile={row.get('compile_s', float('nan')):.2f}s"
            )
            sys_rows.append(row)
        log(f"[harness] {system}")
        exe = build_harness(system, [r for r in sys_rows if r.get("full")], env)
        for r in sys_rows:
            if exe is not None and r.get("full") and r["status"] == "ok" and "compile_s" in r:
                ns = probe_case(exe, system, r)
                if ns is not None:
                    runs.append((exe, r, ns))
        rows.extend(sys_rows)
    compare_with_ours(rows)
    time_cases(runs, args)
    large = [] if args.no_large or "ours" not in systems else large_benchmarks(args, env)
    # the floor of the rosenbrock gradient's passes, measured when rosenbrock is benchmarked
    with_floor = "ours" in systems and "rosenbrock" in args.problems.split(",")
    floor = pass_floor(1000 if args.quick else 10_000) if with_floor else None
    fence = None
    if not args.no_fence and "ours" in systems:
        from .fence import BENCH_LAYOUTS, run_study  # fence.py reads this module's paths

        fence = run_study(args.quick, log, variants=list(BENCH_LAYOUTS))
    compare_patterns(rows)
    for r in rows:
        r.pop("meta", None)
    info = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        "cpu": _cpu_model(),
        "quick": args.quick,
        "total_s": time.perf_counter() - t_start,
    }
    data = {"info": info, "rows": rows, "large": large, "floor": floor, "fence": fence}
    (RESULTS / "results.json").write_text(json.dumps(data, indent=1))
    md = write_report(data)
    (RESULTS / "results.md").write_text(md)
    print(md)
    write_chart()
    log(f"results in {RESULTS} ({info['total_s']:.0f} s)")
    return 0


def write_chart() -> None:
    """``build_time.png`` by ``chart.py`` in the CasADi virtualenv (it has matplotlib); a run
    without that virtualenv (``--systems`` without CasADi) writes none."""
    python = python_for("casadi")
    if not python.exists():
        log(f"chart not written: no {python}")
        return
    chart = subprocess.run(
        [str(python), str(HERE / "chart.py"), str(RESULTS / "results.json"), str(RESULTS / "build_time.png")],
        capture_output=True,
        text=True,
    )
    if chart.returncode != 0:
        log(f"chart not written: {chart.stderr[-300:]}")


def pass_floor(n: int) -> dict[str, Any] | None:
    """``floor.py``'s figures for the rosenbrock(n) gradient (``None`` if it failed)."""
    log(f"[floor] ours rosenbrock n={n} grad")
    res = run_measured([sys.executable, "-m", "tests.benchmarks.floor", str(n)], REPO, None, 900)
    if res["rc"] != 0:
        log(f"    floor not measured: {res['err'][-300:]}")
        return None
    floor: dict[str, Any] = json.loads(res["out"])
    return floor


def compare_patterns(rows: list[dict[str, Any]]) -> None:
    """Record on our sparse Hessian rows whether their nonzeros are CasADi's, in the same order."""
    index = {(r["system"], r["problem"], r["n"], r["kernel"]): r for r in rows}
    for r in rows:
        peer = index.get(("casadi", r["problem"], r["n"], r["kernel"]))
        meta, pmeta = r.get("meta") or {}, (peer or {}).get("meta") or {}
        if r["system"] != "ours" or "out_rows" not in meta or "out_rows" not in pmeta:
            continue
        ours = list(zip(meta["out_rows"], meta["out_cols"], strict=True))
        theirs = list(zip(pmeta["out_rows"], pmeta["out_cols"], strict=True))
        assert peer is not None
        r["nnz"], peer["nnz"] = len(ours), len(theirs)
        if "sweeps" in meta:
            r["sweeps"] = meta["sweeps"]
        if ours == theirs and meta["out_shape"] == pmeta["out_shape"]:
            r["pattern"] = "same"
        elif set(ours) == set(theirs):
            r["pattern"] = "same set, other order"
        else:
            r["pattern"] = f"differs (ours {len(ours)}, CasADi {len(theirs)} nonzeros)"


def _cpu_model() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
