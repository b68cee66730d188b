"""Operation counts of the benchmark kernels: a regression ceiling that may only go down.

Each benchmark problem of :mod:`tests.benchmarks.problems` is built the way ``make bench`` builds
it (``Function`` -> derivative -> ``generate_rust`` at the bench's ``medium`` level) and its
generated Rust is counted with the bench's own counter (:func:`tests.benchmarks.counting.count_ops`:
arithmetic operations, math calls). ``CEILING`` is the count this code reaches today: a change
that makes any kernel longer fails here; one that makes a kernel shorter lowers the ceiling.

``CASADI`` records the counts of CasADi 3.8.2 for the same problems, measured with the same
counter on its generated C (``tests/benchmarks/worker.py``, ``cse=True`` and its default
``cse=False``); every kernel must stay within 1.05x of the ``cse=True`` count, and at the rounding
opt-in level ``high`` (``OPT_IN_CEILING``) within 1.0x of both.
"""

from __future__ import annotations

import pytest

from tests.bench_kernels import generated
from tests.benchmarks import problems
from tests.benchmarks.counting import count_ops

#: (problem, size, kernel) -> (arithmetic operations, math calls) of our generated kernel
CEILING: dict[tuple[str, int, str], tuple[int, int]] = {
    ("rosenbrock", 10, "f"): (71, 0),
    ("rosenbrock", 10, "grad"): (71, 0),
    ("rosenbrock", 10, "hess"): (80, 0),
    ("rosenbrock", 10, "hess_dense"): (80, 0),
    ("rosenbrock", 10, "hvp"): (116, 0),
    ("rosenbrock_product", 10, "f"): (71, 0),
    ("rosenbrock_product", 10, "grad"): (71, 0),
    ("rosenbrock_product", 10, "hess"): (80, 0),
    ("rosenbrock_product", 10, "hess_dense"): (80, 0),
    ("rosenbrock_product", 10, "hvp"): (116, 0),
    ("rosenbrock", 100, "grad"): (791, 0),
    ("rosenbrock", 100, "hess"): (890, 0),
    ("rosenbrock", 100, "hvp"): (1286, 0),
    ("logsumexp", 20, "f"): (797, 21),
    ("logsumexp", 20, "grad"): (1596, 20),
    ("logsumexp", 20, "hess"): (10944, 20),
    ("pendulum", 20, "f"): (1004, 80),
    ("pendulum", 20, "grad"): (1819, 158),
    ("pendulum", 20, "hvp"): (3818, 158),
    ("pendulum_product", 20, "f"): (1004, 80),
    ("pendulum_product", 20, "grad"): (1819, 158),
    ("pendulum_product", 20, "hvp"): (3818, 158),
    ("shooting", 100, "jac"): (6200, 600),
    # staged: the helpers are printed once, so the count does not depend on the horizon; the
    # reversed loop reads the rollout's tape, so a stage's 4 sines and 4 cosines run once
    ("pendulum_staged", 10, "f"): (56, 4),
    ("pendulum_staged", 10, "grad"): (94, 8),
    ("pendulum_staged", 10, "hvp"): (198, 8),
    ("pendulum_staged", 1000, "f"): (56, 4),
    ("pendulum_staged", 1000, "grad"): (94, 8),
    ("pendulum_staged", 1000, "hvp"): (198, 8),
}

#: the same at the rounding opt-in level ``high`` (``RustBackendConfig.with_simplification``)
OPT_IN_CEILING: dict[tuple[str, int, str], tuple[int, int]] = {
    ("rosenbrock", 10, "f"): (71, 0),
    ("rosenbrock", 10, "grad"): (71, 0),
    ("rosenbrock", 10, "hess"): (80, 0),
    ("rosenbrock", 10, "hess_dense"): (80, 0),
    ("rosenbrock", 10, "hvp"): (116, 0),
    ("rosenbrock_product", 10, "f"): (71, 0),
    ("rosenbrock_product", 10, "grad"): (71, 0),
    ("rosenbrock_product", 10, "hess"): (80, 0),
    ("rosenbrock_product", 10, "hess_dense"): (80, 0),
    ("rosenbrock_product", 10, "hvp"): (116, 0),
    ("rosenbrock", 100, "grad"): (791, 0),
    ("rosenbrock", 100, "hess"): (890, 0),
    ("rosenbrock", 100, "hvp"): (1286, 0),
    ("logsumexp", 20, "f"): (797, 21),
    ("logsumexp", 20, "grad"): (1595, 20),
    ("logsumexp", 20, "hess"): (10944, 20),
    ("pendulum", 20, "f"): (964, 80),
    ("pendulum", 20, "grad"): (1722, 158),
    ("pendulum", 20, "hvp"): (3620, 158),
    ("pendulum_product", 20, "f"): (964, 80),
    ("pendulum_product", 20, "grad"): (1722, 158),
    ("pendulum_product", 20, "hvp"): (3620, 158),
    ("shooting", 100, "jac"): (5800, 600),
    ("pendulum_staged", 10, "f"): (54, 4),
    ("pendulum_staged", 10, "grad"): (92, 8),
    ("pendulum_staged", 10, "hvp"): (194, 8),
    ("pendulum_staged", 1000, "f"): (54, 4),
    ("pendulum_staged", 1000, "grad"): (92, 8),
    ("pendulum_staged", 1000, "hvp"): (194, 8),
}

