"""Build one benchmark kernel with one system, in that system's own interpreter.

Run as ``python worker.py JOB.json``. The job names the system (``ours``, ``gradgen052``,
``casadi``: CasADi's default build, ``cse=False``; ``casadi_cse``: with ``{"cse": True}``), the
problem, its size, the kernel and an output directory. The worker times
"symbols to source text" (median of up to ``reps`` repetitions; also without the construction of
the problem's expressions), writes the source (a Cargo
crate for the Rust systems, ``kernel.c`` for CasADi) and ``meta.json`` with the figures it
knows: build times, workspace length, input sizes in ABI order, output sparsity (CasADi's
Hessian and our sparse Hessian: shape and the (row, col) of each value) and the process's peak
resident memory. For ``ours`` it then builds the kernel once more with the stages timed apart
(``meta["stages"]``, see :func:`_ours_stages`).

The build runs in a thread of its own. A watchdog writes ``progress.json`` shortly before the
driver's time limit (``job["timeout_s"]``): the phase the build is in and a summary of the build
thread's stack (its depth, the functions that fill it), which is how a row that does not finish
is reported with its reason. gradgen 0.5.2 recurses over the tree expansion of an expression (its
interning, hashing and evaluation): its thread gets a 1 GiB stack and a recursion limit of 10^6,
so that its time, not Python's default recursion limit, decides whether a row finishes (its users
must raise the limit the same way for any but the smallest problems).

Kernels: ``f``, ``grad``, ``hvp``; ``hess`` is the Hessian as each system's users get it from the
sparse API when there is one: CasADi's ``hessian`` (its nonzeros, full symmetric pattern, CSC
order) and ours ``Function.sparse_hessian(0, triangle="full")`` (the same nonzeros in the same
order); gradgen 0.5.2 has only the dense row-major Hessian, its ``hess_dense``. ``hess_dense``
is the dense row-major ``Function.hessian(0)`` (ours and gradgen 0.5.2). ``jac`` (the shooting
defects) is the sparse Jacobian: CasADi's ``jacobian`` (its structural nonzeros, CSC order) and
ours ``Function.sparse_jacobian(0)``.
"""

from __future__ import annotations

import collections
import gc
import json
import os
import pathlib
import resource
import statistics
import sys
import threading
import time
import traceback
from typing import Any

import problems

CASADI = ("casadi", "casadi_cse", "casadi_loop")


class _OursAdapter:
    def __init__(self) -> None:
        import gradgen

        self.g = gradgen
        self.sin, self.exp, self.log = gradgen.sin, gradgen.exp, gradgen.log

    def vec(self, name: str, n: int) -> Any:
        return self.g.SXVector.sym(name, n)


class _CasadiAdapter:
    def __init__(self) -> None:
        import casadi

        self.ca = casadi
        self.sin, self.exp, self.log = casadi.sin, casadi.exp, casadi.log

    def vec(self, name: str, n: int) -> Any:
        v = self.ca.SX.sym(name, n)
        return [v[i] for i in range(n)]


#: seconds spent building the problem's expressions (``_build_problem``) since the last reset
_construction = [0.0]

#: what the build is doing (reported by the watchdog when a row does not finish)
_phase = ["import"]

#: the phase building the problem's expressions (``run.EXPRESSIONS_PHASE``)
EXPRESSIONS_PHASE = "building the expressions"

#: the stack and recursion limit of gradgen 0.5.2's build thread (see the module docstring)
DEEP_STACK_BYTES = 1 << 30
DEEP_RECURSION_LIMIT = 10**6


def _enter(phase: str) -> None:
    _phase[0] = phase


def stack_summary(thread_id: int, top: int = 4) -> dict[str, Any]:
    """Where thread ``thread_id`` is: the phase, its stack depth in frames, the innermost frame
    and the ``top`` functions (file name and function) with the most frames on the stack."""
    frame = sys._current_frames().get(thread_id)
    depth = 0
    counts: collections.Counter[str] = collections.Counter()
    innermost = ""
    while frame is not None:
        code = frame.f_code
        where = f"{os.path.basename(code.co_filename)} {code.co_name}"
        if depth == 0:
            innermost = f"{where} (line {frame.f_lineno})"
        counts[where] += 1
        depth += 1
        frame = frame.f_back
    return {
        "phase": _phase[0],
        "depth": depth,
        "innermost": innermost,
        "frames": [[where, n] for where, n in counts.most_common(top)],
    }


