"""``SXVector``, vector reductions, matrix helpers and elementwise functions, checked against numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradgen as gg
from gradgen import SX, Function, GradgenTypeError, ShapeError, SXVector
from gradgen.ir.ops import Op

X = SXVector.sym("x", 3)
Y = SXVector.sym("y", 3)
s = SX.sym("s")
XV = np.array([0.5, -1.25, 2.0])
YV = np.array([3.0, 0.75, -0.5])


def ev(expr):
    """Evaluate an SX or SXVector of X, Y and s at XV, YV, s=1.5."""
    f = Function("f", [X, Y, s], [expr])
    return np.asarray(f(XV, YV, 1.5))


def test_sym_names_and_sequence_protocol():
    assert [e.name for e in X] == ["x_0", "x_1", "x_2"]
    assert X.name == "x"
    assert len(X) == 3
    assert X[0] is SX.sym("x_0")
    assert X[-1] is SX.sym("x_2")
    assert X[np.int64(1)] is SX.sym("x_1")
    assert isinstance(X[1:], SXVector) and list(X[1:]) == [X[1], X[2]]
    assert list(X[::-1]) == [X[2], X[1], X[0]]
    assert SXVector.sym("x", 3) == X  # same symbols by name
    assert hash(SXVector.sym("x", 3)) == hash(X)


def test_index_errors():
    with pytest.raises(IndexError, match="index 3 is out of range for an SXVector of length 3"):
        X[3]
    with pytest.raises(GradgenTypeError, match="indices must be integers or slices, not str"):
        X["a"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: SXVector.sym("x", -3), GradgenTypeError, "non-negative integer length, got -3"),
        (lambda: SXVector.sym("x", 2.0), GradgenTypeError, "non-negative integer length, got 2.0"),
        (lambda: SXVector.sym("", 2), GradgenTypeError, "non-empty string"),
        (lambda: SXVector(5), GradgenTypeError, "iterable of expressions or numbers, got int"),
        (lambda: SXVector(["a"]), GradgenTypeError, "expected a scalar expression or a number, got str"),
        (lambda: SXVector("ab"), GradgenTypeError, "iterable of expressions or numbers, got 'ab'"),
        (lambda: X + Y[:2], ShapeError, "vectors of lengths 3 and 2"),
        (lambda: X * [1.0, 2.0], ShapeError, "vectors of lengths 3 and 2"),
        (lambda: X.dot(Y[:2]), ShapeError, "dot product of vectors of lengths 3 and 2"),
        (lambda: SXVector().mean(), ShapeError, "mean of an empty vector"),
        (lambda: SXVector().norm2(), ShapeError, "norm of an empty vector"),
        (lambda: X.norm_p(0), GradgenTypeError, "finite and positive, got 0.0"),
        (lambda: X.norm_p(-1), GradgenTypeError, "finite and positive, got -1.0"),
        (lambda: X.norm_p(math.inf), GradgenTypeError, "finite and positive, got inf"),
        (lambda: X.norm_p("2"), GradgenTypeError, "must be a number, got str"),
        (lambda: X.norm_p_to_p(s), GradgenTypeError, "must be a number, got SX"),
        (lambda: gg.maximum(X, Y[:2]), ShapeError, "vectors of lengths 3 and 2"),
        (lambda: gg.if_else(X, Y[:2], 1.0), ShapeError, "if_else on vectors of lengths 2 and 3"),
        (
            lambda: gg.matvec([[1, 2], [3, 4]], X),
            ShapeError,
            "matrix has 2 columns but the vector has length 3",
        ),
        (lambda: gg.matvec([[1, 2], [3]], X[:2]), ShapeError, "rows of equal length"),
        (lambda: gg.matvec([], X), ShapeError, "non-empty list of rows"),
        (lambda: gg.matvec(3, X), GradgenTypeError, "sequence of rows"),
        (
            lambda: gg.matvec([["a", 1, 2]], X),
            GradgenTypeError,
            "matrix entry must be a number or an SX, got str",
        ),
        (lambda: gg.quadform([[1, 2, 3]], X), ShapeError, "square matrix, got 1x3"),
        (lambda: gg.bilinear_form(X[:2], np.eye(3), Y), ShapeError, "matrix has 3 rows but x has length 2"),
    ],
)
def test_vector_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_concatenation_and_vector():
    c = SXVector((*X, *Y))
    assert len(c) == 6 and c[3] is Y[0]
    assert list(gg.vector(e * 2 for e in X)) == [X[0] * 2, X[1] * 2, X[2] * 2]
    v = gg.vector([1, 2.5, X[0]])
    assert v[0] is SX.const(1.0) and v[2] is X[0]
    assert SXVector(X[0]) == SXVector([X[0]])
    assert SXVector(np.array([1.0, 2.0]))[1] is SX.const(2.0)


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: X + Y, XV + YV),
        (lambda: X - Y, XV - YV),
        (lambda: X * Y, XV * YV),
        (lambda: X / Y, XV / YV),
        (lambda: X + 1, XV + 1),
        (lambda: 1 - X, 1 - XV),
        (lambda: X * s, XV * 1.5),
        (lambda: s / X, 1.5 / XV),
        (lambda: X**2, XV**2),
        (lambda: 2**X, 2**XV),
        (lambda: abs(X) ** 0.5, np.abs(XV) ** 0.5),
        (lambda: X ** [1, 2, 3], XV ** np.array([1, 2, 3])),
        (lambda: -X, -XV),
        (lambda: abs(X), np.abs(XV)),
        (lambda: X + [1.0, 2.0, 3.0], XV + [1.0, 2.0, 3.0]),  # noqa: RUF005 - elementwise, not concatenation
        (lambda: (1.0, 2.0, 3.0) * X, XV * [1.0, 2.0, 3.0]),
        (lambda: X * np.array([1.0, 2.0, 3.0]), XV * [1.0, 2.0, 3.0]),
        (lambda: np.array([1.0, 2.0, 3.0]) + X, XV + [1.0, 2.0, 3.0]),  # noqa: RUF005 - elementwise, not concatenation
        (lambda: np.float64(2.0) * X, 2.0 * XV),
        (lambda: X < Y, (XV < YV).astype(float)),
        (lambda: X >= 0.5, (XV >= 0.5).astype(float)),
        (lambda: X.map(gg.exp), np.exp(XV)),
        (lambda: gg.sin(X), np.sin(XV)),
        (lambda: gg.maximum(X, Y), np.maximum(XV, YV)),
        (lambda: gg.minimum(X, 0.0), np.minimum(XV, 0.0)),
        (lambda: gg.minimum(0.0, X), np.minimum(0.0, XV)),
        (lambda: gg.atan2(X, Y), np.arctan2(XV, YV)),
        (lambda: gg.atan2(1.0, X), np.arctan2(1.0, XV)),
        (lambda: gg.hypot(X, [1.0, 2.0, 3.0]), np.hypot(XV, [1.0, 2.0, 3.0])),
        (lambda: gg.pow(X, 3), XV**3),
        (lambda: gg.pow(2.0, X), 2.0**XV),
        (lambda: gg.if_else(X, Y, X > 0), np.where(XV > 0, XV, YV)),
        (lambda: gg.if_else(X, 0.0, [1.0, 0.0, 1.0]), np.array([XV[0], 0.0, XV[2]])),
        (lambda: gg.if_else(1.0, Y, s > 2), YV),
    ],
)
def test_elementwise_against_numpy(build, expected):
    v = build()
    assert isinstance(v, SXVector)
    np.testing.assert_allclose(ev(v), expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: X.dot(Y), float(XV @ YV)),
        (lambda: X.dot([1.0, 2.0, 3.0]), float(XV @ [1.0, 2.0, 3.0])),
        (lambda: gg.dot(X, Y), float(XV @ YV)),
        (lambda: X.sum(), float(np.sum(XV))),
        (lambda: X.prod(), float(np.prod(XV))),
        (lambda: X.mean(), float(np.mean(XV))),
        (lambda: X.norm2(), float(np.linalg.norm(XV))),
        (lambda: X.norm2sq(), float(XV @ XV)),
        (lambda: X.norm1(), float(np.linalg.norm(XV, 1))),
        (lambda: X.norm_inf(), float(np.linalg.norm(XV, np.inf))),
        (lambda: X.norm_p(3), float(np.linalg.norm(XV, 3))),
        (lambda: X.norm_p(1.5), float(np.linalg.norm(XV, 1.5))),
        (lambda: X.norm_p_to_p(3), float(np.sum(np.abs(XV) ** 3))),
        (lambda: gg.norm2(X), float(np.linalg.norm(XV))),
        (lambda: gg.norm2sq([s, 2.0]), 1.5**2 + 4.0),
        (lambda: gg.norm1(X), float(np.linalg.norm(XV, 1))),
        (lambda: gg.norm_inf(X), float(np.linalg.norm(XV, np.inf))),
        (lambda: gg.norm_p(X, 4), float(np.linalg.norm(XV, 4))),
        (lambda: gg.norm_p_to_p(X, 4), float(np.sum(XV**4))),
        (lambda: gg.quadform(np.diag([1.0, 2.0, 3.0]), X), float(XV @ np.diag([1.0, 2.0, 3.0]) @ XV)),
    ],
)
def test_reductions_against_numpy(build, expected):
    e = build()
    assert isinstance(e, SX)
    assert float(ev(e)) == pytest.approx(expected, rel=1e-14)


def test_reduction_ops_and_empty_cases():
    assert X.norm2().op is Op.NORM2 and X.norm_p(3).attr == 3.0
    assert SXVector().sum() is SX.const(0.0)
    assert SXVector().prod() is SX.const(1.0)
    assert X[:1].sum() is X[0]


A = np.array([[1.5, 0.0, -2.0], [0.0, 0.0, 0.0], [0.25, 3.0, 0.5]])
P = np.array([[2.0, 0.0, 0.5], [0.0, 0.0, 0.0], [0.5, 0.0, 4.0]])


def test_matvec_against_numpy_and_sparsity():
    v = gg.matvec(A, X)
    np.testing.assert_allclose(ev(v), A @ XV, rtol=1e-15)
    assert v[1] is SX.const(0.0)  # a zero row costs nothing
    assert v[0] is 1.5 * X[0] + -2.0 * X[2]
    muls = sum(1 for e in v for n in e.nodes() if n.op is Op.MUL)
    assert muls == int(np.count_nonzero(A))
    # matrices as nested lists, with SX entries (constants)
    w = gg.matvec([[1, 0, SX.const(2.0)]], X)
    assert w[0] is X[0] + SX.const(2.0) * X[2]


def test_quadform_and_bilinear_form_against_numpy():
    q = gg.quadform(P, X)
    assert float(ev(q)) == pytest.approx(float(XV @ P @ XV), rel=1e-14)
    b = gg.bilinear_form(X, A, Y)
    assert float(ev(b)) == pytest.approx(float(XV @ A @ YV), rel=1e-14)
    # zero entries produce no multiplications: nonzeros of P times x, plus one x_i * (Px)_i per nonzero row
    muls = sum(1 for n in q.nodes() if n.op is Op.MUL)
    assert muls == int(np.count_nonzero(P)) + 2
    zero = gg.quadform(np.zeros((3, 3)), X)
    assert zero is SX.const(0.0)


def test_vector_equality_is_structural_identity_and_repr():
    assert SXVector([X[0], X[1], X[2]]) == X
    assert X != Y
    assert (X == [1, 2]) is False
    assert repr(X[:2] + 1) == "SXVector([x_0 + 1, x_1 + 1])"
    assert bool(SXVector()) is False and bool(X) is True
