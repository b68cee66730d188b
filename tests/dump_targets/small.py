"""Targets for tests/test_dump.py: a small Function, factories, and deliberately bad NAMEs."""

from __future__ import annotations

import gradgen as gg
from gradgen import SX, Function, SXVector

x = SXVector.sym("x", 2)
u = SX.sym("u")
s = gg.sin(x[0])
# (x0 - x0) * u is removed by the medium "sub-self" and "mul-zero" rules; "+ -(x1 * s)" becomes
# "- x1 * s" by the basic "add-neg" rule
small = Function(
    "small",
    [x, u],
    [u * s + x[1] * x[1] + (x[0] - x[0]) * u + (-(x[1] * s))],
    input_names=["x", "u"],
    output_names=["e"],
)

#: a vector output (its gradient is undefined; its Jacobian is 2x2)
pair = Function("pair", [x], [SXVector([x[0] * x[1], gg.exp(x[0])])], input_names=["x"], output_names=["p"])


def make_small() -> Function:
    """A zero-argument factory returning a Function."""
    y = SX.sym("y")
    return Function("made", [y], [y * y + 1.0], input_names=["y"], output_names=["z"])


def needs_args(n: int) -> Function:
    return make_small()


def returns_int() -> int:
    return 3


def raises() -> Function:
    raise ValueError("factory failed on purpose")


not_a_function = 3.5


def broken() -> Function:
    """A Function whose kernel was damaged after construction (fails IR verification)."""
    f = make_small()
    last = len(f.kernel.ops) - 1
    f.kernel.args[last] = (last + 5,) * len(f.kernel.args[last])
    return f


def long_chain() -> Function:
    """``y -> (((y*y + 1)*(y*y + 1) + 1) ...)`` 3000 times: large kernels for the diff bound."""
    y = SX.sym("y")
    e = y
    for _ in range(3000):
        e = e * e + 1.0
    return Function("long_chain", [y], [e], input_names=["y"], output_names=["z"])
