"""Crates of staged kernels: every staged kind compiled in all four configurations (f64/f32 x
std/no_std) equal to the Python values, helpers shared by several kernels emitted once per crate
(by content, with names that never collide), and crates whose size does not depend on N."""

from __future__ import annotations

import math
import pathlib
import re
import struct

import pytest

import gradgen as gg
from gradgen.backends.crate import write_crate
from gradgen.backends.rust_literals import to_f32
from gradgen.config import RustBackendConfig
from gradgen.ir.kernel import Kernel, KernelBuilder, Port
from gradgen.ir.kernel_key import content_key
from gradgen.kernel_plans import GeneratedCrate
from tests.benchmarks import problems, reference
from tests.cargo import build_and_lint, cargo, rustfmt_check
from tests.staged_crates import HORIZON_PAIRS
from tests.test_autodiff_rust import _main_rs
from tests.test_shooting import X0, P, _controls, _direction, pendulum
from tests.test_staged import _blocks, _states, bicycle_step, scalar_fold, stage_cost

N = 6
CONFIGS = [("f64", "std"), ("f64", "no_std"), ("f32", "std"), ("f32", "no_std")]


def _problem(n: int) -> gg.SingleShootingProblem:
    return pendulum(n)


def _trajectory(n: int) -> gg.StagedFunction:
    """The rollout with its states, under another name (a second source function of the crate)."""
    p = pendulum(n)
    return (
        gg.SingleShootingProblem("traj")
        .with_horizon(n)
        .with_dynamics(p.dynamics)
        .with_costs(p.stage_cost, p.terminal_cost)
        .primal(include_states=True)
    )


def _builder(n: int, config: RustBackendConfig) -> gg.CodeGenerationBuilder:
    """One crate with every staged kind: map (and its Jacobian) and zip of the same stage
    function, reduce, the gradient of a scalar fold, single shooting cost, gradient and HVP, and
    the rollout with its states. The map and the zip call the same cost kernel; the zip's Jacobian
    and the map's call the same Jacobian kernel."""
    cost = stage_cost()
    return (
        gg.CodeGenerationBuilder()
        .with_backend_config(config)
        .for_function(gg.map_function(cost, n, name="costs"))
        .add_primal()
        .add_jacobian(wrt=0)
        .done()
        .for_function(gg.zip_function(cost, n, name="costs_zipped"))
        .add_primal()
        .add_jacobian(wrt=0)
        .done()
        .for_function(gg.reduce_function(bicycle_step(), n, name="rollout"))
        .add_primal()
        .done()
        .for_function(gg.reduce_function(scalar_fold(), n, name="fold"))
        .add_primal()
        .add_gradient(wrt=1)
        .done()
        .for_function(_problem(n))
        .add_primal()
        .add_gradient(wrt=1)
        .add_hvp(wrt=1)
        .done()
        .for_function(_trajectory(n))
        .add_primal()
        .done()
    )


def _python_cases(n: int, scalar: str) -> list[tuple[str, object, list[list[float]]]]:
    """(Rust function, the Python object computing it, arguments) of every function of the crate."""
    cast = (lambda a: [to_f32(v) for v in a]) if scalar == "f32" else (lambda a: list(a))
    xs, us = cast(_states(n)), cast(_controls(n))
    cost, problem = stage_cost(), _problem(n)
    shooting = [cast(X0), us, cast(P)]
    fold = gg.reduce_function(scalar_fold(), n, name="fold")
    blocks = cast(_blocks(n))
    mapped = gg.map_function(cost, n, name="costs")
    zipped = gg.zip_function(cost, n, name="costs_zipped")
    return [
        ("c_costs_f", mapped, [xs]),
        ("c_costs_jf", mapped.jacobian(0), [xs]),
        ("c_costs_zipped_f", zipped, [xs]),
        ("c_costs_zipped_jf", zipped.jacobian(0), [xs]),
        (
            "c_rollout_f",
            gg.reduce_function(bicycle_step(), n),
            [cast([0.0, 0.0, 0.2, 1.0]), cast(_blocks(n))],
        ),
        ("c_fold_f", fold, [cast([0.7]), blocks]),
        ("c_fold_grad_x_seq", fold.gradient(1), [cast([0.7]), blocks]),
        ("c_pendulum_f", problem.primal(), shooting),
        ("c_pendulum_grad_u_seq", problem.gradient(), shooting),
        ("c_pendulum_hvp_u_seq", problem.hvp(), [*shooting, cast(_direction(n))]),
        ("c_traj_with_states_f", _trajectory(n), shooting),
    ]


def _crate(n: int, scalar: str = "f64", mode: str = "std") -> GeneratedCrate:
    config = RustBackendConfig().with_scalar_type(scalar).with_backend_mode(mode).with_crate_name("c")
    return _builder(n, config).generate()


