"""The reverse sweep keeps a power-of-two coefficient off the dependency chain.

An adjoint ``(g, 2)`` that feeds two arguments is emitted once as ``g * 2``; an argument reached
through a constant partial ``c`` (``x + 0.025 * k``: the ``0.025`` of ``k``) takes ``(g, 2 * c)``
instead of ``(g * 2, c)``, so the multiplication by ``2`` and the one by ``c`` do not follow each
other on the chain. ``2 * c`` is exact, so the values are those of ``(g * 2) * c`` (except where
``g * 2`` overflows). This is the serial chain of an unrolled RK4's reverse sweep (``2 * k2``).
"""

from __future__ import annotations

import pytest

from gradgen import Function, SXVector
from gradgen.ir.interp import run
from gradgen.ir.kernel import Kernel
from gradgen.ir.ops import LEAVES, Op
from gradgen.passes import autodiff as ad

#: latency (cycles) of the kernel's operations in the chain model: transcendental calls dominate
SLOW = {Op.SIN: 80, Op.COS: 80, Op.DIV: 13}


def chain(k: Kernel) -> int:
    """The longest dependency chain of ``k`` (arithmetic 4 cycles, ``SLOW`` ops more)."""
    ready = [0] * len(k.ops)
    for i, op in enumerate(k.ops):
        if op not in LEAVES:
            ready[i] = max((ready[a] for a in k.args[i]), default=0) + SLOW.get(op, 4)
    return max(ready[v] for res in k.results for v in res)


def _rk4_like(steps: int) -> Function:
    """``steps`` stages of ``s = x + 0.025 * sin(x)``, a cost ``s * s`` at the end."""
    x = SXVector.sym("x", 1)
    s = x[0]
    for _ in range(steps):
        s = s + 0.025 * s.sin()
    return Function("chain", [x], [s * s], input_names=["x"], output_names=["y"])


def test_power_of_two_coefficient_is_not_chained_to_a_constant_partial() -> None:
    f = _rk4_like(1).kernel
    g = ad.gradient(f)
    # s = x + 0.025 sin(x) is ready at 88; the gradient 2s (1 + 0.025 cos(x)) as 2s + (s cos(x)) 0.05:
    # s cos(x) at 92, * 0.05 at 96, + at 100 (with (s * 2) * 0.025 after the cosine's product: 104)
    assert chain(g) == 100
    assert g.op_count() == 8
    two = [i for i, op in enumerate(g.ops) if op is Op.MUL and g.attrs[g.args[i][1]] == 2.0]
    assert len(two) == 1 and not any(two[0] in g.args[i] for i, op in enumerate(g.ops) if op is Op.MUL)
    h = ad.hvp(f)
    assert chain(h) == 108  # 112 with the doubled adjoint on the chain
    assert h.op_count() == 14  # 15 with it


@pytest.mark.parametrize("steps", [1, 3, 8])
def test_values_match_finite_differences(steps: int) -> None:
    f = _rk4_like(steps)
    g = ad.gradient(f.kernel)
    h = ad.hvp(f.kernel)
    for x in (-1.3, 0.2, 0.9):
        y = lambda t: run(f.kernel, [[t]])[0][0]  # noqa: E731
        e = 1e-6
        fd = (y(x + e) - y(x - e)) / (2 * e)
        assert run(g, [[x]])[0][0] == pytest.approx(fd, rel=1e-7, abs=1e-9)
        gd = (run(g, [[x + e]])[0][0] - run(g, [[x - e]])[0][0]) / (2 * e)
        assert run(h, [[x], [1.0]])[0][0] == pytest.approx(gd, rel=1e-6, abs=1e-8)