def _watchdog(thread: threading.Thread, out: pathlib.Path, after_s: float, t0: float) -> threading.Timer:
    """A timer writing ``progress.json`` (:func:`stack_summary` of ``thread``) after ``after_s``."""

    def report() -> None:
        if thread.ident is None or not thread.is_alive():
            return
        summary = stack_summary(thread.ident)
        summary["elapsed_s"] = time.perf_counter() - t0
        (out / "progress.json").write_text(json.dumps(summary))

    timer = threading.Timer(after_s, report)
    timer.daemon = True
    timer.start()
    return timer


def _build_problem(M: Any, problem: str, size: int) -> tuple[list[Any], Any]:
    _enter(EXPRESSIONS_PHASE)
    t0 = time.perf_counter()
    build = problems.large_primal if problem == "large" else problems.PROBLEMS[problem]
    built = build(M, size)
    _construction[0] += time.perf_counter() - t0
    return built


def _gradgen_function(M: Any, job: dict[str, Any]) -> Any:
    """Problem -> Function -> kernel Function (same calls for ours and gradgen 0.5.2)."""
    inputs, expr = _build_problem(M, job["problem"], job["size"])
    _enter("Function(...)")
    f = M.g.Function(
        "bench", inputs, [expr], input_names=[f"in{k}" for k in range(len(inputs))], output_names=["y"]
    )
    _enter(f"the {job['kernel']} kernel (derivative)")
    return _derive(f, job["kernel"], job["system"])


def _derive(f: Any, kernel: str, system: str) -> Any:
    """The kernel Function (ours: a sparse result for ``hess``/``jac``) of ``kernel`` of ``f``."""
    if kernel == "f":
        return f
    if kernel == "grad":
        return f.gradient(0)
    if kernel == "hess" and system == "ours":
        return f.sparse_hessian(0, triangle="full")
    if kernel == "jac" and system == "ours":
        return f.sparse_jacobian(0)
    if kernel in ("hess", "hess_dense"):
        return f.hessian(0)
    if kernel == "hvp":
        return f.hvp(0)
    raise ValueError(f"unknown kernel {kernel!r}")


def _ours_config(M: Any, job: dict[str, Any]) -> Any:
    from gradgen import RustBackendConfig

    cfg = RustBackendConfig().with_function_name(job["function_name"])
    level = job.get("level")
    if level is not None and hasattr(cfg, "with_simplification"):
        cfg = cfg.with_simplification(level)
    return cfg


def _ours_staged(M: Any, job: dict[str, Any]) -> Any:
    """The staged kernel (``SingleShootingProblem``) of ``job``: a loop in Rust."""
    _enter("building the stage functions")
    t0 = time.perf_counter()
    functions = problems.pendulum_stage_functions(M)
    _construction[0] += time.perf_counter() - t0
    _enter(f"the staged {job['kernel']} kernel")
    return problems.pendulum_staged_ours(M, job["size"], job["kernel"], functions)


def _build_rust(system: str, M: Any, job: dict[str, Any]) -> tuple[str, Any, Any]:
    if job["problem"] in problems.STAGED:
        staged = _ours_staged(M, job)
        _enter("generate_rust")
        if system == "ours":
            result = staged.generate_rust(_ours_config(M, job))
        else:  # gradgen 0.5.2: keyword-only options
            result = staged.generate_rust(function_name=job["function_name"])
        return result.source, result, staged
    f = _gradgen_function(M, job)
    _enter("generate_rust")
    if hasattr(f, "pattern"):  # our sparse Hessian or Jacobian: the kernel is its Function
        result = f.function.generate_rust(config=_ours_config(M, job))
        return result.source, result, f
    if system == "ours":
        result = f.generate_rust(config=_ours_config(M, job))
    else:
        result = f.generate_rust(function_name=job["function_name"])
    return result.source, result, f


