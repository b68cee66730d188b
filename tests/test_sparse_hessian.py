"""Sparse Hessians (``gradgen.sparse``): pattern and values against the dense Hessian and closed
forms in Python evaluation, the builder's ``add_hessian(sparse=True)`` crate compiled with cargo
(build, clippy -D warnings, rustfmt-exact) and called through ``gradgen.compile``, and the errors.
"""

from __future__ import annotations

import json
import math
import pathlib
import re

import pytest

import gradgen as gg
from gradgen import SX, CodeGenerationBuilder, Function, FunctionBundle, SXVector
from gradgen.backends.metadata import usize_item
from gradgen.errors import ConfigError, DifferentiationError, EvaluationArgumentError, GradgenTypeError
from gradgen.native_call import CompiledCrate
from gradgen.sparse import HessianPattern, sparse_hessian
from tests.cargo import build_and_lint, cargo_env, rustfmt_check

# ---- test functions ---------------------------------------------------------------------------------


def rosenbrock(n: int) -> Function:
    x = SXVector.sym("x", n)
    acc = None
    for i in range(n - 1):
        term = 100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
        acc = term if acc is None else acc + term
    return Function("rosen", [x], [acc])


def rosen_hess(x: list[float]) -> list[list[float]]:
    """Closed-form tridiagonal Rosenbrock Hessian."""
    n = len(x)
    H = [[0.0] * n for _ in range(n)]
    for i in range(n - 1):
        H[i][i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        H[i + 1][i + 1] += 200
        H[i][i + 1] = H[i + 1][i] = -400 * x[i]
    return H


A = [[math.sin(3 * i + 2 * j + 1) for i in range(5)] for j in range(4)]


def logsumexp() -> Function:
    """log(sum_j exp(A_j x)): every Hessian entry is a structural nonzero."""
    x = SXVector.sym("x", 5)
    total = None
    for row in A:
        z = sum((a * xi for a, xi in zip(row, x, strict=True)), SX.const(0.0))
        total = gg.exp(z) if total is None else total + gg.exp(z)
    return Function("lse", [x], [gg.log(total)])


def lse_hess(x: list[float]) -> list[list[float]]:
    z = [sum(a * xi for a, xi in zip(row, x, strict=True)) for row in A]
    e = [math.exp(v) for v in z]
    p = [v / sum(e) for v in e]
    g = [sum(p[j] * A[j][i] for j in range(4)) for i in range(5)]
    return [
        [sum(p[j] * A[j][i] * A[j][k] for j in range(4)) - g[i] * g[k] for k in range(5)] for i in range(5)
    ]


def isolated() -> Function:
    """Isolated zeros: x0 x2 + sin(x1) + x3^3 + x0^2 x3 (x1 couples with nothing, x2 only with x0)."""
    x = SXVector.sym("x", 4)
    return Function("iso", [x], [x[0] * x[2] + gg.sin(x[1]) + x[3] ** 3 + x[0] ** 2 * x[3]])


ISO_FULL = {(0, 0), (2, 0), (3, 0), (1, 1), (0, 2), (0, 3), (3, 3)}


def iso_hess(x: list[float]) -> list[list[float]]:
    return [
        [2 * x[3], 0.0, 1.0, 2 * x[0]],
        [0.0, -math.sin(x[1]), 0.0, 0.0],
        [1.0, 0.0, 0.0, 0.0],
        [2 * x[0], 0.0, 0.0, 6 * x[3]],
    ]


def multi() -> Function:
    """Two inputs: e = x0^2 x1 + x1 x2 + u^2 x0 + u^3 (scalar input u)."""
    x = SXVector.sym("x", 3)
    u = SX.sym("u")
    return Function(
        "multi", [x, u], [x[0] ** 2 * x[1] + x[1] * x[2] + u * u * x[0] + u**3], input_names=["x", "u"]
    )


def multi_hess(x: list[float], u: float, wrt: int) -> list[list[float]]:
    if wrt == 1:
        return [[2 * x[0] + 6 * u]]
    return [[2 * x[1], 2 * x[0], 0.0], [2 * x[0], 0.0, 1.0], [0.0, 1.0, 0.0]]


def dense_of(f: Function, wrt: int, args: list[object]) -> list[list[float]]:
    flat = f.hessian(wrt)(*args)
    n = f.input_sizes[wrt]
    flat = [flat] if isinstance(flat, float) else flat
    return [list(flat[i * n : (i + 1) * n]) for i in range(n)]


def in_triangle(i: int, j: int, triangle: str) -> bool:
    return triangle == "full" or (i >= j if triangle == "lower" else i <= j)


def check_csc(H: gg.sparse.SparseHessian) -> None:
    """indptr/indices/rows/cols describe one CSC pattern: sorted rows inside each column."""
    n = H.shape[0]
    assert len(H.indptr) == n + 1 and H.indptr[0] == 0 and H.indptr[-1] == H.nnz
    assert list(H.rows) == list(H.indices)
    for j in range(n):
        col = H.indices[H.indptr[j] : H.indptr[j + 1]]
        assert list(col) == sorted(set(col))
        assert all(H.cols[k] == j for k in range(H.indptr[j], H.indptr[j + 1]))


CASES = [
    ("rosen", lambda: rosenbrock(6), 0, [[0.3, -1.2, 0.8, 1.5, -0.4, 0.9]]),
    ("lse", logsumexp, 0, [[0.2, -0.5, 0.7, 0.1, -0.3]]),
    ("iso", isolated, 0, [[0.4, -1.1, 0.6, 1.3]]),
    ("multi_x", multi, 0, [[0.5, -0.7, 1.2], 0.8]),
    ("multi_u", multi, 1, [[0.5, -0.7, 1.2], 0.8]),
]


# ---- Python evaluation ------------------------------------------------------------------------------


@pytest.mark.parametrize("triangle", ["full", "lower", "upper"])
@pytest.mark.parametrize(("label", "make", "wrt", "args"), CASES, ids=[c[0] for c in CASES])
def test_values_and_pattern_match_the_dense_hessian(
    label: str, make: object, wrt: int, args: list[object], triangle: str
) -> None:
    f = make()  # type: ignore[operator]
    H = f.sparse_hessian(wrt=wrt, triangle=triangle)
    n = f.input_sizes[wrt]
    check_csc(H)
    assert H.shape == (n, n) and H.triangle == triangle
    dense = dense_of(f, wrt, args)
    # every structural nonzero of the dense kernel in the triangle is in the pattern, nothing else
    dense_kernel = f.hessian(wrt).kernel
    res = dense_kernel.results[0]
    structural = {
        (i, j)
        for i in range(n)
        for j in range(n)
        if dense_kernel.const_value(res[i * n + j]) != 0.0 and in_triangle(i, j, triangle)
    }
    assert set(zip(H.rows, H.cols, strict=True)) == structural
    values = H.function(*args)
    values = [values] if isinstance(values, float) else values
    assert len(values) == H.nnz
    for v, i, j in zip(values, H.rows, H.cols, strict=True):
        assert v == dense[i][j]  # the same graph: bit-identical
    full = H.to_dense(values, mirror=True)
    assert full == dense
    tri = H.to_dense(values)
    assert all(
        tri[i][j] == (dense[i][j] if in_triangle(i, j, triangle) else 0.0) for i in range(n) for j in range(n)
    )


def test_closed_forms() -> None:
    x = [0.3, -1.2, 0.8, 1.5, -0.4, 0.9]
    H = rosenbrock(6).sparse_hessian()
    ref = rosen_hess(x)
    got = H.to_dense(H.function(x))
    assert all(
        math.isclose(got[i][j], ref[i][j], rel_tol=1e-14, abs_tol=1e-12) for i in range(6) for j in range(6)
    )
    x5 = [0.2, -0.5, 0.7, 0.1, -0.3]
    L = logsumexp().sparse_hessian(triangle="lower")
    assert L.nnz == 15  # dense: every entry of the lower triangle
    got = L.to_dense(L.function(x5), mirror=True)
    ref = lse_hess(x5)
    assert all(
        math.isclose(got[i][j], ref[i][j], rel_tol=1e-12, abs_tol=1e-14) for i in range(5) for j in range(5)
    )
    x4 = [0.4, -1.1, 0.6, 1.3]
    iso = isolated().sparse_hessian()
    assert set(zip(iso.rows, iso.cols, strict=True)) == ISO_FULL
    got4, ref4 = iso.to_dense(iso.function(x4)), iso_hess(x4)
    assert all(math.isclose(got4[i][j], ref4[i][j], rel_tol=1e-15) for i in range(4) for j in range(4))
    m = multi()
    Hu = m.sparse_hessian(wrt=1)
    assert (Hu.nnz, Hu.indptr, Hu.indices) == (1, (0, 1), (0,))
    assert Hu.function([0.5, -0.7, 1.2], 0.8) == pytest.approx(multi_hess([0.5, -0.7, 1.2], 0.8, 1)[0][0])
    Hx = m.sparse_hessian(wrt=0, triangle="upper")
    # x0^2 x1 + x1 x2: (0,0), (0,1), (1,2) in the upper triangle; (1,1), (2,2), (0,2) are zero
    assert (Hx.indptr, Hx.indices) == ((0, 1, 2, 3), (0, 0, 1))
    assert Hx.function.input_names == ("x", "u") and Hx.function.output_names == ("hessian_x",)
    assert Hx.function.name == "multi_sparse_hessian_x"


def test_structural_means_before_simplification() -> None:
    """(x0 - x0) x0 x1 is 0 everywhere, but only simplification can tell: its entries keep their
    slots (value 0), while constant partials that fold to 0 at construction (1 - 1) do not."""
    x = SXVector.sym("x", 2)
    f = Function("cancel", [x], [(x[0] - x[0]) * x[0] * x[1] + x[0] ** 2])
    H = f.sparse_hessian()
    assert set(zip(H.rows, H.cols, strict=True)) == {(0, 0), (1, 0), (0, 1)}
    assert H.function([1.5, 2.0]) == [2.0, 0.0, 0.0]
    simplified = H.function.simplify("high")
    assert simplified.output_sizes == (3,)  # the layout does not depend on the level
    assert simplified([1.5, 2.0]) == [2.0, 0.0, 0.0]


def test_rosenbrock_1000_is_linear() -> None:
    n = 1000
    H = rosenbrock(n).sparse_hessian(triangle="lower")
    assert H.nnz == 2 * n - 1
    assert H.indptr[:4] == (0, 2, 4, 6) and H.indptr[-1] == 2 * n - 1
    assert H.function.kernel.op_count() < 20 * n  # O(n): no n^2 term anywhere
    full = rosenbrock(n).sparse_hessian()
    assert full.nnz == 3 * n - 2
    x = [1.0 + 0.5 * math.sin(1.3 * i + 0.1) for i in range(n)]
    values = full.function(x)
    ref = rosen_hess(x)
    for v, i, j in zip(values, full.rows, full.cols, strict=True):
        assert math.isclose(v, ref[i][j], rel_tol=1e-13, abs_tol=1e-10)


def test_pattern_object() -> None:
    p = HessianPattern(3, "lower", (0, 2, 3, 4), (0, 2, 1, 2))
    assert p.shape == (3, 3) and p.nnz == 4 and p.cols == (0, 0, 1, 2)
    assert p.to_dense([1, 2, 3, 4]) == [[1.0, 0.0, 0.0], [0.0, 3.0, 0.0], [2.0, 0.0, 4.0]]
    assert p.to_dense([1, 2, 3, 4], mirror=True) == [[1.0, 0.0, 2.0], [0.0, 3.0, 0.0], [2.0, 0.0, 4.0]]
    assert p.as_json() == {
        "format": "csc",
        "shape": [3, 3],
        "triangle": "lower",
        "nnz": 4,
        "col_pointers": [0, 2, 3, 4],
        "row_indices": [0, 2, 1, 2],
    }
    with pytest.raises(EvaluationArgumentError, match=r"to_dense needs 4 values .*got 3"):
        p.to_dense([1, 2, 3])
    with pytest.raises(EvaluationArgumentError, match=r"to_dense needs a sequence of 4 numbers, got 'abcd'"):
        p.to_dense("abcd")  # type: ignore[arg-type]
    assert (
        repr(rosenbrock(4).sparse_hessian()) == "SparseHessian('rosen_sparse_hessian_x': 4x4, full, nnz=10)"
    )


# ---- errors ------------------------------------------------------------------------------------------


def test_errors() -> None:
    x = SXVector.sym("x", 2)
    vec = Function("vec", [x], [x * 2.0])
    with pytest.raises(DifferentiationError, match=r"the hessian of 'vec' needs exactly one scalar output"):
        vec.sparse_hessian()
    f = rosenbrock(3)
    with pytest.raises(DifferentiationError, match=r"wrt index 1 is out of range: 'rosen' has 1 input"):
        f.sparse_hessian(wrt=1)
    with pytest.raises(DifferentiationError, match=r"wrt must be an input index of 'rosen'.*got 'x'"):
        f.sparse_hessian(wrt="x")  # type: ignore[arg-type]
    with pytest.raises(
        DifferentiationError, match=r"triangle must be one of 'full', 'lower', 'upper', got 'diag'"
    ):
        f.sparse_hessian(triangle="diag")
    with pytest.raises(DifferentiationError, match=r"triangle must be one of .*got None"):
        f.sparse_hessian(triangle=None)  # type: ignore[arg-type]
    lin = Function("lin", [x], [x[0] * 3.0 + x[1]])
    with pytest.raises(
        DifferentiationError, match=r"the Hessian of 'lin' with respect to 'x' is structurally zero"
    ):
        lin.sparse_hessian()
    with pytest.raises(GradgenTypeError, match=r"expected a gradgen Function, got str"):
        sparse_hessian("f")  # type: ignore[arg-type]
    b = CodeGenerationBuilder().for_function(vec)
    with pytest.raises(DifferentiationError, match=r"cannot add the sparse Hessian of 'vec'"):
        b.add_hessian(sparse=True)
    b = CodeGenerationBuilder().for_function(f)
    with pytest.raises(DifferentiationError, match=r"triangle must be one of .*got 'both'"):
        b.add_hessian(sparse=True, triangle="both")
    with pytest.raises(ConfigError, match=r"sparse must be True or False, got 'yes'"):
        b.add_hessian(sparse="yes")  # type: ignore[arg-type]
    bundle = FunctionBundle().add_hessian(sparse=True, triangle="lower")
    with pytest.raises(ConfigError, match=r"already has a sparse Hessian with triangle='lower'.*'upper'"):
        bundle.add_hessian(sparse=True, triangle="upper")
    with pytest.raises(DifferentiationError, match=r"Hessian output 'hessian_x' of .* is structurally zero"):
        CodeGenerationBuilder().for_function(lin).add_joint(
            FunctionBundle().add_f().add_hessian(sparse=True)
        ).done().generate("lin_crate")


# ---- Rust constants layout ---------------------------------------------------------------------------


def test_usize_arrays_are_rustfmt_exact() -> None:
    items = [
        usize_item("A_NNZ", 7),
        usize_item("A_ROW_INDICES", [0, 1, 0]),
        usize_item("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTU_ROW_INDICES", list(range(12))),
        usize_item("A_COL_POINTERS", [3 * k for k in range(40)]),
        usize_item("B_COL_POINTERS", [7 + 13 * k for k in range(23)]),
        usize_item("B_ROW_INDICES", [k % 997 for k in range(2998)]),
    ]
    source = "\n".join(items) + "\n"
    assert rustfmt_check(source) is None


# ---- the builder crate, compiled ------------------------------------------------------------------------


def sparse_builder() -> CodeGenerationBuilder:
    return (
        CodeGenerationBuilder()
        .for_function(rosenbrock(6))
        .add_hessian(sparse=True)
        .add_primal()
        .done()
        .for_function(multi())
        .add_hessian(wrt=0, sparse=True, triangle="upper")
        .add_hessian(wrt=1)
        .add_joint(
            FunctionBundle()
            .add_f()
            .add_gradient(wrt=0)
            .add_hessian(wrt=[0, 1], sparse=True, triangle="lower")
        )
        .done()
        .for_function(logsumexp())
        .add_hessian(sparse=True, triangle="lower")
        .done()
    )


@pytest.fixture(scope="module")
def crate_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("sparse") / "sparse_hess"
    sparse_builder().build(root)
    return root


@pytest.fixture(scope="module")
def compiled(crate_dir: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> CompiledCrate:
    return gg.compile(crate_dir, build_dir=tmp_path_factory.mktemp("sparse-cache"), env=cargo_env())


def test_builder_names_constants_and_metadata(crate_dir: pathlib.Path) -> None:
    meta = json.loads((crate_dir / "metadata.json").read_text())
    names = [fn["name"] for fn in meta["functions"]]
    assert names == [
        "sparse_hess_rosen_hessian_sparse",
        "sparse_hess_rosen_f",
        "sparse_hess_multi_hessian_sparse_x",
        "sparse_hess_multi_hessian_u",
        "sparse_hess_multi_f_grad_x_hessian_sparse_x_u",
        "sparse_hess_lse_hessian_sparse",
    ]
    rosen = meta["functions"][0]
    (sp,) = rosen["sparse_outputs"]
    H = rosenbrock(6).sparse_hessian()
    assert sp == {
        "output": "hessian_x",
        "format": "csc",
        "shape": [6, 6],
        "triangle": "full",
        "nnz": 16,
        "col_pointers": list(H.indptr),
        "row_indices": list(H.indices),
        "constants": {
            "nnz": "SPARSE_HESS_ROSEN_HESSIAN_SPARSE_NNZ",
            "col_pointers": "SPARSE_HESS_ROSEN_HESSIAN_SPARSE_COL_POINTERS",
            "row_indices": "SPARSE_HESS_ROSEN_HESSIAN_SPARSE_ROW_INDICES",
        },
    }
    assert rosen["outputs"][0]["size"] == 16
    assert "sparse_outputs" not in meta["functions"][1] and "sparse_outputs" not in meta["functions"][3]
    joint = meta["functions"][4]
    assert [s["output"] for s in joint["sparse_outputs"]] == ["hessian_x", "hessian_u"]
    assert (
        joint["sparse_outputs"][0]["constants"]["nnz"]
        == "SPARSE_HESS_MULTI_F_GRAD_X_HESSIAN_SPARSE_X_U_HESSIAN_X_NNZ"
    )
    assert joint["sparse_outputs"][0]["row_indices"] == [0, 1, 2]  # lower: (0,0), (1,0), (2,1)
    assert joint["sparse_outputs"][0]["col_pointers"] == [0, 2, 3, 3]
    assert [o["size"] for o in joint["outputs"]] == [1, 3, 3, 1]
    source = (crate_dir / "src" / "lib.rs").read_text()
    assert rustfmt_check(source) is None
    expected = (
        "/// Row index of each value of the sparse Hessian `hessian_x` of "
        "[`sparse_hess_rosen_hessian_sparse`], column by column.\n"
        "pub const SPARSE_HESS_ROSEN_HESSIAN_SPARSE_ROW_INDICES: [usize; 16] =\n"
        "    [0, 1, 0, 1, 2, 1, 2, 3, 2, 3, 4, 3, 4, 5, 4, 5];\n"
    )
    assert expected in source
    assert "pub const SPARSE_HESS_ROSEN_HESSIAN_SPARSE_NNZ: usize = 16;" in source
    assert (
        "pub const SPARSE_HESS_ROSEN_HESSIAN_SPARSE_COL_POINTERS: [usize; 7] = [0, 2, 5, 8, 11, 14, 16];"
        in source
    )
    assert (
        "/// Computes the structural nonzeros of the Hessian of `rosen` with respect to `x` (full matrix, "
        "compressed-column order)." in source
    )
    body = source[source.index("pub fn sparse_hess_rosen_hessian_sparse(") :]
    body = body[: body.index("\n}\n")]
    assert ".fill(0.0)" not in body
    assert len(re.findall(r"hessian_x\[\d+\] = ", body)) == 16


def test_builder_crate_builds_and_lints(crate_dir: pathlib.Path) -> None:
    build_and_lint(crate_dir)


def test_compiled_values(compiled: CompiledCrate) -> None:
    x6 = [0.3, -1.2, 0.8, 1.5, -0.4, 0.9]
    R = rosenbrock(6).sparse_hessian()
    assert list(compiled.sparse_hess_rosen_hessian_sparse(x6)) == R.function(x6)
    ref = rosen_hess(x6)
    got = R.to_dense(list(compiled.sparse_hess_rosen_hessian_sparse(x6)))
    assert all(
        math.isclose(got[i][j], ref[i][j], rel_tol=1e-14, abs_tol=1e-12) for i in range(6) for j in range(6)
    )
    m = multi()
    x3, u = [0.5, -0.7, 1.2], 0.8
    up = m.sparse_hessian(0, "upper")
    assert list(compiled.sparse_hess_multi_hessian_sparse_x(x3, u)) == up.function(x3, u)
    assert up.to_dense(up.function(x3, u), mirror=True) == multi_hess(x3, u, 0)
    y, grad, hx, hu = compiled.sparse_hess_multi_f_grad_x_hessian_sparse_x_u(x3, u)
    assert y == pytest.approx(m(x3, u), rel=1e-15)
    assert list(grad) == pytest.approx(m.gradient(0)(x3, u), rel=1e-15)
    low = m.sparse_hessian(0, "lower")
    assert list(hx) == low.function(x3, u)
    assert float(hu if isinstance(hu, float) else hu[0]) == pytest.approx(
        multi_hess(x3, u, 1)[0][0], rel=1e-15
    )
    assert float(compiled.sparse_hess_multi_hessian_u(x3, u)) == pytest.approx(2 * x3[0] + 6 * u, rel=1e-15)
    x5 = [0.2, -0.5, 0.7, 0.1, -0.3]
    L = logsumexp().sparse_hessian(triangle="lower")
    got5 = L.to_dense(list(compiled.sparse_hess_lse_hessian_sparse(x5)), mirror=True)
    ref5 = lse_hess(x5)
    assert all(
        math.isclose(got5[i][j], ref5[i][j], rel_tol=1e-12, abs_tol=1e-14) for i in range(5) for j in range(5)
    )


def test_sparse_path_never_builds_the_dense_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sparse kernel comes from the lower-triangle entries (``O(nnz)``); the ``n*n`` list of
    the dense Hessian is never built, so large ``n`` stays linear."""
    from gradgen.passes import autodiff
    from gradgen.passes.sparsity import sparse_hessian_kernel

    def dense(*args: object) -> list[int]:
        raise AssertionError("the sparse Hessian built the dense n*n list")

    monkeypatch.setattr(autodiff.DerivativeGraph, "hessian", dense)
    n = 2000
    kernel, pattern = sparse_hessian_kernel(rosenbrock(n).kernel, 0, "full")
    assert pattern.nnz == 3 * n - 2 and kernel.outputs[0].size == pattern.nnz
    assert kernel.op_count() < 20 * n