def _definitions(source: str) -> list[str]:
    return re.findall(r"^(?:pub )?fn (\w+)", source, re.M)


# ---- helpers once per crate -------------------------------------------------------------------
def test_a_stage_function_shared_by_several_kernels_is_one_helper() -> None:
    crate = _crate(N)
    defined = _definitions(crate.source)
    assert len(defined) == len(set(defined))
    cost_helpers = [d for d in defined if d.endswith("_cost")]
    jacobian_helpers = [d for d in defined if d.endswith("_cost_jacobian_s")]
    # the map and the zip of one stage function, and their Jacobians, call one helper each
    assert cost_helpers == ["c_costs_f_cost"]
    assert jacobian_helpers == ["c_costs_jf_cost_jacobian_s"]
    # the definition and two loops (a map carries no state: one stage per iteration)
    assert crate.source.count("c_costs_f_cost(") == 3
    assert crate.source.count("c_costs_jf_cost_jacobian_s(") == 3
    # a second build of the same crate prints the same text (the names are deterministic)
    assert _crate(N).source == crate.source


def test_helpers_are_shared_by_content_not_by_object() -> None:
    """Two stage Functions built separately from the same expressions are one helper; two
    different stage functions with the same name are two, with distinct names."""
    s = gg.SXVector.sym("s", 2)
    twin_a = gg.Function("sq", [s], [[s[0] * s[1], s[1] - s[0]]], ["s"], ["o"])
    twin_b = gg.Function("sq", [s], [[s[0] * s[1], s[1] - s[0]]], ["s"], ["o"])
    other = gg.Function("sq", [s], [[s[0] + s[1], s[1] * 2.0]], ["s"], ["o"])
    assert twin_a.kernel is not twin_b.kernel
    crate = (
        gg.CodeGenerationBuilder()
        .with_backend_config(RustBackendConfig().with_crate_name("twins"))
        .for_function(gg.map_function(twin_a, 3, name="a"))
        .add_primal()
        .done()
        .for_function(gg.map_function(twin_b, 5, name="b"))
        .add_primal()
        .done()
        .for_function(gg.map_function(other, 4, name="c"))
        .add_primal()
        .done()
        .generate()
    )
    defined = _definitions(crate.source)
    assert defined == ["twins_a_f_sq", "twins_a_f", "twins_b_f", "twins_c_f_sq", "twins_c_f"]
    assert "twins_a_f_sq(" in crate.source.split("pub fn twins_b_f(")[1]
    assert "twins_c_f_sq(" in crate.source.split("pub fn twins_c_f(")[1]
    assert rustfmt_check(crate.source) is None


def test_helper_names_never_collide_across_kernels() -> None:
    """``<function>_<callee>`` of two kernels can spell one name ("k_a_f" + "x_f_y" and
    "k_a_f_x_f" + "y"): the second helper is numbered instead of colliding."""
    s = gg.SXVector.sym("s", 2)
    first = gg.Function("x_f_y", [s], [[s[0] * s[1]]], ["s"], ["o"])
    second = gg.Function("y", [s], [[s[0] - s[1]]], ["s"], ["o"])
    crate = (
        gg.CodeGenerationBuilder()
        .with_backend_config(RustBackendConfig().with_crate_name("k"))
        .for_function(gg.map_function(first, 3, name="a"))
        .add_primal()
        .done()
        .for_function(gg.map_function(second, 3, name="a_f_x"))
        .add_primal()
        .done()
        .generate()
    )
    defined = _definitions(crate.source)
    assert defined == ["k_a_f_x_f_y", "k_a_f", "k_a_f_x_f_y_1", "k_a_f_x_f"]
    assert crate.function("k_a_f_x_f").name == "k_a_f_x_f"
    xs = [0.5, 2.0, -1.0, 3.0, 0.25, 4.0]
    assert gg.map_function(second, 3)(xs) == pytest.approx([-1.5, -4.0, -3.75])


# ---- code size ----------------------------------------------------------------------------------
def _same_but_constants(short: list[str], long: list[str], at_most: int) -> None:
    assert len(short) == len(long)
    differing = [(a, b) for a, b in zip(short, long, strict=True) if a != b]
    assert 0 < len(differing) <= at_most
    assert all(re.sub(r"[0-9]+", "N", a) == re.sub(r"[0-9]+", "N", b) for a, b in differing)


def test_the_crate_is_the_same_size_at_every_horizon() -> None:
    for n_short, n_long in HORIZON_PAIRS:  # of one parity: an odd one runs its last stage apart
        short, long = _crate(n_short).source.splitlines(), _crate(n_long).source.splitlines()
        # the length constants of each function (doc comment, entry checks, size constants,
        # workspace offsets) and nothing else
        _same_but_constants(short, long, 130)