def _casadi_loop_cost(M: Any, n: int) -> tuple[list[Any], Any]:
    """CasADi's loop version of a staged problem: one SX stage function ``(x, cost), u, p ->
    (x_next, cost + ell)`` whose ``mapaccum`` over ``n`` stages carries the state and the running
    cost; the MX total cost adds the terminal cost to the last accumulator."""
    ca = M.ca
    t0 = time.perf_counter()
    x, u, p, c = ca.SX.sym("x", 2), ca.SX.sym("u"), ca.SX.sym("p", 2), ca.SX.sym("c")
    nxt, ell = problems.pendulum_stage(M, [x[0], x[1]], u, [p[0], p[1]])
    step = ca.Function("stage", [ca.vertcat(x, c), u, p], [ca.vertcat(*nxt, c + ell)])
    _construction[0] += time.perf_counter() - t0
    roll = step.mapaccum("rollout", n)
    x0, us, ps = ca.MX.sym("x0", 2), ca.MX.sym("u", n), ca.MX.sym("p", 2)
    acc = roll(ca.vertcat(x0, 0), ca.reshape(us, 1, n), ca.repmat(ps, 1, n))
    last = acc[:, n - 1]
    return [x0, us, ps], last[2] + problems.pendulum_terminal([last[0], last[1]])


def _casadi_function(M: Any, job: dict[str, Any]) -> Any:
    ca = M.ca
    if job["system"] == "casadi_loop":
        blocks, expr = _casadi_loop_cost(M, job["size"])
    else:
        inputs, expr = _build_problem(M, job["problem"], job["size"])
        blocks = [ca.vertcat(*b) for b in inputs]
    wrt = blocks[problems.WRT.get(job["problem"], 0)]
    kernel = job["kernel"]
    if kernel == "f":
        outs, ins = [expr], blocks
    elif kernel == "grad":
        outs, ins = [ca.gradient(expr, wrt)], blocks
    elif kernel == "hess":
        H, _ = ca.hessian(expr, wrt)
        outs, ins = [H], blocks
    elif kernel == "jac":
        outs, ins = [ca.jacobian(ca.vertcat(*expr), wrt)], blocks
    elif kernel == "hvp":
        v = type(wrt).sym("v", wrt.numel())
        outs, ins = [ca.jtimes(ca.gradient(expr, wrt), wrt, v)], [*blocks, v]
    else:
        raise ValueError(f"unknown kernel {kernel!r}")
    if job["system"] == "casadi_loop":  # an MX function: its loops are generated as C loops
        return ca.Function(job["function_name"], ins, outs)
    return ca.Function(job["function_name"], ins, outs, {"cse": job["system"] == "casadi_cse"})


def _build_casadi(M: Any, job: dict[str, Any]) -> tuple[str, Any, Any]:
    fun = _casadi_function(M, job)
    cg = M.ca.CodeGenerator(f"g_{job['function_name']}", {"with_header": False})
    cg.add(fun)
    return cg.dump(), None, fun


