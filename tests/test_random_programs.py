"""Random programs (``tests/random_programs.py``): every evaluator and every derivative agree.

For random expression graphs over every operation (deep chains and heavily shared DAGs among
them) and random inputs (including 0, -0.0, inf, NaN, huge and tiny values):

* ``Function.__call__`` equals a direct evaluation of the program without any folding, up to
  the sign of a zero and NaN payloads (the guarantee of ``ir.fold``);
* the interpreter after each simplification level keeps the guarantee documented in
  ``passes.simplify_rules``: ``none``/``basic`` bit-identical (zero signs included), ``medium``
  identical up to the sign of a zero when every value of the kernel is finite, ``high``/``max``
  within rounding where the program is well conditioned (:func:`conditioned_tolerance`);
* the gradient, Hessian and Hessian-vector product of smooth programs agree with central finite
  differences (Richardson-extrapolated) away from singular points;
* the compiled Rust (one crate per configuration, std f64 / no_std f64 / no_std f32, for all
  programs of the run, built with ``gradgen.compile``) agrees with the interpreter: f64 bit for
  bit, or within the conditioning tolerance where Rust's math functions round differently;
  f32 within the tolerance of f32 rounding where f32 neither overflows nor crosses a jump;
* every named simplification rule fires on some small random program (plus a few fixed
  left-hand sides), and those programs keep each level's guarantee too.

``GRADGEN_FUZZ_EXAMPLES`` sets the number of hypothesis examples per test (default 40, about
20 s for the whole file; ``make fuzz`` runs 2000) and the number of programs in the Rust crates
(at most 300); ``GRADGEN_FUZZ_SEED`` picks those programs. Every failure found is kept as a JSON
case in ``tests/regressions/`` (:func:`regression_json` prints one from a failure; the Rust
test's message contains it) and replayed on every run, in Python and in the Rust crates.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import random
import struct
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings

from gradgen.ir.interp import run
from gradgen.ir.kernel import Kernel
from gradgen.ir.ops import LEAVES, Op, evaluate
from gradgen.passes.manager import PassEvent, PassManager
from gradgen.passes.pipelines import LEVELS, simplification_passes
from tests.random_programs import (
    COMPUTED_OPS,
    DOMAIN_WRAPPERS,
    SINGULAR_DISTANCE,
    Program,
    RandomDraw,
    any_program,
    general_program,
    input_point,
    programs_strategy,
    singular_distance,
)

EXAMPLES = int(os.environ.get("GRADGEN_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    derandomize=EXAMPLES <= 100,  # CI runs are reproducible; `make fuzz` explores
)
REGRESSIONS = pathlib.Path(__file__).parent / "regressions"


# ---- comparison helpers ------------------------------------------------------------------------


def note_event(text: str) -> None:
    """Record a hypothesis event (shown by ``--hypothesis-show-statistics``) when inside one."""
    from hypothesis.control import _current_build_context

    if _current_build_context.value is not None:
        event(text)


def same(a: float, b: float, zero_sign: bool = True) -> bool:
    """Equal as IEEE values; NaNs are equal whatever their payload; with ``zero_sign`` the sign
    of a zero must match too."""
    if a != a or b != b:
        return a != a and b != b
    if a != b:
        return False
    return not zero_sign or a != 0.0 or math.copysign(1.0, a) == math.copysign(1.0, b)


def kernel_values(kernel: Kernel, inputs: Sequence[Sequence[float]]) -> list[float]:
    """Every value of ``kernel`` (the interpreter's loop, keeping all values)."""
    vals: list[float] = []
    for i, op in enumerate(kernel.ops):
        attr = kernel.attrs[i]
        if op is Op.INPUT:
            vals.append(inputs[attr[0]][attr[1]])
        elif op is Op.CONST:
            vals.append(attr)
        else:
            vals.append(evaluate(op, attr, [vals[a] for a in kernel.args[i]]))
    return vals


def computed_values(kernel: Kernel, values: Sequence[float]) -> list[float]:
    return [v for op, v in zip(kernel.ops, values, strict=True) if op not in LEAVES]


def sensitivity(program: Program, x: Sequence[float], eps: float, trials: int = 6) -> list[float]:
    """Per output, the largest change caused by a relative perturbation ``eps`` of every
    computed value (all up, all down, then random signs): a first-order condition estimate."""
    base = program.evaluate(x)
    worst = [0.0] * len(base)
    rng = random.Random(12345)
    for t in range(trials):
        signs: dict[int, float] = {}

        def noise(i: int, v: float, t: int = t, signs: dict[int, float] = signs) -> float:
            s = 1.0 if t == 0 else -1.0 if t == 1 else signs.setdefault(i, rng.choice((-1.0, 1.0)))
            return v + s * eps * abs(v)

        out = _evaluate_outputs(program, x, noise)
        for k, (o, b) in enumerate(zip(out, base, strict=True)):
            d = abs(o - b)
            worst[k] = max(worst[k], d if d == d else math.inf)
    return worst


def _evaluate_outputs(program: Program, x: Sequence[float], noise: Any) -> list[float]:
    vals = program.evaluate_all(x, noise)
    return [vals[o] for o in program.outputs]


def ulp(v: float) -> float:
    return math.ulp(v) if math.isfinite(v) else 0.0


def conditioned_tolerance(
    program: Program, x: Sequence[float], eps: float, margin: float
) -> list[float] | None:
    """Per output, how far a computation that only rounds differently may land from the
    reference, or ``None`` where no such bound is meaningful: a value within ``margin`` of a
    singular point (jump, kink, domain edge) or an output that moves by more than 1e-4 of its
    size when every value is perturbed by ``eps``."""
    vals = program.evaluate_all(x)
    if not all(math.isfinite(v) for v in vals):
        return None
    if singular_distance(program, vals) <= margin:
        return None
    dev = sensitivity(program, x, eps)
    outs = [vals[o] for o in program.outputs]
    if any(d > 1e-4 * (1.0 + abs(o)) for d, o in zip(dev, outs, strict=True)):
        return None
    return [d + 8 * ulp(o) for d, o in zip(dev, outs, strict=True)]


def simplified(kernel: Kernel, level: str) -> Kernel:
    return PassManager(simplification_passes(level)).run(kernel)


def in_range(values: Sequence[float], lo: float, hi: float, allow_zero: bool) -> bool:
    return all(math.isfinite(v) and ((allow_zero and v == 0.0) or lo <= abs(v) <= hi) for v in values)


# ---- the checks (shared by hypothesis tests and the regression corpus) ---------------------------


def check_levels(program: Program, x: list[float]) -> None:
    """Python evaluation == unfolded program; every simplification level within its guarantee."""
    f = program.function("rp")
    raw = program.evaluate(x)
    got = f(x)
    for k, (g, r) in enumerate(zip(got, raw, strict=True)):
        assert same(g, r), f"Function.__call__ output {k}: {g!r} vs unfolded {r!r}"
    base_values = kernel_values(f.kernel, [x])
    base_computed = computed_values(f.kernel, base_values)
    tol = None
    for level in LEVELS:
        k = simplified(f.kernel, level)
        out = run(k, [x])[0]
        if level in ("none", "basic"):
            for i, (o, g) in enumerate(zip(out, got, strict=True)):
                assert same(o, g), f"level {level} output {i}: {o!r} vs {g!r}"
        elif level == "medium":
            if all(math.isfinite(v) for v in base_values):
                for i, (o, g) in enumerate(zip(out, got, strict=True)):
                    assert same(o, g, zero_sign=False), f"level medium output {i}: {o!r} vs {g!r}"
            else:
                note_event("medium: non-finite intermediate, no claim")
        else:
            new_values = computed_values(k, kernel_values(k, [x]))
            ok = in_range(base_computed, 1e-150, 1e150, allow_zero=level == "high")
            ok = ok and in_range(new_values, 1e-150, 1e150, allow_zero=True)
            if not ok:
                note_event(f"{level}: zero/non-finite/extreme intermediate, no claim")
                continue
            if tol is None:
                tol = conditioned_tolerance(program, x, 1e-11, 1e-6)
            if tol is None:
                note_event(f"{level}: ill-conditioned, no claim")
                continue
            for i, (o, g, t) in enumerate(zip(out, got, tol, strict=True)):
                assert abs(o - g) <= t, f"level {level} output {i}: {o!r} vs {g!r} (tolerance {t:g})"


def _central(fn: Any, x: list[float], j: int, h: float) -> list[float]:
    xp, xm = list(x), list(x)
    xp[j] += h
    xm[j] -= h
    fp, fm = fn(xp), fn(xm)
    return [(a - b) / (2 * h) for a, b in zip(fp, fm, strict=True)]


def fd_column(fn: Any, x: list[float], j: int) -> tuple[list[float], list[float]]:
    """Richardson-extrapolated central difference of ``fn`` along ``x[j]`` and an error estimate."""
    h = 1e-3 * max(1.0, abs(x[j]))
    d1 = _central(fn, x, j, h)
    d2 = _central(fn, x, j, h / 2)
    rich = [(4 * b - a) / 3 for a, b in zip(d1, d2, strict=True)]
    err = [abs(a - b) for a, b in zip(rich, d2, strict=True)]
    return rich, err


def _as_list(v: Any) -> list[float]:
    return [v] if isinstance(v, float) else list(v)


def check_derivatives(program: Program, x: list[float]) -> None:
    """Gradient, Hessian and HVP of a smooth program vs finite differences."""
    vals = program.evaluate_all(x)
    assume(all(math.isfinite(v) and abs(v) <= 1e4 for v in vals))
    assume(singular_distance(program, vals) > 1e-2)
    f = program.function("rp", scalar_output=True)
    n = program.n_inputs
    g = _as_list(f.gradient(0)(x))
    grad_fn = f.gradient(0)
    hess = _as_list(f.hessian(0)(x))
    v = [0.5 - 0.3 * k for k in range(n)]
    hvp = _as_list(f.hvp(0)(x, v))
    scale = 1.0 + max(abs(t) for t in g)
    for j in range(n):
        fd, err = fd_column(lambda p: [f(p)], x, j)
        assert abs(g[j] - fd[0]) <= 1e-5 * scale + 100 * err[0], (
            f"d/dx{j}: gradient {g[j]!r} vs finite differences {fd[0]!r} (error estimate {err[0]:g})"
        )
    hscale = 1.0 + max(abs(t) for t in hess)
    for j in range(n):
        fd, err = fd_column(lambda p: _as_list(grad_fn(p)), x, j)
        for i in range(n):
            h = hess[i * n + j]
            assert abs(h - fd[i]) <= 1e-5 * hscale + 100 * err[i], (
                f"H[{i},{j}] = {h!r} vs finite differences of the gradient {fd[i]!r}"
            )
    for i in range(n):
        want = sum(hess[i * n + j] * v[j] for j in range(n))
        assert abs(hvp[i] - want) <= 1e-9 * hscale * (1 + sum(map(abs, v))), (
            f"hvp[{i}] {hvp[i]!r} vs H v {want!r}"
        )


# ---- tables cover every operation --------------------------------------------------------------


def test_tables_cover_every_op() -> None:
    assert set(SINGULAR_DISTANCE) == set(Op)
    assert set(DOMAIN_WRAPPERS) == set(COMPUTED_OPS)


def test_generator_reaches_every_op_and_every_shape() -> None:
    seen: set[Op] = set()
    shapes: set[str] = set()
    for seed in range(200):
        p = any_program(RandomDraw(seed), smooth=seed % 2 == 0)
        seen |= p.ops()
        shapes.add(p.shape)
    assert seen >= set(COMPUTED_OPS)
    assert shapes == {"general", "chain", "shared"}


def test_program_json_round_trip() -> None:
    for seed in range(20):
        p = general_program(RandomDraw(seed))
        q = Program.from_json(json.loads(p.dumps()))
        assert q == p
        x = input_point(RandomDraw(seed), p)
        assert all(same(a, b) for a, b in zip(p.evaluate(x), q.evaluate(x), strict=True))


# ---- hypothesis ----------------------------------------------------------------------------------


@FUZZ
@given(programs_strategy())
def test_random_programs_agree_at_every_level(case: tuple[Program, list[float]]) -> None:
    check_levels(*case)


@FUZZ
@given(programs_strategy(smooth=True))
def test_random_smooth_programs_derivatives_match_finite_differences(
    case: tuple[Program, list[float]],
) -> None:
    program, x = case
    check_derivatives(program, x)


# ---- the regression corpus -------------------------------------------------------------------------


def regression_cases() -> list[tuple[str, Program, list[list[float]]]]:
    out = []
    for path in sorted(REGRESSIONS.glob("*.json")):
        data = json.loads(path.read_text())
        points = [[float(v) for v in p] for p in data["points"]]
        out.append((path.stem, Program.from_json(data["program"]), points))
    return out


REGRESSION_CASES = regression_cases()


def test_regression_corpus_is_not_empty() -> None:
    assert REGRESSION_CASES, f"no regression cases in {REGRESSIONS}"


@pytest.mark.parametrize("name,program,points", REGRESSION_CASES, ids=[c[0] for c in REGRESSION_CASES])
def test_regression_case(name: str, program: Program, points: list[list[float]]) -> None:
    for x in points:
        check_levels(program, x)
        if program.smooth:
            vals = program.evaluate_all(x)
            if (
                all(math.isfinite(v) and abs(v) <= 1e4 for v in vals)
                and singular_distance(program, vals) > 1e-2
            ):
                check_derivatives(program, x)


# ---- compiled Rust: one crate per configuration for all programs of the run ----------------------

#: (backend mode, scalar type): f64 results equal Python's bit for bit, or (where Rust's own
#: asinh/acosh/atanh, the erf helpers or the libm crate round differently from the C library
#: Python uses) lie within the conditioning tolerance of a 1e-13 perturbation; f32 results lie
#: within the tolerance of a 2^-21 perturbation of every value
RUST_CONFIGS = [("std", "f64"), ("no_std", "f64"), ("no_std", "f32")]
#: operations whose Rust std implementation is not the C library's (Rust computes asinh, acosh,
#: atanh and cbrt itself; erf and erfc are gradgen helpers): results may differ by a few ulps
STD_ROUNDS_DIFFERENTLY = {Op.ASINH, Op.ACOSH, Op.ATANH, Op.CBRT, Op.ERF, Op.ERFC}
RUST_PROGRAMS = min(max(EXAMPLES, 24), 300)
RUST_POINTS = 4
SEED = int(os.environ.get("GRADGEN_FUZZ_SEED", "2024"))


def rust_programs() -> list[tuple[str, Program, list[list[float]]]]:
    """Seeded random programs (``SEED``) plus the regression corpus, each with its points."""
    out = []
    for i in range(RUST_PROGRAMS):
        d = RandomDraw(SEED * 100_003 + i)
        p = any_program(d)
        out.append((f"seed{SEED}_{i}", p, [input_point(d, p, special=k >= 2) for k in range(RUST_POINTS)]))
    return out + REGRESSION_CASES


def regression_json(program: Program, points: list[list[float]], note: str) -> str:
    """The text of a ``tests/regressions/*.json`` case for a failure (paste it into a new file)."""
    from tests.random_programs import fmt

    return json.dumps(
        {"note": note, "program": program.to_json(), "points": [[fmt(v) for v in p] for p in points]}
    )


def f32(v: float) -> float:
    try:
        return struct.unpack("<f", struct.pack("<f", v))[0]
    except OverflowError:
        return math.copysign(math.inf, v)


@pytest.fixture(scope="module", params=RUST_CONFIGS, ids=[f"{m}-{t}" for m, t in RUST_CONFIGS])
def compiled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    import gradgen as gg
    from gradgen import CodeGenerationBuilder
    from gradgen.config import RustBackendConfig
    from tests.cargo import cargo_env

    mode, scalar = request.param
    crate = f"rp_{mode}_{scalar}"
    config = RustBackendConfig().with_backend_mode(mode).with_scalar_type(scalar).with_crate_name(crate)
    builder = CodeGenerationBuilder().with_backend_config(config)
    cases = []
    for i, (label, program, points) in enumerate(rust_programs()):
        level = LEVELS[i % len(LEVELS)] if (mode, scalar) == ("std", "f64") else "basic"
        name = f"rp{i}"
        f = program.function(name)
        builder = builder.for_function(f).add_primal().with_simplification(level).done()
        cases.append((label, program, points, f, level, f"{crate}_{name}_f"))
    lib = gg.compile(builder, build_dir=tmp_path_factory.mktemp("rp-cache"), env=cargo_env())
    return mode, scalar, lib, cases


def test_compiled_rust_matches_python(compiled: Any) -> None:
    mode, scalar, lib, cases = compiled
    failures: list[str] = []
    claims = 0
    for label, program, points, f, level, fn_name in cases:
        rust_fn = lib[fn_name]
        kernel = simplified(f.kernel, level)
        for x in points:
            xs = [f32(v) for v in x] if scalar == "f32" else x
            want = run(kernel, [xs])[0]
            got = list(rust_fn(x))
            for k, (g, w) in enumerate(zip(got, want, strict=True)):
                if scalar == "f32":
                    w32 = f32(w)
                    if same(g, w32, zero_sign=False):
                        continue
                    vals = program.evaluate_all(xs)
                    tol = None
                    if in_range([v for v in vals if v != 0.0], 1e-30, 1e30, allow_zero=False):
                        tol = conditioned_tolerance(program, xs, 2.0**-21, 1e-4)
                    if tol is None:
                        continue  # f32 overflows, underflows or rounds across a jump here: no claim
                    claims += 1
                    if abs(g - w) <= 2 * tol[k] + 2.0**-20 * abs(w):
                        continue
                elif same(g, w, zero_sign=True):
                    continue
                elif mode == "no_std" or STD_ROUNDS_DIFFERENTLY & set(kernel.ops):
                    tol = conditioned_tolerance(program, xs, 1e-13, 1e-9)
                    if tol is None:
                        continue
                    claims += 1
                    if abs(g - w) <= tol[k]:
                        continue
                failures.append(
                    f"{label} level {level} output {k} at {x}: rust {g!r} vs python {w!r}\n"
                    + regression_json(program, [x], f"{mode} {scalar} rust {g!r} vs python {w!r}")
                )
    assert not failures, f"{len(failures)} mismatches; first:\n" + "\n".join(failures[:3])


# ---- every simplification rule, held to its level's guarantee ----------------------------------

#: operations the simplification rules rewrite, so that small random programs trigger every rule
#: (repeated entries are drawn more often)
RULE_OPS = (
    *(Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.NEG, Op.POWI, Op.SELECT) * 3,
    Op.ABS,
    Op.POW,
    Op.SQRT,
    Op.NORM2SQ,
    Op.LT,
    Op.LE,
    Op.GT,
    Op.GE,
    Op.EQ,
    Op.NE,
    Op.LOG,
    Op.EXP,
    Op.LOG1P,
    Op.EXPM1,
    Op.COS,
    Op.SIN,
    Op.COSH,
    Op.TANH,
)
RULE_PROGRAMS = 6000
#: left-hand sides that random programs of RULE_PROGRAMS seeds do not happen to contain
PATTERNS: tuple[tuple[tuple[str, tuple[int, ...], Any], ...], ...] = (
    (("neg", (0,), None), ("neg", (1,), None), ("add", (2, 3), None)),  # add-neg-neg
    (("const", (), 1.0), ("div", (2, 1), None), ("mul", (0, 3), None)),  # div-recip
    (("abs", (0,), None), ("abs", (1,), None), ("mul", (2, 3), None)),  # mul-abs-abs
    (("const", (), 1.0), ("lt", (0, 1), None), ("sub", (2, 3), None)),  # not-ord
    (
        ("const", (), 1.0),
        ("const", (), 0.0),
        ("le", (0, 1), None),
        ("select", (4, 2, 3), None),
    ),  # select-cmp-bool
    (
        ("const", (), 0.5),
        ("mul", (0, 2), None),
        ("mul", (1, 2), None),
        ("add", (3, 4), None),
    ),  # add-factor-const
    (
        ("const", (), -0.75),
        ("mul", (0, 2), None),
        ("add", (3, 1), None),
        ("mul", (1, 2), None),
        ("sub", (4, 5), None),
    ),  # add-factor-const, the chain form
)


def test_every_simplification_rule_fires_and_keeps_its_guarantee() -> None:
    """Small programs over the rewritten operations: each named rule of
    ``passes.simplify_rules`` fires at least once, and every program keeps the guarantee of each
    level (:func:`check_levels`) at ordinary and special inputs."""
    from gradgen.passes.simplify import SimplifyPass
    from gradgen.passes.simplify_rules import RULES

    fired: set[str] = set()
    for seed in range(RULE_PROGRAMS + len(PATTERNS)):
        d = RandomDraw(7_000_000 + seed)
        if seed < len(PATTERNS):
            nodes = PATTERNS[seed]
            p = Program(2, nodes, (2 + len(nodes) - 1,))
        else:
            p = general_program(d, max_nodes=8, ops=RULE_OPS, every_output=True)
        f = p.function("rules")
        for level in LEVELS[1:]:
            passes = simplification_passes(level)
            events: list[PassEvent] = []
            PassManager(passes, callback=events.append).run(f.kernel)
            fired |= {
                name
                for e in events
                if isinstance(passes[e.index], SimplifyPass)
                for name, n in e.after.note("rules_fired", {}).items()
                if n
            }
        for k in range(3 if seed >= len(PATTERNS) else 30):
            check_levels(p, input_point(d, p, special=k % 3 > 0))
    missing = sorted(r.name for r in RULES if r.name not in fired)
    assert not missing, f"rules never exercised by the random programs: {missing}"
