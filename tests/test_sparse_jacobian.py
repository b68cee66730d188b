"""Sparse Jacobians (``Function.sparse_jacobian``, ``add_jacobian(sparse=True)``, the bundle's
``add_jf(sparse=True)``): values against the dense Jacobian and closed forms, the pattern against
the dense kernel's structural pattern, the coloring checked for validity, the cost of a banded
1,000-stage Jacobian, the crate compiled with cargo (build, clippy -D warnings, rustfmt-exact)
and called through ``gradgen.compile``, ``gradgen-dump --stats`` and the errors.
"""

from __future__ import annotations

import cmath
import json
import math
import pathlib
import random

import pytest

import gradgen as gg
from gradgen import SX, CodeGenerationBuilder, Function, FunctionBundle, SXVector
from gradgen.dump import main as dump_main
from gradgen.errors import ConfigError, DifferentiationError, GradgenTypeError
from gradgen.native_call import CompiledCrate
from gradgen.sparse import JacobianPattern, SparseJacobian, SweepPlan, sparse_jacobian
from tests.cargo import build_and_lint, cargo_env, rustfmt_check

DT = 0.05
NX, NU = 2, 1


def shooting(N: int) -> Function:
    """Multiple-shooting defects of a damped pendulum (RK4): ``d_k = x_{k+1} - F(x_k, u_k)``
    over ``w = [x_0, u_0, x_1, u_1, ..., x_N]``; a banded ``2N x (3N + 2)`` Jacobian."""
    w = SXVector.sym("w", (N + 1) * NX + N * NU)

    def rhs(th: SX, om: SX, u: SX) -> tuple[SX, SX]:
        return om, -9.81 * gg.sin(th) - 0.1 * om + u

    d: list[SX] = []
    for k in range(N):
        o = k * (NX + NU)
        th, om, u = w[o], w[o + 1], w[o + 2]
        k1 = rhs(th, om, u)
        k2 = rhs(th + DT / 2 * k1[0], om + DT / 2 * k1[1], u)
        k3 = rhs(th + DT / 2 * k2[0], om + DT / 2 * k2[1], u)
        k4 = rhs(th + DT * k3[0], om + DT * k3[1], u)
        d.append(w[o + 3] - (th + DT / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])))
        d.append(w[o + 4] - (om + DT / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])))
    return Function("defects", [w], [SXVector(d)], input_names=["w"], output_names=["d"])


def fanout() -> Function:
    """12 outputs of 4 inputs, each output reading two neighbouring inputs: columns compress
    (forward, 3 sweeps), rows do not (each column is in 6 rows)."""
    x = SXVector.sym("x", 4)
    ys = [x[k % 4] ** 2 * gg.cos(x[(k + 1) % 4]) + 0.5 * k * x[k % 4] for k in range(12)]
    return Function("fan", [x], [SXVector(ys)])


def gated() -> Function:
    """Zero partials: x0 only reaches ``a`` through a comparison and x3 only through floor, so
    neither is a structural nonzero there; two outputs with two inputs."""
    x = SXVector.sym("x", 4)
    p = SX.sym("p")
    y0 = gg.if_else(x[0] > 0.0, x[1] * x[2], gg.sin(x[2])) + gg.floor(x[3]) + p * x[1]
    y1 = SXVector([x[1] * p, gg.exp(x[3]) + p * p, x[2] - x[1]])
    return Function("gated", [x, p], [y0, y1], input_names=["x", "p"], output_names=["a", "b"])