#: (problem, size, kernel) -> (CasADi cse=True ops, CasADi cse=False ops); CasADi builds ``x*x``
#: as ``sq(x)``, so its product formulations count as the power ones
CASADI: dict[tuple[str, int, str], tuple[int, int]] = {
    ("rosenbrock", 10, "f"): (71, 71),
    ("rosenbrock", 10, "grad"): (81, 81),
    ("rosenbrock", 10, "hess"): (90, 94),
    ("rosenbrock", 10, "hvp"): (135, 144),
    ("rosenbrock", 100, "grad"): (891, 891),
    ("rosenbrock", 100, "hess"): (990, 1039),
    ("rosenbrock", 100, "hvp"): (1485, 1584),
    ("logsumexp", 20, "f"): (797, 797),
    ("logsumexp", 20, "grad"): (1595, 1595),
    ("logsumexp", 20, "hess"): (10962, 10962),
    ("pendulum", 20, "f"): (1004, 1004),
    ("pendulum", 20, "grad"): (1802, 1842),
    ("pendulum", 20, "hvp"): (3782, 3860),
}


def _source(problem: str, n: int, kernel: str, level: str = "medium") -> str:
    return str(generated(problem, n, kernel, level).source)


@pytest.mark.parametrize(("problem", "n", "kernel"), sorted(CEILING), ids=lambda v: str(v))
def test_kernel_op_count_never_grows(problem: str, n: int, kernel: str) -> None:
    ops, calls = count_ops(_source(problem, n, kernel))
    ceiling_ops, ceiling_calls = CEILING[(problem, n, kernel)]
    assert ops <= ceiling_ops, f"{problem}({n}) {kernel}: {ops} operations, the ceiling is {ceiling_ops}"
    assert calls <= ceiling_calls, f"{problem}({n}) {kernel}: {calls} calls, the ceiling is {ceiling_calls}"
    peer = CASADI.get((problems.base_problem(problem), n, "hess" if kernel == "hess_dense" else kernel))
    if peer is not None:
        assert ops <= 1.05 * peer[0], f"{problem}({n}) {kernel}: {ops} operations vs CasADi's {peer[0]}"


@pytest.mark.parametrize(("problem", "n", "kernel"), sorted(OPT_IN_CEILING), ids=lambda v: str(v))
def test_opt_in_kernel_op_count_never_grows_and_stays_within_casadi(
    problem: str, n: int, kernel: str
) -> None:
    """With the rounding opt-in (``high``) every kernel has at most as many operations as
    CasADi's, with and without its ``cse``."""
    ops, calls = count_ops(_source(problem, n, kernel, "high"))
    ceiling_ops, ceiling_calls = OPT_IN_CEILING[(problem, n, kernel)]
    assert ops <= ceiling_ops, f"{problem}({n}) {kernel}: {ops} operations, the ceiling is {ceiling_ops}"
    assert calls <= ceiling_calls, f"{problem}({n}) {kernel}: {calls} calls, the ceiling is {ceiling_calls}"
    peer = CASADI.get((problems.base_problem(problem), n, "hess" if kernel == "hess_dense" else kernel))
    if peer is not None:
        assert ops <= min(peer), f"{problem}({n}) {kernel}: {ops} operations vs CasADi's {peer}"


def test_every_bench_problem_and_kernel_has_a_ceiling() -> None:
    assert set(OPT_IN_CEILING) == set(CEILING)
    covered = {(p, k) for p, _, k in CEILING}
    for problem, kernels in problems.KERNELS.items():
        for kernel in kernels:
            assert (problem, kernel) in covered, (problem, kernel)


@pytest.mark.parametrize("problem", ["rosenbrock", "pendulum"])
def test_product_squares_cost_what_power_squares_cost(problem: str) -> None:
    """``d * d`` and ``d ** 2`` give kernels of the same length: the derivative of a product
    square is ``2 * d * dd`` as for a power."""
    n = 10 if problem == "rosenbrock" else 20
    for kernel in problems.KERNELS[problem]:
        power = count_ops(_source(problem, n, kernel))
        product = count_ops(_source(problem + problems.PRODUCT_SUFFIX, n, kernel))
        assert product == power, (kernel, product, power)
