"""The demo's example: an energy with a vector input, norms and a special function.

``energy(x, u)`` returns the scalar ``e`` and the vector ``stats`` of a few of its pieces.
"""

from __future__ import annotations

import gradgen as gg
from gradgen import SX, Function, SXVector

x = SXVector.sym("x", 3)
u = SX.sym("u")

energy = Function(
    "energy",
    [x, u],
    [
        x.norm2sq() + u * gg.sin(x[0]) + x[1] * x[2] + gg.erf(u) * x.norm2(),
        gg.vector([x.norm_inf(), x.norm_p(3.0), gg.atan2(x[1], u), x[0] ** 3]),
    ],
    input_names=["x", "u"],
    output_names=["e", "stats"],
)

#: fixed points the demo evaluates in Rust and Python: one list of floats per input
POINTS: list[list[list[float]]] = [
    [[1.0, 2.0, -0.5], [3.0]],
    [[-0.3, 0.7, 1.9], [-1.25]],
    [[0.0, 0.0, 0.0], [0.5]],
]
