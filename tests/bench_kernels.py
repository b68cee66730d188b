"""Our generated code of a benchmark kernel, built the way ``make bench`` builds it: problem
(:mod:`tests.benchmarks.problems`) -> ``Function`` -> derivative -> ``generate_rust`` with the
function name ``k`` at a simplification level (the bench's is ``medium``). Shared by the
operation-count and workspace ceilings (``test_op_counts.py``, ``test_workspace_counts.py``)."""

from __future__ import annotations

from typing import Any

import gradgen as gg
from gradgen import RustBackendConfig
from tests.benchmarks import problems


class Ours:
    """The adapter the problem builders take (``g``, the math functions, ``vec``)."""

    g = gg
    sin, exp, log = gg.sin, gg.exp, gg.log

    @staticmethod
    def vec(name: str, n: int) -> Any:
        return gg.SXVector.sym(name, n)


_FUNCTIONS: dict[tuple[str, int], gg.Function] = {}


def generated(problem: str, n: int, kernel: str, level: str = "medium") -> Any:
    """The ``RustGenerationResult`` of ``kernel`` (``f``, ``grad``, ``hess`` (sparse, full
    triangle), ``hess_dense``, ``hvp``, ``jac`` (sparse)) of ``problem`` at size ``n``."""
    config = RustBackendConfig().with_function_name("k").with_simplification(level)
    if problem in problems.STAGED:
        return problems.pendulum_staged_ours(Ours, n, kernel).generate_rust(config=config)
    f = _FUNCTIONS.get((problem, n))
    if f is None:
        inputs, expr = problems.PROBLEMS[problem](Ours, n)
        names = [f"in{k}" for k in range(len(inputs))]
        out = gg.SXVector(expr) if isinstance(expr, list) else expr
        f = gg.Function("bench", inputs, [out], input_names=names, output_names=["y"])
        _FUNCTIONS[(problem, n)] = f
    g = {
        "f": lambda: f,
        "grad": lambda: f.gradient(0),
        "hess": lambda: f.sparse_hessian(0, triangle="full").function,
        "hess_dense": lambda: f.hessian(0),
        "hvp": lambda: f.hvp(0),
        "jac": lambda: f.sparse_jacobian(0).function,
    }[kernel]()
    return g.generate_rust(config=config)
