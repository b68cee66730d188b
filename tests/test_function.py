"""``Function``: definition checks, numeric evaluation, deep graphs and memory."""

from __future__ import annotations

import gc
import math
import tracemalloc

import numpy as np
import pytest

import gradgen as gg
from gradgen import (
    SX,
    EvaluationArgumentError,
    Function,
    FunctionDefinitionError,
    SXVector,
)

x, y, u = SX.sym("x"), SX.sym("y"), SX.sym("u")
v = SXVector.sym("v", 3)


def energy() -> Function:
    return Function(
        "energy",
        [v, u],
        [v.norm2sq() + u * gg.sin(v[0]) + v[1] * v[2], v * u],
        input_names=["v", "u"],
        output_names=["e", "g"],
    )


def reference(vals, uval):
    a, b, c = vals
    return a * a + b * b + c * c + uval * math.sin(a) + b * c, [a * uval, b * uval, c * uval]


@pytest.mark.parametrize(
    "vec",
    [
        [1.0, 2.0, -0.5],
        (1.0, 2.0, -0.5),
        np.array([1.0, 2.0, -0.5]),
        [1, 2, -0.5],
        np.array([1, 2, 0], dtype=np.int32),
    ],
    ids=["list", "tuple", "ndarray", "ints", "int-array"],
)
def test_evaluation_with_sequences(vec):
    f = energy()
    e, g = f(vec, 3.0)
    ee, gg_ = reference([float(t) for t in vec], 3.0)
    assert isinstance(e, float) and e == pytest.approx(ee, rel=1e-15)
    assert isinstance(g, list) and g == pytest.approx(gg_, rel=1e-15)


@pytest.mark.parametrize("scalar", [3.0, 3, np.float64(3.0), np.float32(3.0), np.array(3.0), [3.0]], ids=repr)
def test_scalar_argument_forms(scalar):
    f = energy()
    assert f([1.0, 2.0, -0.5], scalar)[0] == pytest.approx(reference([1.0, 2.0, -0.5], 3.0)[0])


def test_output_shapes():
    single_scalar = Function("f", [x], [x * 2])
    assert single_scalar(1.5) == 3.0 and isinstance(single_scalar(1.5), float)
    single_vector = Function("f", [x], [SXVector([x, x + 1])])
    assert single_vector(1.5) == [1.5, 2.5]
    list_output = Function("f", [x], [[x, 2.0]])
    assert list_output(1.5) == [1.5, 2.0]
    length_one = Function("f", [v], [v[:1]])
    assert length_one([4.0, 5.0, 6.0]) == [4.0]
    several = Function("f", [x, v], [x, v * 2, 7])
    assert several(1.0, [1.0, 2.0, 3.0]) == (1.0, [2.0, 4.0, 6.0], 7.0)
    constant = Function("f", [x], [SX.const(2.5)])
    assert constant(100.0) == 2.5


def test_inputs_given_as_lists_of_symbols():
    f = Function("f", [[x, y], u], [x * y + u])
    assert f([2.0, 3.0], 1.0) == 7.0
    assert f.input_names == ("in0", "u")
    assert f.input_sizes == (2, 1) and f.output_sizes == (1,)


