"""``SquaredDistanceToSet``: value ``0.5 * dist^2`` and gradient ``x - proj(x)`` of every factory
against numpy references inside, on and outside the set (infinite bounds included), compiled
Rust equal to Python, and the errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradgen as gg
from gradgen import CodeGenerationBuilder, Function, RustBackendConfig, SquaredDistanceToSet, SXVector
from tests.cargo import cargo, cargo_env, rustfmt_check

INF = math.inf


def ref_ball(x, c, r):
    d = x - c
    n = np.linalg.norm(d)
    return x.copy() if n <= r else c + d * (r / n)


def ref_box(x, lo, hi):
    return np.clip(x, lo, hi)


def ref_soc(x, alpha):
    y, t = x[:-1], x[-1]
    s = np.linalg.norm(y)
    if s <= alpha * t:
        return x.copy()
    if alpha * s <= -t:
        return np.zeros_like(x)
    beta = (alpha * s + t) / (alpha**2 + 1)
    return np.concatenate([alpha * beta * y / s, [beta]])


#: name -> (set, numpy projection, points inside / on / outside)
def cases():
    c, r = np.array([1.0, -0.5, 0.25]), 0.75
    lo, hi = np.array([0.0, -INF, -1.0]), np.array([1.0, 2.0, INF])
    return {
        "ball": (
            SquaredDistanceToSet.euclidean_ball("ball", c.tolist(), r),
            lambda x: ref_ball(x, c, r),
            [
                c + np.array([0.1, 0.2, -0.1]),
                c + np.array([r, 0.0, 0.0]),
                c + np.array([0.0, -0.6, 0.45]),
                [3.0, 2.0, -1.0],
                [-4.0, 0.0, 9.0],
            ],
        ),
        "bounds": (
            SquaredDistanceToSet.rectangle("bounds", lo.tolist(), hi.tolist()),
            lambda x: ref_box(x, lo, hi),
            [[0.5, -1e6, 1e6], [1.0, 2.0, -1.0], [0.0, -3.0, 0.0], [1.5, 2.5, -2.0], [-2.0, 1e9, -1e9]],
        ),
        "linf": (
            SquaredDistanceToSet.infinity_ball("linf", [0.5, -0.5], 2.0),
            lambda x: ref_box(x, np.array([-1.5, -2.5]), np.array([2.5, 1.5])),
            [[0.0, 0.0], [2.5, -2.5], [3.0, 0.0], [-4.0, 7.0]],
        ),
        "soc": (
            SquaredDistanceToSet.second_order_cone("soc", 1.5, 3),
            lambda x: ref_soc(x, 1.5),
            [
                [0.3, 0.4, 1.0],
                [0.9, 1.2, 1.0],
                [2.0, 1.0, 0.5],
                [0.3, -0.4, -1.0],
                [1.0, 1.0, -0.5],
                [0.0, 0.0, 0.0],
            ],
        ),
    }


CASES = cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_value_and_gradient_against_numpy(name: str):
    s, proj, points = CASES[name]
    f, g = s.to_function(), s.gradient()
    for x in points:
        x = np.asarray(x, dtype=float)
        p = proj(x)
        want_value = 0.5 * float(np.dot(x - p, x - p))
        assert f(x.tolist()) == pytest.approx(want_value, rel=1e-13, abs=1e-12)
        assert s(x.tolist()) == pytest.approx(want_value, rel=1e-13, abs=1e-12)
        assert np.allclose(g(x.tolist()), x - p, rtol=1e-13, atol=1e-12)


def test_gradient_is_the_derivative_of_the_value_outside_the_sets():
    for s, _, points in CASES.values():
        f, g = s.to_function(), s.gradient()
        for x in points:
            if max(map(abs, x)) > 1e3:  # f ~ 1e18 there: differences of f carry no digits
                continue
            grad = g(list(map(float, x)))
            for i in range(len(x)):
                h = 1e-6
                up, dn = list(map(float, x)), list(map(float, x))
                up[i] += h
                dn[i] -= h
                fd = (f(up) - f(dn)) / (2 * h)
                assert grad[i] == pytest.approx(fd, rel=1e-5, abs=1e-5), (s.name, x, i)


def test_cone_projection_is_the_moreau_decomposition():
    """Independent of the closed form: p in the cone, x - p in its polar cone, <p, x - p> = 0."""
    rng = np.random.default_rng(3)
    alpha = 1.5
    g = CASES["soc"][0].gradient()
    for _ in range(50):
        x = rng.normal(size=3) * 2
        q = np.asarray(g(x.tolist()))  # x - p
        p = x - q
        assert np.linalg.norm(p[:2]) <= alpha * p[2] + 1e-12
        assert alpha * np.linalg.norm(q[:2]) <= -q[2] + 1e-12  # polar cone of ||y|| <= alpha t
        assert abs(np.dot(p, q)) <= 1e-12 * (1 + np.dot(x, x))


def test_sets_compose_in_expressions_and_with_functions():
    x = SXVector.sym("x", 2)
    box = SquaredDistanceToSet.rectangle("unit", [0.0, 0.0], [1.0, 1.0])
    # a set given by a projection Function only: ordinary expressions, differentiated by AD
    px = SXVector.sym("z", 2)
    halfspace = SquaredDistanceToSet("below").with_projection_function(
        Function("proj", [px], [SXVector([gg.minimum(px[0], 1.0), px[1]])])
    )
    penalty = Function("penalty", [x], [3.0 * box(x) + halfspace(x) + x[0] * x[1]])
    grad = penalty.gradient(0)
    for pt in ([2.0, -1.0], [0.5, 0.5], [-1.0, 3.0]):
        a = np.asarray(pt)
        pb = np.clip(a, 0, 1)
        ph = np.array([min(a[0], 1.0), a[1]])
        want = 3 * 0.5 * np.dot(a - pb, a - pb) + 0.5 * np.dot(a - ph, a - ph) + a[0] * a[1]
        assert penalty(pt) == pytest.approx(want)
        assert np.allclose(grad(pt), 3 * (a - pb) + (a - ph) + [a[1], a[0]])
    assert "custom" not in {str(op).lower() for op in halfspace.to_function().kernel.histogram()}


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: SquaredDistanceToSet.euclidean_ball("fn", [0.0], 1.0), gg.InvalidNameError, "Rust keyword"),
        (lambda: SquaredDistanceToSet.euclidean_ball("b", [0.0], 0.0), gg.FunctionDefinitionError, "radius"),
        (
            lambda: SquaredDistanceToSet.euclidean_ball("b", [], 1.0),
            gg.FunctionDefinitionError,
            "not be empty",
        ),
        (
            lambda: SquaredDistanceToSet.rectangle("r", [0.0, 1.0], [1.0, 0.0]),
            gg.FunctionDefinitionError,
            "empty",
        ),
        (lambda: SquaredDistanceToSet.rectangle("r", [INF], [INF]), gg.FunctionDefinitionError, "empty"),
        (lambda: SquaredDistanceToSet.rectangle("r", [0.0], [1.0, 2.0]), gg.ShapeError, "xmin has 1"),
        (lambda: SquaredDistanceToSet.second_order_cone("c", 1.0, 1), gg.FunctionDefinitionError, ">= 2"),
        (
            lambda: SquaredDistanceToSet("s").with_rust_projection("fn other(x: &[f64], out: &mut [f64]) {}"),
            gg.SnippetError,
            "must define `fn s_projection",
        ),
        (
            lambda: SquaredDistanceToSet("s").with_rust_projection(
                "fn s_projection(x: &[f64], out: &mut [f64]) {"
            ),
            gg.SnippetError,
            "unbalanced",
        ),
    ],
)
def test_bad_sets_are_refused(build, error, message):
    with pytest.raises(error, match=message):
        build()


TARGETS = [("std", "f64"), ("no_std", "f32")]


@pytest.fixture(scope="module")
def crates(tmp_path_factory: pytest.TempPathFactory):
    cache = tmp_path_factory.mktemp("sets-cache")
    out = {}
    for mode, scalar in TARGETS:
        config = (
            RustBackendConfig()
            .with_backend_mode(mode)
            .with_scalar_type(scalar)
            .with_crate_name(f"sets_{scalar}")
        )
        b = CodeGenerationBuilder().with_backend_config(config)
        for s, _, _ in CASES.values():
            b = b.for_function(s.to_function()).add_primal().add_gradient().done()
        out[scalar] = gg.compile(b, build_dir=cache, env=cargo_env())
    return out


@pytest.mark.parametrize(("mode", "scalar"), TARGETS)
def test_compiled_sets_equal_python(crates, mode: str, scalar: str):
    crate = crates[scalar]
    tol = 1e-13 if scalar == "f64" else 1e-5
    for name, (s, _, points) in CASES.items():
        f, g = s.to_function(), s.gradient()
        for x in points:
            x = [float(v) for v in x]
            if scalar == "f32" and any(abs(v) > 1e30 for v in x):
                continue
            got = crate[f"sets_{scalar}_{name}_f"](x)
            assert got == pytest.approx(f(x), rel=tol, abs=tol), (name, x)
            assert np.allclose(crate[f"sets_{scalar}_{name}_grad"](x), g(x), rtol=tol, atol=tol), (name, x)


@pytest.mark.parametrize(("mode", "scalar"), TARGETS)
def test_compiled_sets_are_compact_loops_and_lint_clean(crates, mode: str, scalar: str):
    crate_dir = crates[scalar].library.crate_dir
    lib = (crate_dir / "src" / "lib.rs").read_text()
    for name in CASES:
        assert lib.count(f"fn {name}_projection(") == 1
        assert lib.count(f"fn {name}(") == 1
    assert lib.count("for ") >= 4  # one loop per projection helper, not one statement per entry
    assert rustfmt_check(lib) is None
    cargo(["clippy", "--release", "--", "-D", "warnings"], crate_dir)