@pytest.mark.parametrize("kind", [name for name, _, _ in _python_cases(3, "f64")])
def test_each_kind_is_the_same_size_at_every_horizon(kind: str) -> None:
    """Each function of the crate, generated alone at N = 6 and 500, and at N = 5 and 501."""

    def lines(n: int) -> list[str]:
        obj = {name: fn for name, fn, _ in _python_cases(n, "f64")}[kind]
        assert isinstance(obj, gg.StagedFunction)
        return obj.generate_rust().source.splitlines()

    for n_short, n_long in HORIZON_PAIRS:
        _same_but_constants(lines(n_short), lines(n_long), 20)


# ---- the compiled matrix ------------------------------------------------------------------------
def _as_list(value: object) -> list[float]:
    return [value] if isinstance(value, float) else list(value)  # type: ignore[call-overload]


@pytest.mark.parametrize(("scalar", "mode"), CONFIGS)
def test_every_staged_kind_compiled_equals_python(
    tmp_path: pathlib.Path, scalar: str, mode: str, cargo_available: None
) -> None:
    crate = _crate(N, scalar, mode)
    assert rustfmt_check(crate.source) is None
    cases = _python_cases(N, scalar)
    assert crate.function_names == tuple(name for name, _, _ in cases)
    python: dict[str, list[float]] = {}
    compiled = []
    for (name, fn, args), kernel in zip(cases, crate.kernels, strict=True):
        outs = fn(*args)  # type: ignore[operator]
        outs = outs if isinstance(outs, tuple) else (outs,)
        for k, o in enumerate(outs):
            python[f"{name}.{k}"] = _as_list(o)
        compiled.append((name, kernel, args))
    name = f"staged_matrix_{scalar}_{mode}"
    write_crate(tmp_path, name, crate.source, crate.signatures, mode == "no_std")
    (tmp_path / "src" / "main.rs").write_text(_main_rs(name, compiled, scalar))
    build_and_lint(tmp_path)
    out = cargo(["run", "-q", "--bin", name], tmp_path).stdout
    rust = {line.split(" ")[0]: [float(v) for v in line.split(" ")[1:]] for line in out.splitlines()}
    assert set(rust) == set(python)
    tol = {"rel": 1e-12, "abs": 1e-14} if scalar == "f64" else {"rel": 1e-3, "abs": 1e-4}
    for label, ref in python.items():
        assert all(math.isfinite(v) for v in ref), label
        assert rust[label] == pytest.approx(ref, **tol), label


# ---- the staged bench problem -------------------------------------------------------------------
class _Ours:
    g = gg
    sin, exp, log = gg.sin, gg.exp, gg.log

    @staticmethod
    def vec(name: str, n: int) -> gg.SXVector:
        return gg.SXVector.sym(name, n)


@pytest.mark.parametrize("kernel", ["f", "grad", "hvp"])
def test_the_staged_bench_problem_equals_its_numpy_reference(kernel: str) -> None:
    """``make bench``'s staged pendulum (ours staged, and the unrolled graph CasADi gets) against
    the bench's numpy reference (complex-step gradient, differences of it for the HVP)."""
    n = 7
    blocks = reference.inputs("pendulum_staged", n, kernel)
    expected = reference.reference("pendulum_staged", n, kernel, blocks)
    args = [list(map(float, b)) for b in blocks]
    staged = problems.pendulum_staged_ours(_Ours, n, kernel)
    got = staged(*args)
    assert _as_list(got) == pytest.approx(list(expected), rel=1e-8, abs=1e-10)
    inputs, cost = problems.pendulum_staged(_Ours, n)
    unrolled = gg.Function("unrolled", inputs, [cost], ["x0", "u", "p"], ["y"])
    derived = {"f": unrolled, "grad": unrolled.gradient(1), "hvp": unrolled.hvp(1)}[kernel]
    assert _as_list(derived(*args)) == pytest.approx(list(expected), rel=1e-8, abs=1e-10)


def test_content_keys_tell_signed_zeros_names_and_nans_apart() -> None:
    """Equal content gives equal keys; a constant's sign, the kernel name and NaN payloads are
    part of the content (constants compare by bit pattern, not by ``==``)."""

    def constant(value: float, name: str = "k") -> Kernel:
        b = KernelBuilder()
        b.input(0, 0)
        return b.finish(name, (Port("x", 1, True),), (Port("y", 1, True),), [[b.const(value)]])

    assert content_key(constant(0.0)) == content_key(constant(0.0))
    assert content_key(constant(0.0)) != content_key(constant(-0.0))
    assert content_key(constant(0.0)) != content_key(constant(0.0, "other"))
    assert content_key(constant(math.nan)) == content_key(constant(math.nan))
    quiet, other = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000001))[0], math.nan
    assert content_key(constant(quiet)) != content_key(constant(other))