def analytic_defect_jacobian(w: list[float], N: int) -> list[list[float]]:
    """The defect Jacobian by complex-step differentiation of a plain RK4 (exact to rounding)."""

    def defects(z: list[complex]) -> list[complex]:
        out: list[complex] = []
        for k in range(N):
            o = k * 3
            th, om, u = z[o], z[o + 1], z[o + 2]

            def rhs(t: complex, v: complex, u: complex) -> tuple[complex, complex]:
                return v, -9.81 * cmath.sin(t) - 0.1 * v + u

            k1 = rhs(th, om, u)
            k2 = rhs(th + DT / 2 * k1[0], om + DT / 2 * k1[1], u)
            k3 = rhs(th + DT / 2 * k2[0], om + DT / 2 * k2[1], u)
            k4 = rhs(th + DT * k3[0], om + DT * k3[1], u)
            out.append(z[o + 3] - (th + DT / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])))
            out.append(z[o + 4] - (om + DT / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])))
        return out

    h = 1e-30
    n = len(w)
    cols = []
    for j in range(n):
        z = [complex(v) for v in w]
        z[j] += 1j * h
        cols.append([v.imag / h for v in defects(z)])
    return [[cols[j][i] for j in range(n)] for i in range(2 * N)]


def dense_blocks(f: Function, wrt: int, args: list[object]) -> list[list[list[float]]]:
    """The dense Jacobian of each output as a list of rows."""
    values = f.jacobian(wrt)(*args)
    values = values if isinstance(values, tuple) else (values,)
    n = f.input_sizes[wrt]
    out = []
    for flat, m in zip(values, f.output_sizes, strict=True):
        flat = [flat] if isinstance(flat, float) else flat
        out.append([list(flat[i * n : (i + 1) * n]) for i in range(m)])
    return out


def structural(f: Function, wrt: int) -> list[set[tuple[int, int]]]:
    """The entries of the dense Jacobian kernel that are not the constant 0, per output."""
    k = f.jacobian(wrt).kernel
    n = f.input_sizes[wrt]
    return [
        {(i, j) for i in range(m) for j in range(n) if k.const_value(res[i * n + j]) != 0.0}
        for res, m in zip(k.results, f.output_sizes, strict=True)
    ]


def check_csc(p: JacobianPattern) -> None:
    m, n = p.shape
    assert len(p.indptr) == n + 1 and p.indptr[0] == 0 and p.indptr[-1] == p.nnz
    for j in range(n):
        col = p.indices[p.indptr[j] : p.indptr[j + 1]]
        assert list(col) == sorted(set(col)) and all(0 <= i < m for i in col)


def check_coloring(J: SparseJacobian) -> None:
    """No two members of a group share a row (forward) or a column (reverse), and every row or
    column with a nonzero is in exactly one group."""
    plan = J.sweeps
    entries: list[tuple[int, int]] = []
    offset = 0
    for p in J.patterns:
        entries.extend((offset + i, j) for i, j in zip(p.rows, p.cols, strict=True))
        offset += p.m
    key = 1 if plan.mode == "forward" else 0  # forward groups columns, reverse groups rows
    members = [e[key] for e in entries]
    grouped = [x for g in plan.groups for x in g]
    assert sorted(grouped) == sorted(set(members))
    for group in plan.groups:
        seen: set[int] = set()
        chosen = set(group)
        for e in entries:
            if e[key] in chosen:
                other = e[1 - key]
                assert other not in seen, f"{plan.mode} group {group} shares {other}"
                seen.add(other)


CASES = [
    ("shooting", lambda: shooting(4), 0, lambda: [[math.sin(0.7 * k + 0.3) for k in range(14)]], "reverse"),
    ("fanout", fanout, 0, lambda: [[0.3, -1.1, 0.7, 1.4]], "forward"),
    ("gated_x", gated, 0, lambda: [[0.5, -0.8, 1.3, 0.6], 0.9], None),
    ("gated_p", gated, 1, lambda: [[0.5, -0.8, 1.3, 0.6], 0.9], None),
]


