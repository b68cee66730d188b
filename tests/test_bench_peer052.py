"""gradgen 0.5.2 as a benchmark peer (``tests/benchmarks``): which cases it builds, how a row
that does not finish or computes wrong values is reported, how its outputs are compared with
ours and the report's ours / gradgen 0.5.2 table. Nothing here needs gradgen 0.5.2: its worker
output and its harness are faked (the watchdog's stack summary is taken of a thread of this
process). ``test_real_gradgen052_rows`` runs the real thing when ``GRADGEN_BENCH_PEER052=1`` and
the bench's peer virtualenv exists (``make bench`` creates it)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import sys
import threading
import time
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from tests.benchmarks import reference, run
from tests.benchmarks.report import write_report

BENCH = pathlib.Path(run.__file__).resolve().parent


def _worker() -> ModuleType:
    """``worker.py`` as the bench runs it: a script next to ``problems.py``."""
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_worker", BENCH / "worker.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


def test_gradgen052_builds_its_dense_hessian_and_its_staged_problem() -> None:
    cases = run.case_list(True, set(run.PROBLEMS))
    theirs = run.system_cases("gradgen052", cases)
    ours = run.system_cases("ours", cases)
    kernels = {(p, k) for p, _, k, _ in theirs}
    # its only Hessian is dense: its row is hess_dense, beside ours; never a sparse "hess" row
    assert ("rosenbrock", "hess_dense") in kernels and ("logsumexp", "hess_dense") in kernels
    assert not any(k == "hess" for _, k in kernels)
    assert {("rosenbrock", "hess"), ("rosenbrock", "hess_dense")} <= {(p, k) for p, _, k, _ in ours}
    # the staged pendulum with its SingleShootingProblem; no dense 2N x (3N + 2) shooting Jacobian
    assert {k for p, k in kernels if p == "pendulum_staged"} == {"f", "grad", "hvp"}
    assert not any(p == "shooting" for p, _ in kernels)
    # every case of ours that it builds too pairs with one of ours
    assert {(p, n, k) for p, n, k, _ in theirs} <= {(p, n, k) for p, n, k, _ in ours}


def test_generation_limits() -> None:
    assert run.generation_limit("gradgen052", 20.0) == run.PEER_MIN_TIMEOUT["gradgen052"] == 60.0
    assert run.generation_limit("gradgen052", 300.0) == 300.0
    assert run.generation_limit("casadi", 20.0) == 20.0
    assert run.generation_limit("ours", 20.0) == 600.0


def test_a_worker_killed_by_a_signal_is_reported_with_its_name() -> None:
    # a stack overflow of the deep-recursion thread ends the worker with SIGSEGV
    assert run._signal_name(-11) == ", SIGSEGV"
    assert run._signal_name(1) == run._signal_name(None) == run._signal_name(-999) == ""


def test_a_row_that_does_not_finish_says_where_it_was(tmp_path: pathlib.Path) -> None:
    progress = tmp_path / "progress.json"
    assert run.did_not_finish(60, "generation", progress) == "did not finish in 60 s (generation)"
    progress.write_text(
        json.dumps(
            {
                "phase": "building the expressions",
                "depth": 812,
                "innermost": "sx.py __repr__ (line 119)",
                "frames": [["sx.py __repr__", 800], ["sx.py make", 3]],
                "elapsed_s": 53.2,
            }
        )
    )
    assert run.did_not_finish(60, "generation", progress) == (
        "did not finish in 60 s (generation): at 53 s in building the expressions, 812 frames deep "
        "(innermost sx.py __repr__ (line 119); most frames: sx.py __repr__ x800, sx.py make x3)"
    )
    progress.write_text("{not json")
    assert run.did_not_finish(900, "cargo build --release", progress) == (
        "did not finish in 900 s (cargo build --release)"
    )


def test_the_watchdog_summarizes_the_build_threads_stack(tmp_path: pathlib.Path) -> None:
    """A thread 300 calls deep in ``descend`` (as 0.5.2 is deep in its recursive ``__repr__``):
    the watchdog's ``progress.json`` gives the phase, the depth and ``descend`` as the function
    filling the stack, its innermost frame first."""
    worker = _worker()
    release = threading.Event()
    reached = threading.Event()

    def descend(k: int) -> None:
        if k == 0:
            reached.set()
            release.wait(30)
            return
        descend(k - 1)

    worker._enter("the grad kernel (derivative)")
    thread = threading.Thread(target=descend, args=(299,))
    thread.start()
    try:
        assert reached.wait(30)
        timer = worker._watchdog(thread, tmp_path, 0.01, time.perf_counter())
        timer.join(30)
        summary = json.loads((tmp_path / "progress.json").read_text())
    finally:
        release.set()
        thread.join()
    assert summary["phase"] == "the grad kernel (derivative)"
    assert summary["frames"][0] == ["test_bench_peer052.py descend", 300]
    assert summary["depth"] >= 300
    assert summary["innermost"].startswith("threading.py wait (line ")  # release.wait at the bottom
    assert summary["elapsed_s"] >= 0.0
    # a finished build writes nothing
    (tmp_path / "progress.json").unlink()
    worker._watchdog(thread, tmp_path, 0.0, time.perf_counter()).join(30)
    assert not (tmp_path / "progress.json").exists()


def _fake_harness(tmp_path: pathlib.Path, outputs: list[float]) -> pathlib.Path:
    """An executable standing for a system's harness: writes ``outputs`` where the harness
    writes the kernel's outputs and prints three loop figures."""
    exe = tmp_path / "fake_harness"
    exe.write_text(
        f"#!{sys.executable}\n"
        "import struct, sys\n"
        f"vals = [float(v) for v in {[str(v) for v in outputs]!r}]\n"
        "open(sys.argv[3], 'wb').write(struct.pack('<%dd' % len(vals), *vals))\n"
        "print('NS 7.5 6.25 9.0')\n"
    )
    exe.chmod(0o755)
    return exe