def test_default_names():
    f = Function("f", [v, u], [u, v])
    assert f.input_names == ("v", "u")
    assert f.output_names == ("out0", "out1")
    g = Function("g", [x], [x + 1])
    assert g.output_names == ("y",)
    # a default never collides with a user's symbol name
    h = Function("h", [y], [y + 1])
    assert h.input_names == ("y",) and h.output_names == ("y_1",)
    k = Function("k", [SXVector([x, u]), SX.sym("in0")], [x])
    assert k.input_names == ("in0_1", "in0")
    assert repr(energy()) == "Function('energy': (v[3], u[1]) -> (e[1], g[3]))"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: Function("f", [x + 1], [x]),
            r"input 0 contains the expression x \+ 1, which is not a symbol",
        ),
        (
            lambda: Function("f", [SX.const(1.0)], [x]),
            "input 0 contains the expression 1, which is not a symbol",
        ),
        (lambda: Function("f", [[x, 2.0]], [x]), r"input 0 contains 2.0 \(float\), which is not a symbol"),
        (lambda: Function("f", [3.0], [x]), "input 0 must be a symbol .* got float"),
        (lambda: Function("f", [SXVector()], [x]), "input 0 is an empty vector"),
        (
            lambda: Function("f", [x, x], [x]),
            r"symbol 'x' appears more than once among the inputs \(inputs 0 and 1\)",
        ),
        (lambda: Function("f", [SXVector([x, y]), x], [x]), "symbol 'x' appears more than once"),
        (
            lambda: Function("f", [x], [x + y]),
            "an output depends on symbol 'y', which is not among the declared inputs",
        ),
        (lambda: Function("f", [x], [SXVector([x, gg.sin(u)])]), "depends on symbol 'u'"),
        (lambda: Function("f", [x], ["a"]), "output 0 must be an expression, a number or a vector"),
        (lambda: Function("f", [x], [[x, "a"]]), "output 0 must be an expression, a number or a vector"),
        (lambda: Function("f", [x], [[]]), "output 0 is an empty vector"),
        (lambda: Function("f", x, [x]), "inputs must be a list of symbols"),
        (lambda: Function("f", [x], x), "outputs must be a list of expressions"),
        (lambda: Function("f", [x], [x], input_names=["a", "b"]), "'f' has 1 inputs but 2 input names"),
        (lambda: Function("f", [x], [x, x], output_names=["a"]), "'f' has 2 outputs but 1 output names"),
        (lambda: Function("f", [x], [x], input_names="x"), "input_names must be a list of strings, got 'x'"),
        (
            lambda: Function("f", [x, y], [x], input_names=["a", "a"]),
            r"argument name\(s\) 'a' used more than once",
        ),
        (lambda: Function("f", [x], [x], input_names=["a"], output_names=["a"]), "'a' used more than once"),
        (
            lambda: Function("f", [x], [x], input_names=[""]),
            "an input name must be a non-empty string, got ''",
        ),
        (lambda: Function("f", [x], [x], output_names=["  "]), "an output name must be a non-empty string"),
        (lambda: Function("f", [x], [x], input_names=[3]), "an input name must be a non-empty string, got 3"),
        (lambda: Function("", [x], [x]), "a function name must be a non-empty string, got ''"),
        (lambda: Function(None, [x], [x]), "a function name must be a non-empty string, got None"),
        (
            lambda: Function(
                "f", [SX.sym("x"), SXVector([SX.sym("x_a")])], [x], input_names=None, output_names=["x"]
            ),
            r"'x' used more than once",
        ),
    ],
)
def test_definition_errors(build, message):
    with pytest.raises(FunctionDefinitionError, match=message):
        build()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([1.0, 2.0, 3.0],), r"'energy' takes 2 argument\(s\) \(v, u\), got 1"),
        (([1.0, 2.0, 3.0], 1.0, 2.0), r"takes 2 argument\(s\) \(v, u\), got 3"),
        (([1.0, 2.0], 1.0), "argument 'v' of 'energy' has length 2, expected 3"),
        (([1.0, 2.0, 3.0, 4.0], 1.0), "has length 4, expected 3"),
        (([1.0, 2.0, 3.0], [1.0, 2.0]), "argument 'u' of 'energy' has length 2, expected 1"),
        ((1.0, 1.0), "argument 'v' of 'energy' must be a sequence of 3 numbers, got 1.0"),
        ((["a", 2.0, 3.0], 1.0), "argument 'v' of 'energy' must be a sequence of 3 numbers"),
        ((["1", "2", "3"], 1.0), "must be a sequence of 3 numbers"),
        (("123", 1.0), "must be a sequence of 3 numbers, got '123'"),
        (([1.0, 2.0, 3.0], "1"), "argument 'u' of 'energy' must be a number, got '1'"),
        (([1.0, 2.0, 3.0], None), "argument 'u' of 'energy' must be a number, got None"),
        (([1.0, 2.0, 3.0], 1 + 1j), "must be a number"),
        ((np.ones((3, 1)), 1.0), "must be a sequence of 3 numbers"),
        (([[1.0], [2.0], [3.0]], 1.0), "must be a sequence of 3 numbers"),
        (([1.0, 2.0, 10**400], 1.0), "must be a sequence of 3 numbers"),
    ],
)
def test_evaluation_errors(args, message):
    with pytest.raises(EvaluationArgumentError, match=message):
        energy()(*args)


def test_constant_sx_is_a_numeric_argument():
    f = Function("f", [x], [x * 2])
    assert f(SX.const(2.0)) == 4.0


def test_ieee_evaluation_never_raises():
    f = Function("f", [x, y], [gg.log(x), x / y, gg.exp(x), x**y, gg.sqrt(x), gg.atanh(x)])
    out = f(-1.0, 0.0)
    assert math.isnan(out[0]) and out[1] == -math.inf and out[3] == 1.0 and math.isnan(out[4])
    assert out[5] == -math.inf
    assert f(1000.0, 0.0)[2] == math.inf


def test_hundred_thousand_deep_chain_evaluates_iteratively():
    e = x
    for _ in range(100_000):
        e = e * 0.5 + 1.0
    f = Function("deep", [x], [e])
    # the fixed point of t -> t/2 + 1 is 2
    assert f(10.0) == pytest.approx(2.0, rel=1e-15)
    assert len(f.kernel) == 2 * 100_000 + 3


def test_shared_dag_is_evaluated_once_per_node():
    e = x
    for _ in range(60):
        e = e * e + 1  # 2**60 tree nodes, 122 DAG nodes
    f = Function("shared", [x], [e])
    assert len(f.kernel) == 2 + 2 * 60
    assert f(0.0) == math.inf
    assert f(-1.0 + 1e-300) == math.inf


def test_repeated_evaluation_does_not_grow_memory():
    f = energy()
    f([1.0, 2.0, 3.0], 0.5)
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(100):
            f([1.0, 2.0, 3.0], 0.5)
        first = tracemalloc.get_traced_memory()[0]
        for _ in range(1000):
            f(np.array([1.0, 2.0, 3.0]), 0.5)
        gc.collect()
        second = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert second - first < 4096, second - first


def test_structure_accessors():
    f = energy()
    assert f.inputs[0] == v and f.inputs[1] is u
    assert f.outputs[1] == v * u
    assert f.input_symbols == (tuple(v), (u,))
    assert f.output_expressions[0][0] is v.norm2sq() + u * gg.sin(v[0]) + v[1] * v[2]