def _ours_stages(M: Any, job: dict[str, Any]) -> tuple[dict[str, float], dict[str, int]]:
    """One more build of ``job`` with every stage timed apart (seconds), and the instruction
    counts of the primal kernel and of the kernel handed to code generation.

    ``problem`` (the SX expressions), ``lowering`` (``Function(...)``), one entry per pass (from
    the pass managers' events, via ``observe_passes``; ``autodiff`` is the derivative pass),
    ``verify`` (the managers' IR verification), ``round trip`` (what ``f.gradient()`` & co.
    spend outside their passes: turning the derivative kernel back into SX and lowering it
    again), ``rust printing`` (what ``generate_rust`` spends outside its passes) and ``total``.
    """
    from gradgen.passes.manager import PassEvent, observe_passes

    stages: dict[str, float] = {}
    in_passes = [0.0]

    def on_pass(event: PassEvent) -> None:
        name = "simplify" if event.name.startswith("simplify") else event.name
        stages[name] = stages.get(name, 0.0) + event.seconds
        stages["verify"] = stages.get("verify", 0.0) + event.verify_seconds
        in_passes[0] += event.seconds + event.verify_seconds

    def timed(stage: str, fn: Any, *args: Any) -> Any:
        in_passes[0] = 0.0
        t0 = time.perf_counter()
        value = fn(*args)
        stages[stage] = stages.get(stage, 0.0) + time.perf_counter() - t0 - in_passes[0]
        in_passes[0] = 0.0
        return value

    gc.collect()
    t_start = time.perf_counter()
    if job["problem"] in problems.STAGED:
        # problem: the stage Functions; round trip: the staged kernel (its stage kernels and
        # their derivatives); rust printing: generate_rust of the module
        with observe_passes(on_pass):
            functions = timed("problem", problems.pendulum_stage_functions, M)
            staged = timed(
                "round trip", problems.pendulum_staged_ours, M, job["size"], job["kernel"], functions
            )
            timed("rust printing", staged.generate_rust, _ours_config(M, job))
        stages["total"] = time.perf_counter() - t_start
        ops = _module_ops(staged.kernel)
        return stages, {"primal": ops, "generated": ops}
    with observe_passes(on_pass):
        inputs, expr = timed("problem", _build_problem, M, job["problem"], job["size"])
        f = timed(
            "lowering",
            lambda: M.g.Function(
                "bench",
                inputs,
                [expr],
                input_names=[f"in{k}" for k in range(len(inputs))],
                output_names=["y"],
            ),
        )
        derived = timed("round trip", _derive, f, job["kernel"], "ours")
        g = getattr(derived, "function", derived)  # a sparse result holds its Function
        timed("rust printing", g.generate_rust, _ours_config(M, job))
    stages["total"] = time.perf_counter() - t_start
    return stages, {"primal": f.kernel.op_count(), "generated": g.kernel.op_count()}


def _module_ops(kernel: Any) -> int:
    """Instructions of a staged kernel's module: every kernel it calls, once."""
    from gradgen.ir.staged import module_of

    return sum(k.op_count() for k in module_of([kernel]))