def _probe_row(system: str, kernel: str, n: int = 10, problem: str = "rosenbrock") -> dict[str, Any]:
    return {
        "system": system,
        "problem": problem,
        "n": n,
        "kernel": kernel,
        "key": f"{problem}_{n}_{kernel}",
        "status": "ok",
        "input_sizes": [n] * (2 if kernel == "hvp" else 1),
        "meta": {},
    }


@pytest.mark.parametrize(
    ("corrupt", "status"),
    [
        (None, "ok"),
        ("nan", "wrong result (2 of 10 outputs not finite against the numpy reference): not timed"),
        ("off", "wrong result (max rel error 1.0e-03 against the numpy reference): not timed"),
        ("short", "wrong result (9 outputs, 10 expected against the numpy reference): not timed"),
    ],
)
def test_a_wrong_kernel_is_reported_not_timed(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, corrupt: str | None, status: str
) -> None:
    monkeypatch.setattr(run, "WORK", tmp_path)
    row = _probe_row("gradgen052", "grad")
    (tmp_path / "gradgen052" / row["key"]).mkdir(parents=True)
    blocks = reference.inputs("rosenbrock", 10, "grad")
    good = reference.reference("rosenbrock", 10, "grad", blocks)
    got = good.copy()
    if corrupt == "nan":
        got[[2, 7]] = np.nan
    elif corrupt == "off":
        got[3] += 1e-3 * np.abs(good).max()
    elif corrupt == "short":
        got = got[:9]
    ns = run.probe_case(_fake_harness(tmp_path, [float(v) for v in got]), "gradgen052", row)
    assert row["status"] == status
    if corrupt is None:
        assert ns == 6.25 and row["rel_err"] < 1e-15
    else:
        assert ns is None  # not handed on to the timing rounds