@pytest.mark.parametrize(("label", "make", "wrt", "args", "mode"), CASES, ids=[c[0] for c in CASES])
def test_values_pattern_and_coloring(
    label: str, make: object, wrt: int, args: object, mode: str | None
) -> None:
    f = make()  # type: ignore[operator]
    a = args()  # type: ignore[operator]
    J = f.sparse_jacobian(wrt)
    if mode is not None:
        assert J.sweeps.mode == mode
    assert len(J.patterns) == len(f.output_sizes)
    for p, m in zip(J.patterns, f.output_sizes, strict=True):
        assert p.shape == (m, f.input_sizes[wrt])
        check_csc(p)
    assert [set(zip(p.rows, p.cols, strict=True)) for p in J.patterns] == structural(f, wrt)
    check_coloring(J)
    values = J.function(*a)
    values = values if isinstance(values, tuple) else (values,)
    for p, vals, dense in zip(J.patterns, values, dense_blocks(f, wrt, a), strict=True):
        vals = [vals] if isinstance(vals, float) else vals
        assert len(vals) == p.nnz
        got = p.to_dense(vals)
        for i, row in enumerate(dense):
            for j, ref in enumerate(row):
                if J.sweeps.mode == "reverse":
                    assert got[i][j] == ref  # the same reverse sweeps: bit-identical
                else:
                    assert math.isclose(got[i][j], ref, rel_tol=1e-15, abs_tol=1e-15)


def test_shooting_against_complex_step() -> None:
    N = 6
    w = [math.sin(0.9 * k + 0.2) for k in range(3 * N + 2)]
    J = shooting(N).sparse_jacobian(0)
    got = J.to_dense(J.function(w))
    ref = analytic_defect_jacobian(w, N)
    for i in range(2 * N):
        for j in range(3 * N + 2):
            assert math.isclose(got[i][j], ref[i][j], rel_tol=1e-13, abs_tol=1e-15), (i, j)
    # each defect row: its stage's theta, omega, u and one next-state entry
    assert J.nnz == 8 * N
    assert J.indptr[:4] == (0, 2, 4, 6)


def test_banded_1000_stages_cost_a_handful_of_sweeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 2000 x 3002 banded Jacobian: 4 reverse sweeps (dense: 2000), a linear kernel, and the
    dense Jacobian's row-by-row builder never runs."""
    from gradgen.passes.autodiff_sweeps import DerivativeGraph

    def dense(*args: object) -> list[int]:
        raise AssertionError("the sparse Jacobian built the dense Jacobian")

    monkeypatch.setattr(DerivativeGraph, "jacobian", dense)
    N = 1000
    f = shooting(N)
    J = f.sparse_jacobian(0)
    assert J.shape == (2 * N, 3 * N + 2) and J.nnz == 8 * N
    assert J.sweeps.mode == "reverse" and J.sweeps.sweeps <= 6
    assert J.sweeps.dense_sweeps == 2 * N
    assert J.function.kernel.op_count() < 2 * f.kernel.op_count()
    check_coloring(J)
    w = [0.4 * math.cos(0.37 * k) for k in range(3 * N + 2)]
    vals = J.function(w)
    # spot-check stage 500's rows against the small problem's closed form (same stage function)
    small = analytic_defect_jacobian(w[1500:1505], 1)
    got = J.to_dense(vals)
    for r in range(2):
        for c in range(5):
            assert math.isclose(got[1000 + r][1500 + c], small[r][c], rel_tol=1e-13, abs_tol=1e-15)


def test_pattern_object_and_accessors() -> None:
    p = JacobianPattern(2, 3, (0, 1, 1, 3), (1, 0, 1))
    assert p.shape == (2, 3) and p.nnz == 3 and p.cols == (0, 2, 2) and p.matrix == "Jacobian"
    assert p.to_dense([1, 2, 3]) == [[0.0, 0.0, 2.0], [1.0, 0.0, 3.0]]
    assert p.as_json() == {
        "format": "csc",
        "shape": [2, 3],
        "nnz": 3,
        "col_pointers": [0, 1, 1, 3],
        "row_indices": [1, 0, 1],
    }
    J = shooting(2).sparse_jacobian(0)
    assert repr(J) == "SparseJacobian('defects_sparse_jacobian_w': 4x8 nnz=16; 4 reverse sweep(s))"
    assert J.function.output_names == ("jacobian_d_w",) and J.function.input_names == ("w",)
    assert sparse_jacobian(shooting(2)).indices == J.indices
    assert isinstance(J.sweeps, SweepPlan)
    assert J.sweeps.describe().startswith("4 reverse sweep(s) for 4x8, nnz 16")