def _build(job: dict[str, Any], out: pathlib.Path, meta: dict[str, Any]) -> None:
    """Build ``job`` into ``out``, filling ``meta`` (``meta["ok"]`` last)."""
    try:
        system = job["system"]
        t0 = time.perf_counter()
        M = {
            "ours": _OursAdapter,
            "gradgen052": _OursAdapter,  # same API (import name `gradgen`)
            "casadi": _CasadiAdapter,
            "casadi_cse": _CasadiAdapter,
            "casadi_loop": _CasadiAdapter,
        }[system]()
        meta["import_s"] = time.perf_counter() - t0
        meta["rss_after_import_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        times: list[float] = []
        construction: list[float] = []
        for rep in range(job["reps"]):
            gc.collect()
            _construction[0] = 0.0
            t0 = time.perf_counter()
            if system in CASADI:
                source, result, fun = _build_casadi(M, job)
            else:
                source, result, fun = _build_rust(system, M, job)
            times.append(time.perf_counter() - t0)
            construction.append(_construction[0])
            if rep + 1 < job["reps"]:
                if times[-1] > job.get("single_rep_above_s", 20.0):
                    break
                del source, result, fun
        meta["build_times_s"] = times
        meta["build_s"] = statistics.median(times)
        # the build without building the problem's expressions (the same Python arithmetic for
        # every system, whose cost is a property of each system's Python binding)
        meta["problem_s"] = statistics.median(construction)
        meta["build_core_s"] = statistics.median(t - c for t, c in zip(times, construction, strict=True))
        meta["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        meta["source_bytes"] = len(source)
        if system in CASADI:
            (out / "kernel.c").write_text(source)
            meta["workspace"] = int(fun.sz_w())
            meta["iw"] = int(fun.sz_iw())
            # an MX function uses the argument and result arrays past its own ports as scratch
            meta["sz_arg"], meta["sz_res"] = int(fun.sz_arg()), int(fun.sz_res())
            meta["input_sizes"] = [int(fun.nnz_in(i)) for i in range(fun.n_in())]
            sp = fun.sparsity_out(0)
            rows, cols = sp.get_triplet()
            meta["out_shape"] = [int(sp.size1()), int(sp.size2())]
            meta["out_rows"] = [int(r) for r in rows]
            meta["out_cols"] = [int(c) for c in cols]
            meta["output_size"] = int(sp.nnz())
        else:
            if hasattr(fun, "pattern"):  # our sparse Hessian or Jacobian
                meta["out_shape"] = list(fun.shape)
                meta["out_rows"] = list(fun.rows)
                meta["out_cols"] = list(fun.cols)
                if hasattr(fun, "sweeps"):  # our sparse Jacobian: the compressed sweeps it uses
                    meta["sweeps"] = fun.sweeps.describe()
                fun = fun.function
            meta["workspace"] = int(result.workspace_size)
            meta["input_sizes"] = [int(s) for s in fun.input_sizes] if hasattr(fun, "input_sizes") else None
            if meta["input_sizes"] is None or system == "gradgen052":
                meta["input_sizes"] = [int(s) for s in result.input_sizes]
            meta["output_size"] = int(sum(result.output_sizes))
            (out / "kernel.rs").write_text(source)
            if system == "ours" and job.get("opt_in_level"):  # the operation-count target's level
                opt_in = _ours_config(M, {**job, "level": job["opt_in_level"]})
                (out / "kernel_opt_in.rs").write_text(fun.generate_rust(config=opt_in).source)
            if job.get("write_crate", True):
                crate = out / "crate"
                t0 = time.perf_counter()
                if system == "ours":
                    import gradgen

                    staged = job["problem"] in problems.STAGED
                    gradgen.create_rust_project(
                        fun.function if staged else fun,
                        str(crate),
                        crate_name=job["crate_name"],
                        function_name=job["function_name"],
                        config=_ours_config(M, job),
                    )
                else:
                    # gradgen 0.5.2's create_rust_project generates the source a second time
                    # (as slow as the build itself); its crate is this Cargo.toml plus the source.
                    (crate / "src").mkdir(parents=True, exist_ok=True)
                    (crate / "Cargo.toml").write_text(
                        f'[package]\nname = "{job["crate_name"]}"\nversion = "0.1.0"\nedition = "2021"\n\n'
                        '[lib]\npath = "src/lib.rs"\n'
                    )
                    (crate / "src" / "lib.rs").write_text(source)
                meta["write_crate_s"] = time.perf_counter() - t0
                meta["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if system == "ours":
            del source, result, fun
            gc.collect()
            meta["stages"], meta["stage_ops"] = _ours_stages(M, job)
        meta["ok"] = True
    except BaseException as exc:  # noqa: BLE001 - any failure is reported in the table, never hidden
        meta["error"] = f"{type(exc).__name__}: {exc}"[:400]
        meta["traceback"] = traceback.format_exc()[-3000:]


def main() -> int:
    job = json.loads(pathlib.Path(sys.argv[1]).read_text())
    out = pathlib.Path(job["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"ok": False}
    t0 = time.perf_counter()
    if job["system"] == "gradgen052":
        threading.stack_size(DEEP_STACK_BYTES)
        sys.setrecursionlimit(DEEP_RECURSION_LIMIT)
        meta["recursion_limit"] = DEEP_RECURSION_LIMIT
    thread = threading.Thread(target=_build, args=(job, out, meta), name="build")
    thread.start()
    limit = job.get("timeout_s")
    # shortly before the driver's limit: time enough to write the summary before the kill
    timer = _watchdog(thread, out, max(0.5, 0.9 * limit - 1.0), t0) if limit else None
    thread.join()
    if timer is not None:
        timer.cancel()
    (out / "meta.json").write_text(json.dumps(meta))
    return 0 if meta["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