def test_peer_outputs_are_compared_with_ours(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``vs_ours``: the peer's outputs (sparse ones densified) against ours of the same row."""
    monkeypatch.setattr(run, "WORK", tmp_path)
    H = np.array([[4.0, -1.0, 0.0], [-1.0, 5.0, 2.0], [0.0, 2.0, 8.0]])

    def put(system: str, kernel: str, values: np.ndarray, meta: dict[str, Any]) -> dict[str, Any]:
        r = _probe_row(system, kernel, n=3)
        r.update(meta=meta, rel_err=0.0)
        d = tmp_path / system / r["key"]
        d.mkdir(parents=True)
        values.astype("<f8").tofile(d / "out.bin")
        return r

    rows_, cols_ = np.nonzero(H)
    csc = np.lexsort((rows_, cols_))  # column-major: CasADi's and our sparse order
    sparse = {
        "out_rows": [int(v) for v in rows_[csc]],
        "out_cols": [int(v) for v in cols_[csc]],
        "out_shape": [3, 3],
    }
    ours_sparse = put("ours", "hess", H[rows_[csc], cols_[csc]], sparse)
    ours_dense = put("ours", "hess_dense", H.reshape(-1), {})
    # CasADi's nonzeros in another order: the same matrix once densified
    perm = np.arange(len(csc))[::-1]
    other = {k: [sparse[k][i] for i in perm] if k != "out_shape" else sparse[k] for k in sparse}
    casadi = put("casadi", "hess", H[rows_[csc], cols_[csc]][perm], other)
    off = H.copy()
    off[2, 1] += 8e-3
    theirs = put("gradgen052", "hess_dense", off.reshape(-1), {})
    unprobed = _probe_row("gradgen052", "grad", n=3)  # no outputs (did not finish): no comparison
    nan = put("gradgen052", "f", np.array([np.nan]), {})
    put("ours", "f", np.array([1.0]), {})
    ours_f = _probe_row("ours", "f", n=3)
    ours_f.update(rel_err=0.0)
    run.compare_with_ours([ours_sparse, ours_dense, casadi, theirs, unprobed, nan, ours_f])
    assert casadi["vs_ours"] == 0.0
    assert theirs["vs_ours"] == pytest.approx(8e-3 / 8.0)
    assert "vs_ours" not in unprobed and "vs_ours" not in ours_sparse
    assert nan["vs_ours"] == float("inf")


def _report(rows: list[dict[str, Any]]) -> str:
    data = {
        "info": {"date": "today", "cpu": "cpu", "machine": "m", "quick": True, "total_s": 1.0},
        "rows": rows,
        "large": [],
        "floor": None,
        "fence": None,
    }
    return write_report(data)


def test_the_report_has_an_ours_over_gradgen052_table() -> None:
    def row(system: str, problem: str, n: int, kernel: str, **kw: Any) -> dict[str, Any]:
        r = {"system": system, "problem": problem, "n": n, "kernel": kernel, "key": f"{problem}_{n}_{kernel}"}
        r.update(status="ok")
        r.update(kw)
        return r

    stopped = run.did_not_finish(60, "generation")
    wrong = "wrong result (8 of 10 outputs not finite against the numpy reference): not timed"
    grad = {"build_s": 0.5, "compile_s": 0.8, "workspace": 98, "ops": 197, "vs_ours": 2e-16}
    rows = [
        row("ours", "rosenbrock", 10, "grad", ns=10.0, build_s=0.02, compile_s=0.4, workspace=0, ops=60),
        row("gradgen052", "rosenbrock", 10, "grad", ns=25.0, **grad),
        row("ours", "rosenbrock", 10, "hess_dense", ns=30.0, build_s=0.03, workspace=4, ops=100),
        row("gradgen052", "rosenbrock", 10, "hess_dense", ns=120.0, build_s=1.2, workspace=464, ops=769),
        row("ours", "rosenbrock", 10, "hvp", ns=12.0, build_s=0.03),
        row("gradgen052", "rosenbrock", 10, "hvp", build_s=0.5, vs_ours=float("inf"), status=wrong),
        row("ours", "pendulum", 20, "f", ns=400.0, build_s=0.05),
        row("gradgen052", "pendulum", 20, "f", status=stopped),
    ]
    for r in rows:
        if r.get("ns"):
            r.update(kernel_ns=r["ns"] - 3.0, harness_ns=3.0, ns_spread=2.0, iters=1000, rel_err=1e-16)
    md = _report(rows)
    table = md.split("## ours / gradgen 0.5.2", 1)[1].split("\n## ", 1)[0]
    assert (
        "| rosenbrock | 10 | grad | 10 / 25 | 0.4x | 20 / 500 | 0.04x | 0.40 / 0.80 | 0.5x | 0 / 98 "
        "| 60 / 197 | 2.0e-16 | ok |"
    ) in table
    assert "| rosenbrock | 10 | hess (dense) | 30 / 120 | 0.25x | 30 / 1.2e+03 | 0.025x |" in table
    assert "| rosenbrock | 10 | hvp | 12 / - | - | 30 / 500 | 0.06x |" in table
    assert (
        "| inf | wrong result (8 of 10 outputs not finite against the numpy reference): not timed |" in table
    )
    assert "| pendulum | 20 | f | 400 / - | - | 50 / - | - |" in table and f"| {stopped} |" in table
    assert "gradgen 0.5.2: 2 of 4 rows built, compiled and correct; 2 timed, 2 of them beside ours." in table
    # the main table keeps 0.5.2's Hessian beside our dense one, and the target check pairs them
    assert "| rosenbrock | 10 | hess (dense) | gradgen 0.5.2 |" in md
    assert "- kernel speed ours ≤ 1.0x gradgen 0.5.2: met on all 2" in md
    # without a gradgen 0.5.2 row, no such section
    assert "## ours / gradgen 0.5.2" not in _report([r for r in rows if r["system"] == "ours"])


PEER_PYTHON = run.PEERS / "gradgen052" / "bin" / "python"


@pytest.mark.cargo
@pytest.mark.skipif(
    os.environ.get("GRADGEN_BENCH_PEER052") != "1" or not PEER_PYTHON.exists(),
    reason="opt-in: GRADGEN_BENCH_PEER052=1 and the bench's gradgen 0.5.2 virtualenv (make bench creates it)",
)
def test_real_gradgen052_rows(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """gradgen 0.5.2 itself, through the bench's own steps: a Rosenbrock gradient and dense
    Hessian and the staged pendulum primal (its SingleShootingProblem) generated, compiled
    offline and run by the harness: the first two match the numpy references and are handed on
    to timing, the staged primal (its negation of an inlined sum printed ``-(a) + (b)``) is
    reported wrong; an unrolled pendulum does not finish in a short limit and says where it was."""
    from tests.cargo import cargo_env

    monkeypatch.setattr(run, "WORK", tmp_path / "work")  # not the bench's own build folders
    monkeypatch.setattr(run, "TARGET", tmp_path / "target")
    env = cargo_env()
    env["CARGO_TARGET_DIR"] = str(run.TARGET)
    args = argparse.Namespace(quick=True, timeout=60.0)
    rows = []
    for problem, n, kernel in (
        ("rosenbrock", 10, "grad"),
        ("rosenbrock", 10, "hess_dense"),
        ("pendulum_staged", 10, "f"),
    ):
        r = run.build_case("gradgen052", problem, n, kernel, args, True)
        assert r["status"] == "ok", r["status"]
        run.compile_case(r, env, 600)
        assert r["status"] == "ok", r["status"]
        rows.append(r)
    assert rows[1]["output_size"] == 100 and rows[2]["input_sizes"] == [2, 10, 2]
    exe = run.build_harness("gradgen052", rows, env)
    assert exe is not None, rows[0]["status"]
    for r in rows[:2]:
        assert run.probe_case(exe, "gradgen052", r) is not None, r["status"]
        assert r["rel_err"] < 1e-12
    assert run.probe_case(exe, "gradgen052", rows[2]) is None
    assert rows[2]["status"].startswith("wrong result (max rel error ")
    monkeypatch.setitem(run.PEER_MIN_TIMEOUT, "gradgen052", 10.0)
    slow = run.build_case(
        "gradgen052", "pendulum", 20, "f", argparse.Namespace(quick=True, timeout=10.0), True
    )
    assert slow["status"].startswith("did not finish in 10 s (generation): at ")


def test_a_problem_whose_expressions_do_not_finish_is_built_once(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``run.main`` with a fake build: gradgen 0.5.2 stopped while building the unrolled
    pendulum's expressions (where every kernel of the problem starts) is not asked for the other
    kernels and sizes: they are reported as not run, with the reason."""
    monkeypatch.setattr(run, "WORK", tmp_path / "work")
    monkeypatch.setattr(run, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(run, "PEERS", tmp_path / "peers")  # no CasADi virtualenv: no chart
    monkeypatch.setattr(run, "ensure_peer", lambda system: None)
    built: list[tuple[str, int, str]] = []
    stopped = "did not finish in 60 s (generation): at 53 s in building the expressions, 67 frames deep"

    def fake_build(system: str, problem: str, n: int, kernel: str, args: Any, full: bool) -> dict[str, Any]:
        built.append((problem, n, kernel))
        row = {
            "system": system,
            "problem": problem,
            "n": n,
            "kernel": kernel,
            "key": f"{problem}_{n}_{kernel}",
        }
        if problem == "pendulum":
            row.update(status=stopped, stuck_in=run.EXPRESSIONS_PHASE)
        else:  # another problem: a kernel stopped in its derivative stops only that kernel
            row.update(status="did not finish in 60 s (generation): at 53 s in the grad kernel (derivative)")
        return row

    monkeypatch.setattr(run, "build_case", fake_build)
    argv = [
        "--quick",
        "--systems",
        "gradgen052",
        "--problems",
        "pendulum,logsumexp",
        "--no-large",
        "--no-fence",
    ]
    assert run.main(argv) == 0
    lse = [("logsumexp", 20, k) for k in ("f", "grad", "hess_dense")]
    assert built == [*lse, ("pendulum", 20, "f")]
    rows = json.loads((tmp_path / "results" / "results.json").read_text())["rows"]
    status = {(r["problem"], r["kernel"]): r["status"] for r in rows}
    assert status[("pendulum", "f")] == stopped
    assert status[("pendulum", "grad")] == status[("pendulum", "hvp")] == f"not run: n=20 f: {stopped}"
    assert not (tmp_path / "results" / "build_time.png").exists()
    assert "## ours / gradgen 0.5.2" in (tmp_path / "results" / "results.md").read_text()


def test_the_worker_and_the_driver_name_the_expressions_phase_alike() -> None:
    assert _worker().EXPRESSIONS_PHASE == run.EXPRESSIONS_PHASE