def test_errors() -> None:
    g = gated()
    with pytest.raises(DifferentiationError, match=r"'gated_sparse_jacobian_x' has 2 Jacobian outputs"):
        _ = g.sparse_jacobian(0).pattern
    with pytest.raises(DifferentiationError, match=r"wrt index 2 is out of range: 'gated' has 2 input"):
        g.sparse_jacobian(2)
    with pytest.raises(DifferentiationError, match=r"wrt must be an input index of 'gated'.*got 'x'"):
        g.sparse_jacobian("x")  # type: ignore[arg-type]
    x = SXVector.sym("x", 2)
    u = SX.sym("u")
    split = Function("split", [x, u], [x * 2.0, u * u], input_names=["x", "u"], output_names=["a", "b"])
    with pytest.raises(
        DifferentiationError,
        match=r"Jacobian output 'jacobian_b_x' of 'split_sparse_jacobian_x' is structurally",
    ):
        split.sparse_jacobian(0)
    with pytest.raises(GradgenTypeError, match=r"expected a gradgen Function, got int"):
        sparse_jacobian(3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"sparse must be True or False, got 1"):
        CodeGenerationBuilder().for_function(g).add_jacobian(sparse=1)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"sparse must be True or False, got 'no'"):
        FunctionBundle().add_jf(sparse="no")  # type: ignore[arg-type]
    with pytest.raises(
        DifferentiationError, match=r"Jacobian output 'jacobian_b_x' of .* is structurally zero"
    ):
        CodeGenerationBuilder().for_function(split).add_jacobian(wrt=0, sparse=True).done().generate("c")


def test_dump_stats_report_sweeps(capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path) -> None:
    target = tmp_path / "shoot.py"
    target.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(pathlib.Path(__file__).resolve().parent.parent)!r})\n"
        "from tests.test_sparse_jacobian import shooting\n"
        "f = shooting(50)\n"
    )
    code = dump_main([f"{target}:f", "--kernel", "sparse_jacobian", "--stats", "--emit", "none"])
    out = capsys.readouterr().out
    assert code == 0
    assert "sparse sweeps" in out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("jacobian_d_w"))
    assert "4 reverse sweep(s) for 100x152, nnz 400" in line and "dense: 100 reverse" in line


# ---- the builder crate, compiled --------------------------------------------------------------------


def jac_builder() -> CodeGenerationBuilder:
    return (
        CodeGenerationBuilder()
        .for_function(shooting(5))
        .add_jacobian(sparse=True)
        .add_jacobian()
        .done()
        .for_function(fanout())
        .add_jacobian(sparse=True)
        .done()
        .for_function(gated())
        .add_joint(FunctionBundle().add_f().add_jf(wrt=[0, 1], sparse=True))
        .done()
    )


@pytest.fixture(scope="module")
def crate_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("sparsej") / "sparse_jac"
    jac_builder().build(root)
    return root


