"""The pure-Python floor of one pass: what the least a pass must do costs per instruction.

Run as ``python -m tests.benchmarks.floor [n]`` (``make bench`` runs it on its own): on the
rosenbrock(n) gradient kernel, ready for printing, it times (wall time, best of 5, like the stages)

* ``visit``: a loop over the instructions that reads each one (``for op, a in zip(...)``), the
  least any pass does;
* ``intern``: each instruction hashed into a dict and appended to three lists, the least a pass
  that builds a kernel does (a hash-consing builder);
* ``renumber``: the kernel renumbered through a permutation, the least a reordering does;
* ``format``: one f-string line per statement, the least a printer does;

beside the real cost of every pass of the same build (``worker._ours_stages``), so the report
can say how far each pass is from the floor of an interpreter that runs it node by node.
"""

from __future__ import annotations

import gc
import pathlib
import sys
import time
from collections.abc import Callable
from typing import Any


def _best(fn: Callable[[], Any], reps: int = 5) -> float:
    best = float("inf")
    for _ in range(reps):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(n: int = 10_000) -> dict[str, Any]:
    """Floor and pass costs in µs per instruction of the rosenbrock(n) gradient kernel."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    import worker

    from gradgen import RustBackendConfig

    M = worker._OursAdapter()
    job = {"system": "ours", "problem": "rosenbrock", "size": n, "kernel": "grad", "function_name": "k"}
    job["level"] = "medium"
    runs = [worker._ours_stages(M, job) for _ in range(5)]
    stages = {k: min(r[0].get(k, 0.0) for r in runs) for k in runs[0][0]}
    inputs, expr = worker._build_problem(M, "rosenbrock", n)
    f = M.g.Function("bench", inputs, [expr], input_names=["in0"], output_names=["y"])
    config = RustBackendConfig().with_function_name("k").with_simplification("medium")
    kernel = f.gradient(0).generate_rust(config=config).kernel
    ops, args, attrs_ = kernel.ops, kernel.args, kernel.attrs
    size = len(ops)

    def visit() -> None:
        count = 0
        for _op, a in zip(ops, args, strict=True):
            if a:
                count += 1

    def intern() -> None:
        table: dict[Any, int] = {}
        o: list[Any] = []
        g: list[Any] = []
        t: list[Any] = []
        for op, a, at in zip(ops, args, attrs_, strict=True):
            key = (op, a) if at is None else (op, a, at)
            if key not in table:
                table[key] = len(o)
                o.append(op)
                g.append(a)
                t.append(at)

    order = list(range(size))

    def renumber() -> None:
        remap = [0] * size
        for new, old in enumerate(order):
            remap[old] = new
        at = remap.__getitem__
        [tuple(map(at, args[v])) for v in order]

    def format_lines() -> None:
        lines = []
        for v, a in enumerate(args):
            if len(a) == 2:
                lines.append(f"    let w{v} = w{a[0]} * w{a[1]};")

    floor = {
        name: _best(fn) * 1e6 / size
        for name, fn in (
            ("visit", visit),
            ("intern", intern),
            ("renumber", renumber),
            ("format", format_lines),
        )
    }
    per_op = {k: v * 1e6 / size for k, v in stages.items()}
    return {"n": n, "instructions": size, "floor_us": floor, "stages_us": per_op}


if __name__ == "__main__":
    import json

    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000), indent=1))
