"""The scheduling-fence study: how the layout of long kernels changes their speed.

Usage: ``python -m tests.benchmarks.fence [--quick]`` (every layout; ``make bench`` runs it with
the layouts of :data:`BENCH_LAYOUTS`, and its table is the "Scheduling fence" section of
``results.md``).

Every problem of :data:`STUDY` (bench problems and random programs of 10^3 to 10^5 operations,
primal and derivative kernels of different shapes) is generated once per layout of
:data:`VARIANTS`:

* ``fence K``: one function per 1000 statements (the allocator's default chunking) with
  ``core::sync::atomic::compiler_fence`` every ``K`` statements (the printer's layout is
  ``K = backends.rust.FENCE_EVERY``, chosen from this study, but see ``32, scalar none``);
* ``no fence``: the same without fences;
* ``chunks of K``: no fence, and the kernel split into ``#[inline(never)]`` functions of ``K``
  statements, values crossing a boundary going through the workspace (``max_chunk=K``).
* ``32, calls reset`` / ``32, clear 8`` / ``32, scalar none``: fences every 32 statements placed
  around the math calls (libm calls in the optimized build): the count restarts after a call;
  no fence within 8 statements before a call; no fence at all in a kernel with a single scalar
  output that makes a math call (see :class:`Layout`; the last is the printer's rule, so
  ``fence 32`` is the printer's layout before it).
* ``32, reused stores`` / ``32, dense stores``: ``32, scalar none`` plus a fence after the
  output stores of a value a later statement reads, in a function with at least one such value
  per 32 statements / after every statement with output stores in a function with at least one
  store per four statements (SLP vectorization packs adjacent
  output stores: see ``KERNEL_SPEED.md``);
* ``32, chunks of 10000``: ``32, scalar none`` in functions of up to 10,000 statements;
* ``32 if deep, reused stores``: ``32, reused stores`` without the fence every 32 statements in
  a wide kernel with few output stores (``backends.rust.periodic_fences``): the printer's
  layout (:data:`PRINTER`).

``--variants`` times only the layouts named (separated by ``;``), ``--bench-kernels`` adds every
bench kernel of rosenbrock, logsumexp and pendulum at sizes 10, 20 and 100.

The fences are inserted into (or removed from) the generated text here, so the study measures
every layout whatever the printer's own choice is. Each layout's kernels form one crate; one
harness (``harness.py``: calls through an opaque function pointer) times every (problem,
layout) pair, interleaving the layouts in rounds so that drift of a shared machine hits all
of them alike; the figure is the fastest of all loops (the machine's fast mode: see
``rounds.py``; the medians are in the JSON output too). Every layout's outputs are checked
bit for bit against each other and against an independent Python evaluation.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import gradgen
from gradgen.ir.ops import OP_INFO, Op
from tests.cargo import cargo_env
from tests.random_programs import DOMAIN_WRAPPERS, Program, RandomDraw, _Builder, chain_program

from . import problems, reference
from .harness import HARNESS_SUFFIX, Case, rust_harness
from .report import fence_table
from .run import TARGET, WORK, run_measured

FENCE = "core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);"


@dataclass(frozen=True)
class Layout:
    """One layout of the study: a fence every ``fence`` statements (``None``: no fence) in
    functions of at most ``chunk`` statements; ``calls`` says how a math call (a libm call
    in the optimized build) bears on the placement: ``"ignored"`` (the statements are
    counted as any other), ``"reset"`` (the count restarts after a statement with a call),
    ``"clear K"`` (no fence within K statements before a call), ``"scalar"`` (no fence at all
    in a kernel with a single scalar output that makes a math call: the printer's rule,
    ``backends.rust.fenced``). ``stores`` adds fences by the output stores: ``"reused"`` (a
    fence after the stores of a value a later statement reads, in a function with at least one
    such value per ``fence`` statements), ``"dense"`` (in a function
    with at least one output store per four statements, a fence after every run of stores)."""

    fence: int | None
    chunk: int = 1000
    calls: str = "ignored"
    stores: str = "ignored"
    #: ``"always"``, or ``"deep"``: the fence every ``fence`` statements only where the printer
    #: puts one (``backends.rust.periodic_fences``: not in a wide kernel with few stores)
    periodic: str = "always"


#: layout name -> layout
VARIANTS: dict[str, Layout] = {
    "fence 16": Layout(16),
    "fence 32": Layout(32),
    "fence 64": Layout(64),
    "fence 128": Layout(128),
    "no fence": Layout(None),
    "chunks of 64": Layout(None, 64),
    "chunks of 256": Layout(None, 256),
    "32, calls reset": Layout(32, calls="reset"),
    "32, clear 8": Layout(32, calls="clear 8"),
    "32, scalar none": Layout(32, calls="scalar"),
    "32, reused stores": Layout(32, calls="scalar", stores="reused"),
    "32, dense stores": Layout(32, calls="scalar", stores="dense"),
    "32, chunks of 10000": Layout(32, 10_000, calls="scalar"),
    "32 if deep, reused stores": Layout(32, calls="scalar", stores="reused", periodic="deep"),
}
#: the printer's layout (``tests/test_fence.py`` checks that the study reproduces its text)
PRINTER = "32 if deep, reused stores"
#: the layouts ``make bench`` times: the printer's, the baseline and the alternatives to it
BENCH_LAYOUTS = (PRINTER, "32, reused stores", "no fence", "fence 64", "chunks of 256")
#: the study's harness binary (apart from the main bench's ``bench_harness``)
HARNESS = "fence_harness"
#: timed loops per (problem, layout) and round
LOOPS = 60
#: the layout every other one is compared with in the table
BASELINE = "fence 32"


#: the operations of the study's random programs: mostly arithmetic, some math calls (weights)
_RANDOM_OPS: tuple[tuple[Op, int], ...] = (
    (Op.ADD, 6),
    (Op.SUB, 4),
    (Op.MUL, 6),
    (Op.DIV, 2),
    (Op.SIN, 1),
    (Op.COS, 1),
    (Op.EXP, 1),
    (Op.TANH, 1),
    (Op.SQRT, 1),
    (Op.LOG, 1),
)


def random_program(seed: int, n_inputs: int, nodes: int, recency: float) -> Program:
    """A random smooth program of ``nodes`` operations (plus the domain wrappers of
    ``tests.random_programs``) over ``n_inputs`` inputs: every operand is an earlier input or
    computed value (one of the last three with probability ``recency``: deep; else any:
    shared), a constant second operand with probability 0.2."""
    rng = random.Random(seed)
    b = _Builder(n_inputs)
    values = list(range(n_inputs))
    ops = [op for op, w in _RANDOM_OPS for _ in range(w)]
    for _ in range(nodes):
        op = rng.choice(ops)
        args = []
        for _k in range(OP_INFO[op].arity):
            if args and rng.random() < 0.2:
                args.append(b.const(round(rng.uniform(-2.0, 2.0), 3)))
            elif rng.random() < recency:
                args.append(values[-1 - rng.randrange(min(3, len(values)))])
            else:
                args.append(rng.choice(values))
        wrap = DOMAIN_WRAPPERS[op]
        if wrap is not None:
            args = wrap(b, args)
        values.append(b.add(op, args))
    return Program(n_inputs, tuple(b.nodes), (values[-1],), "general", True)


@dataclass
class Problem:
    label: str
    function: Any  # gradgen Function
    inputs: list[np.ndarray]
    reference: list[float] = field(default_factory=list)


class _Math:
    """The math adapter of :mod:`problems` for gradgen (as ``worker.py``'s)."""

    sin, exp, log = staticmethod(gradgen.sin), staticmethod(gradgen.exp), staticmethod(gradgen.log)

    def vec(self, name: str, n: int) -> Any:
        return gradgen.SXVector.sym(name, n)


#: kernel -> the Function the bench times for it (sparse results: their Function)
_DERIVE: dict[str, Callable[[Any], Any]] = {
    "f": lambda f: f,
    "grad": lambda f: f.gradient(0),
    "hvp": lambda f: f.hvp(0),
    "hess": lambda f: f.sparse_hessian(0, triangle="full").function,
    "hess_dense": lambda f: f.hessian(0),
    "jac": lambda f: f.sparse_jacobian(0).function,
}


def _bench_problem(problem: str, n: int, kernel: str) -> Callable[[], Problem]:
    def build() -> Problem:
        ins, expr = problems.PROBLEMS[problem](_Math(), n)
        f = gradgen.Function("bench", ins, [gradgen.SXVector(expr) if isinstance(expr, list) else expr])
        g = _DERIVE[kernel](f)
        blocks = reference.inputs(problem, n, kernel)
        return Problem(f"{problem}({n}) {kernel}", g, blocks)

    return build


def _random_problem(shape: str, nodes: int, kernel: str, seed: int) -> Callable[[], Problem]:
    def build() -> Problem:
        if shape == "general":
            prog: Program = random_program(seed, 50, nodes, 0.5)
        else:
            prog = chain_program(RandomDraw(seed), min_steps=nodes // 3, max_steps=nodes // 3)
        # every value no other one reads is an output (their sum for a gradient), so the whole
        # program is live
        read = {a for _, args, _ in prog.nodes for a in args}
        computed = (prog.n_inputs + k for k, (name, _, _) in enumerate(prog.nodes) if name != "const")
        sinks = [v for v in computed if v not in read]
        x = gradgen.SXVector.sym("x", prog.n_inputs)
        values = _values(prog, list(x))
        outs = [values[v] for v in sinks]
        if kernel == "grad":
            total = outs[0]
            for o in outs[1:]:
                total = total + o
            f = gradgen.Function("r", [x], [total]).gradient(0)
        else:
            f = gradgen.Function("r", [x], [gradgen.SXVector(outs)])
        rng = random.Random(seed)
        point = np.array([rng.uniform(-1.0, 1.0) for _ in range(prog.n_inputs)])
        return Problem(f"random {shape} {kernel} ({len(sinks)} outputs)", f, [point])

    return build


def _values(prog: Program, symbols: list[Any]) -> list[Any]:
    """Every value of ``prog`` as SX over ``symbols`` (inputs first, then one per node)."""
    from gradgen.ir.expr import SX
    from gradgen.ir.ops import OP_BY_NAME, Op

    vals: list[Any] = list(symbols)
    for name, args, attr in prog.nodes:
        op = OP_BY_NAME[name]
        if op is Op.CONST:
            vals.append(SX.const(float(attr)))
        else:
            vals.append(SX.make(op, tuple(vals[a] for a in args), attr))
    return vals


#: (builder) of every problem of the study, in table order
STUDY: list[Callable[[], Problem]] = [
    _bench_problem("rosenbrock", 100, "hess"),
    _bench_problem("rosenbrock", 30, "hess_dense"),
    _bench_problem("rosenbrock", 1000, "grad"),
    _bench_problem("rosenbrock", 1000, "hvp"),
    _bench_problem("logsumexp", 20, "grad"),
    _bench_problem("logsumexp", 20, "hess"),
    _bench_problem("pendulum", 100, "grad"),
    _bench_problem("pendulum", 100, "hvp"),
    _bench_problem("shooting", 100, "jac"),
    _random_problem("general", 1_000, "f", 1),
    _random_problem("general", 10_000, "f", 2),
    _random_problem("general", 60_000, "f", 3),
    _random_problem("chain", 3_000, "grad", 4),
    _random_problem("general", 2_000, "grad", 5),
]
QUICK = [0, 2, 6, 10, 12]
#: ``--bench-kernels``: every bench kernel of these problems at these sizes, after :data:`STUDY`
BENCH_PROBLEMS = ("rosenbrock", "logsumexp", "pendulum")
BENCH_SIZES = (10, 20, 100)


def bench_kernels() -> list[Callable[[], Problem]]:
    """The builders of every bench kernel of :data:`BENCH_PROBLEMS` at :data:`BENCH_SIZES`."""
    return [
        _bench_problem(problem, n, kernel)
        for problem in BENCH_PROBLEMS
        for n in BENCH_SIZES
        for kernel in (
            *problems.KERNELS[problem],
            *(["hess_dense"] if "hess" in problems.KERNELS[problem] else []),
        )
    ]


#: a statement that calls libm in the optimized build (``std`` method or ``no_std`` function)
_CALL = re.compile(
    r"\.(?:exp|exp_m1|ln|ln_1p|log2|log10|sin|cos|tan|sin_cos|asin|acos|atan|atan2|sinh|cosh|tanh"
    r"|asinh|acosh|atanh|powf|cbrt|hypot)\(|libm::"
)
_FN = re.compile(r"(?:pub )?fn (\w+)")


_LET = re.compile(r"    let (\w+)(?::\s*\w+)? = ")
_STORE = re.compile(r"    (\w+)\[\d+\] = (\w+);$")
_WORD = re.compile(r"\b\w+\b")
_WORK = frozenset({"work", "_work"})


def with_fences(
    source: str,
    every: int | None,
    calls: str = "ignored",
    no_fence: tuple[str, ...] = (),
    stores: str = "ignored",
    wide: tuple[str, ...] = (),
) -> str:
    """``source`` with fences placed by the rule of a :class:`Layout` in each function body (the
    statements are the ``let`` lines at the body's indentation; a deeper line continues the
    statement above it), or with none; functions whose name starts with one of ``no_fence``
    (a kernel and its chunk functions) get none."""
    lines = [line for line in source.splitlines() if line.strip() != FENCE]
    # per function: its statements as [first line, calls libm, local, words read, output stores]
    functions: list[tuple[str, list[list[Any]]]] = []
    for i, line in enumerate(lines):
        m = _FN.match(line)
        if m:
            functions.append((m.group(1), []))
            continue
        if not functions:
            continue
        stmts = functions[-1][1]
        let = _LET.match(line)
        if let:
            rhs = line[let.end() :]
            stmts.append([i, bool(_CALL.search(line)), let.group(1), set(_WORD.findall(rhs)), 0])
        elif stmts and line.startswith("        "):
            stmts[-1][1] = stmts[-1][1] or bool(_CALL.search(line))
            stmts[-1][3].update(_WORD.findall(line))
        elif stmts:
            store = _STORE.match(line)
            if store and store.group(1) not in _WORK and store.group(2) == stmts[-1][2]:
                stmts[-1][4] += 1
    before: set[int] = set()
    clear = int(calls.split()[1]) if calls.startswith("clear") else 0
    for name, stmts in functions:
        if every is None or any(name == k or name.startswith(k + "_chunk") for k in no_fence):
            continue
        # after[j]: a fence after statement j's output stores
        after = [False] * len(stmts)
        if stores == "reused":
            live: set[str] = set()
            for j in range(len(stmts) - 1, -1, -1):
                _, _, local, reads, n_stores = stmts[j]
                after[j] = n_stores > 0 and local in live
                live.discard(local)
                live |= reads
            if every * sum(after) < len(stmts):  # fewer than one per ``every`` statements: none
                after = [False] * len(stmts)
        elif stores == "dense" and 4 * sum(s[4] for s in stmts) >= len(stmts):
            after = [s[4] > 0 for s in stmts]
        count = 0
        periodic = not any(name == k or name.startswith(k + "_chunk") for k in wide)
        for j, (line_no, has_call, *_rest) in enumerate(stmts):
            if not periodic:
                if j and after[j - 1]:
                    before.add(line_no)
                continue
            if (j and after[j - 1]) or (count >= every and not any(c for _, c, *_r in stmts[j : j + clear])):
                if j:
                    before.add(line_no)
                count = 0
            count += 1
            if has_call and calls == "reset":
                count = 0
    out: list[str] = []
    for i, line in enumerate(lines):
        if i in before:
            out.append("    " + FENCE)
        out.append(line)
    return "\n".join(out) + "\n"


def _module(problems_: list[Problem], layout: Layout) -> tuple[str, list[int]]:
    """The Rust module of every problem's kernel in one layout, and each kernel's workspace."""
    from gradgen import RustBackendConfig
    from gradgen.backends.rust import fenced, wide
    from gradgen.backends.rust_module import emit_module
    from gradgen.pipeline import compile_kernel

    cfg = RustBackendConfig()
    names = [f"k{i}" for i in range(len(problems_))]
    kernels = []
    for i, p in enumerate(problems_):
        others = [n for n in names if n != names[i]]
        kernels.append(compile_kernel(p.function.kernel, cfg, names[i], others, max_chunk=layout.chunk))
    work = [k.allocation.workspace_size for k in kernels]
    unfenced = layout.calls == "scalar"
    scalar = tuple(names[i] for i, p in enumerate(problems_) if unfenced and not fenced(p.function.kernel))
    calls = "ignored" if layout.calls == "scalar" else layout.calls
    unperiodic: tuple[str, ...] = ()
    if layout.periodic == "deep":
        unperiodic = tuple(n for n, k in zip(names, kernels, strict=True) if fenced(k) and wide(k))
    source = emit_module(kernels, cfg)
    return with_fences(source, layout.fence, calls, scalar, layout.stores, unperiodic), work


def _write_if_changed(path: pathlib.Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


_FUNCTION = re.compile(r"\n(?=(?:#\[[^\n]*\]\n)*(?:pub )?fn )")


def _kernel_texts(source: str, n: int) -> list[str]:
    """The text of each kernel ``k0`` .. ``k{n-1}`` of a study module (its doc comment,
    attributes, chunk functions and entry point, in order)."""
    parts: list[list[str]] = [[] for _ in range(n)]
    for part in _FUNCTION.split(source):
        m = re.search(r"fn k(\d+)(?:_chunk\d+)?\(", part)
        if m:
            parts[int(m.group(1))].append(part)
    return ["\n".join(p) for p in parts]


def harness_build(with_bench: bool) -> list[str]:
    """The cargo command building the study's harness and layout crates. With the bench
    kernels, rustc takes about 11 GB per layout crate (two at once ran a 24 GB machine out of
    memory), so those crates are compiled one at a time."""
    return ["cargo", "build", "--release", "-q", *(["-j", "1"] if with_bench else [])]


def _slug(name: str) -> str:
    return "fence_" + "".join(c if c.isalnum() else "_" for c in name)


def run_study(
    quick: bool = False,
    log: Callable[[str], None] = print,
    variants: list[str] | None = None,
    with_bench: bool = False,
) -> dict[str, Any]:
    """Build, compile and time every (problem, layout) (``variants``: these layouts only, the
    baseline among them; ``with_bench``: :func:`bench_kernels` too); the figures as a JSON-able
    dict."""
    from gradgen.ir.interp import run as interpret

    builders = [STUDY[i] for i in QUICK] if quick else list(STUDY)
    if with_bench:
        builders += bench_kernels()
    layouts = {v: VARIANTS[v] for v in (variants or VARIANTS) if v in VARIANTS or v == BASELINE}
    layouts.setdefault(BASELINE, VARIANTS[BASELINE])
    t0 = time.perf_counter()
    probs = [b() for b in builders]
    for p in probs:
        p.reference = [v for out in interpret(p.function.kernel, [list(b) for b in p.inputs]) for v in out]
    log(f"[fence] {len(probs)} problems built in {time.perf_counter() - t0:.1f} s")
    root = WORK / "fence"
    env = cargo_env()
    env["CARGO_TARGET_DIR"] = str(TARGET)
    crates: dict[str, str] = {}
    cases: list[Case] = []
    texts: dict[str, list[str]] = {}  # layout -> each problem's functions, as printed
    for variant, layout in layouts.items():
        crate = _slug(variant)
        d = root / crate
        (d / "src").mkdir(parents=True, exist_ok=True)
        source, work = _module(probs, layout)
        _write_if_changed(
            d / "Cargo.toml",
            f'[package]\nname = "{crate}"\nversion = "0.1.0"\nedition = "2021"\n\n'
            '[lib]\npath = "src/lib.rs"\n',
        )
        _write_if_changed(d / "src" / "lib.rs", source)  # unchanged crates are not rebuilt
        crates[crate] = str(d)
        texts[variant] = _kernel_texts(source, len(probs))
        for i, p in enumerate(probs):
            sizes = [len(b) for b in p.inputs]
            cases.append(Case(f"{i}:{variant}", crate, f"k{i}", sizes, len(p.reference), work[i]))
    hdir = root / "harness"
    (hdir / "src").mkdir(parents=True, exist_ok=True)
    toml, main = rust_harness(cases, crates, HARNESS)
    _write_if_changed(hdir / "Cargo.toml", toml)
    _write_if_changed(hdir / "src" / "main.rs", main)
    t0 = time.perf_counter()
    res = run_measured(harness_build(with_bench), hdir, env, 3600)
    if res["rc"] != 0:
        raise RuntimeError("fence study harness does not build: " + res["err"][-2000:])
    log(f"[fence] {len(layouts)} crates and the harness compiled in {time.perf_counter() - t0:.0f} s")
    exe = TARGET / "release" / HARNESS
    rows = []
    budget = 0.0002  # seconds per loop: many short loops, so that some run in the fast mode
    rounds = 1 if quick else 3
    for i, p in enumerate(probs):
        d = root / f"p{i}"
        d.mkdir(exist_ok=True)
        np.concatenate(p.inputs).astype("<f8").tofile(d / "in.bin")
        outputs: dict[str, np.ndarray] = {}
        loops: dict[str, list[float]] = {v: [] for v in [*layouts, "harness"]}
        probe = _loops(exe, f"{i}:{BASELINE}", d, 200, 1)
        iters = int(min(2e5, max(20, budget * 1e9 / max(probe[0], 1.0))))
        for _ in range(rounds):
            for variant in layouts:
                loops[variant] += _loops(exe, f"{i}:{variant}", d, iters, LOOPS)
                outputs[variant] = np.fromfile(d / "out.bin", dtype="<f8")
            loops["harness"] += _loops(exe, f"{i}:{BASELINE}{HARNESS_SUFFIX}", d, iters, LOOPS, "empty.bin")
        ref = np.array(p.reference)
        base = outputs[BASELINE]
        identical = all(np.array_equal(o.view("<u8"), base.view("<u8")) for o in outputs.values())
        finite = np.isfinite(ref)
        scale = max(float(np.max(np.abs(ref[finite]), initial=0.0)), 1e-300)
        err = float(np.max(np.abs(base[finite] - ref[finite]), initial=0.0)) / scale
        if not np.array_equal(np.isfinite(base), finite):
            err = math.inf
        # the fastest loop: the machine's fast mode (``rounds.py``); the medians are kept too
        ns = {v: min(t) for v, t in loops.items()}
        row = {
            "problem": p.label,
            "ops": p.function.kernel.op_count(),
            "iters": iters,
            "ns": ns,
            "ns_median": {v: statistics.median(t) for v, t in loops.items()},
            "identical": identical,
            "rel_err": err,
            # layout -> the first layout printing the same text for this problem
            "text_of": {v: next(u for u in layouts if texts[u][i] == texts[v][i]) for v in layouts},
        }
        rows.append(row)
        log(
            f"    {p.label}: "
            + ", ".join(f"{v} {t:.4g}" for v, t in ns.items())
            + f" (identical {identical}, err {err:.1e})"
        )
    return {"variants": list(layouts), "baseline": BASELINE, "rows": rows}


def _loops(
    exe: pathlib.Path, key: str, d: pathlib.Path, iters: int, reps: int, out: str = "out.bin"
) -> list[float]:
    res = run_measured([str(exe), key, str(d / "in.bin"), str(d / out), str(iters), str(reps)], d, None, 900)
    if res["rc"] != 0:
        raise RuntimeError(f"fence study case {key} failed: {res['err'][-500:]}")
    return [float(v) for v in res["out"].splitlines()[0].split()[1:]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="six problems, one round")
    ap.add_argument("--variants", default="", help="only these layouts (separated by ;, the baseline always)")
    ap.add_argument(
        "--bench-kernels", action="store_true", help="every bench kernel of rosenbrock, logsumexp, pendulum"
    )
    ap.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parent / "results" / "fence.json"))
    args = ap.parse_args(argv)
    variants = args.variants.split(";") if args.variants else None
    unknown = sorted(set(variants or ()) - set(VARIANTS))
    if unknown:
        ap.error(f"unknown layouts {unknown}; known: {sorted(VARIANTS)}")
    study = run_study(args.quick, variants=variants, with_bench=args.bench_kernels)
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(json.dumps(study, indent=1))
    print("\n".join(fence_table(study)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