@pytest.fixture(scope="module")
def compiled(crate_dir: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> CompiledCrate:
    return gg.compile(crate_dir, build_dir=tmp_path_factory.mktemp("sparsej-cache"), env=cargo_env())


def test_builder_names_constants_and_metadata(crate_dir: pathlib.Path) -> None:
    meta = json.loads((crate_dir / "metadata.json").read_text())
    names = [fn["name"] for fn in meta["functions"]]
    assert names == [
        "sparse_jac_defects_jf_sparse",
        "sparse_jac_defects_jf",
        "sparse_jac_fan_jf_sparse",
        "sparse_jac_gated_f_jf_sparse_x_p",
    ]
    J = shooting(5).sparse_jacobian(0)
    (sp,) = meta["functions"][0]["sparse_outputs"]
    assert sp == {
        "output": "jacobian_d_w",
        "format": "csc",
        "shape": [10, 17],
        "nnz": 40,
        "col_pointers": list(J.indptr),
        "row_indices": list(J.indices),
        "constants": {
            "nnz": "SPARSE_JAC_DEFECTS_JF_SPARSE_NNZ",
            "col_pointers": "SPARSE_JAC_DEFECTS_JF_SPARSE_COL_POINTERS",
            "row_indices": "SPARSE_JAC_DEFECTS_JF_SPARSE_ROW_INDICES",
        },
    }
    assert meta["functions"][0]["outputs"][0]["size"] == 40
    assert "sparse_outputs" not in meta["functions"][1]
    joint = meta["functions"][3]
    joint_names = ["a", "b", "jacobian_a_x", "jacobian_b_x", "jacobian_a_p", "jacobian_b_p"]
    assert [o["name"] for o in joint["outputs"]] == joint_names
    assert [s["output"] for s in joint["sparse_outputs"]] == joint_names[2:]
    # a = if_else(x0 > 0, x1 x2, sin x2) + floor(x3) + p x1: x0 and x3 are structural zeros
    assert joint["sparse_outputs"][0]["shape"] == [1, 4]
    assert joint["sparse_outputs"][0]["col_pointers"] == [0, 0, 1, 2, 2]
    source = (crate_dir / "src" / "lib.rs").read_text()
    assert rustfmt_check(source) is None
    assert "pub const SPARSE_JAC_DEFECTS_JF_SPARSE_NNZ: usize = 40;" in source
    assert (
        "/// Row index of each value of the sparse Jacobian `jacobian_d_w` of "
        "[`sparse_jac_defects_jf_sparse`], column by column." in source
    )
    assert (
        "/// Computes the structural nonzeros of the Jacobian of `defects` with respect to `w` "
        "(compressed-column order)." in source
    )


def test_builder_crate_builds_and_lints(crate_dir: pathlib.Path) -> None:
    build_and_lint(crate_dir)


def test_compiled_values_equal_python(compiled: CompiledCrate) -> None:
    rng = random.Random(19)
    f = shooting(5)
    J = f.sparse_jacobian(0)
    for _ in range(3):
        w = [rng.uniform(-1.5, 1.5) for _ in range(17)]
        assert list(compiled.sparse_jac_defects_jf_sparse(w)) == J.function(w)
        dense = list(compiled.sparse_jac_defects_jf(w))
        got = J.to_dense(J.function(w))
        assert [v for row in got for v in row] == dense
    fan = fanout()
    F = fan.sparse_jacobian(0)
    x4 = [0.3, -1.1, 0.7, 1.4]
    assert list(compiled.sparse_jac_fan_jf_sparse(x4)) == F.function(x4)
    g = gated()
    x, p = [0.5, -0.8, 1.3, 0.6], 0.9
    a, b, jax, jbx, jap, jbp = compiled.sparse_jac_gated_f_jf_sparse_x_p(x, p)
    ref_a, ref_b = g(x, p)
    assert float(a) == ref_a and list(b) == ref_b
    Jx, Jp = g.sparse_jacobian(0), g.sparse_jacobian(1)
    assert (list(jax), list(jbx)) == tuple(list(v) for v in Jx.function(x, p))
    want_p = Jp.function(x, p)
    assert [float(v) for v in (jap if hasattr(jap, "__len__") else [jap])] == [
        float(v) for v in (want_p[0] if hasattr(want_p[0], "__len__") else [want_p[0]])
    ]
    assert list(jbp) == list(want_p[1])


def test_dense_jacobian_is_not_colored_quadratically() -> None:
    """A dense 120 x 120 Jacobian (y = A x): no grouping is possible, each row is its own sweep,
    and the complete conflict graph is never built."""
    n = 120
    x = SXVector.sym("x", n)
    ys = [sum((math.sin(i + 2 * j + 1) * x[j] for j in range(n)), SX.const(0.0)) for i in range(n)]
    f = Function("dense", [x], [SXVector(ys)])
    J = f.sparse_jacobian(0)
    assert J.nnz == n * n and J.sweeps.sweeps == n and J.sweeps.mode == "reverse"
    assert J.sweeps.groups == tuple((i,) for i in range(n))
    xv = [0.01 * k for k in range(n)]
    got = J.to_dense(J.function(xv))
    assert got[7][11] == math.sin(7 + 22 + 1)
