"""Workspace length of the benchmark kernels: a regression ceiling that may only go down.

Each benchmark problem of :mod:`tests.benchmarks.problems` is built the way ``make bench`` builds
it (``Function`` -> derivative -> ``generate_rust`` at the bench's ``medium`` level) and the
workspace its generated function asks for is compared with ``CEILING``, the length this code
reaches today: a change that makes any kernel's workspace longer fails here, one that makes it
shorter lowers the ceiling.

``CASADI`` records ``sz_w`` (the length of CasADi's work vector) of CasADi 3.8.2 for the same
kernels, ``cse=True`` and its default ``cse=False`` (``tests/benchmarks/worker.py``). Every kernel
needs no more than CasADi with either setting. The pendulum HVPs are the tight rows: CasADi
without CSE computes ``sin`` and ``cos`` a second time in the reverse sweep (twice our math
calls) instead of keeping them, while our kernel keeps what the reverse sweep reads, 12 values
per RK4 stage; it fits under CasADi's length because values crossing chunks wait in the output
elements until their final values are written (``passes/allocate.py``), not only in the
workspace. ``ABOVE_CASADI_DEFAULT`` lists the rows allowed above ``cse=False`` (none).
"""

from __future__ import annotations

import pytest

from tests.bench_kernels import generated
from tests.benchmarks import problems

#: (problem, size, kernel) -> workspace length (f64 slots) of our generated kernel
CEILING: dict[tuple[str, int, str], int] = {
    ("rosenbrock", 10, "f"): 0,
    ("rosenbrock", 10, "grad"): 0,
    ("rosenbrock", 10, "hess"): 0,
    ("rosenbrock", 10, "hvp"): 0,
    ("rosenbrock_product", 10, "f"): 0,
    ("rosenbrock_product", 10, "grad"): 0,
    ("rosenbrock_product", 10, "hess"): 0,
    ("rosenbrock_product", 10, "hvp"): 0,
    ("rosenbrock", 100, "grad"): 0,
    ("rosenbrock", 100, "hess"): 0,
    ("rosenbrock", 100, "hvp"): 0,
    ("logsumexp", 20, "f"): 0,
    ("logsumexp", 20, "grad"): 19,
    ("logsumexp", 20, "hess"): 100,
    ("pendulum", 20, "f"): 7,
    ("pendulum", 20, "grad"): 99,
    # 222 and 1,060: the tangent sweep interleaved with the primal sweep (passes/schedule.py)
    # keeps fewer values crossing chunks than the depth-first order's 225 and 1,093
    ("pendulum", 20, "hvp"): 222,
    ("pendulum", 100, "f"): 8,
    ("pendulum", 100, "grad"): 499,
    ("pendulum", 100, "hvp"): 1060,
    ("pendulum_product", 20, "f"): 7,
    ("pendulum_product", 20, "grad"): 99,
    ("pendulum_product", 20, "hvp"): 222,
    ("shooting", 100, "jac"): 0,
    # staged: the gradient stores the N smallest stage tapes (6 values: 4 cosines, 2 products
    # of the state; the reversed loop recomputes the other products), the HVP its N tapes of 12
    # (the tangent's values too); neither stores the states, a loop's state buffers sit on the
    # temporaries it starts from or ends in, and the last values of each stage's tape wait in
    # that stage's block of the output (1 of the gradient's, 2 of the HVP's: 5N + 6 and 11N + 14,
    # below CasADi's 6N + 13 and 11N + 21)
    ("pendulum_staged", 10, "f"): 7,
    ("pendulum_staged", 10, "grad"): 56,
    ("pendulum_staged", 10, "hvp"): 124,
    ("pendulum_staged", 100, "grad"): 506,
    ("pendulum_staged", 100, "hvp"): 1114,
    ("pendulum_staged", 1000, "f"): 7,
    ("pendulum_staged", 1000, "grad"): 5006,
    ("pendulum_staged", 1000, "hvp"): 11014,
}

#: (problem, size, kernel) -> (CasADi sz_w with cse=True, with cse=False); CasADi builds ``x*x``
#: as ``sq(x)``, so its product formulations are the power ones
CASADI: dict[tuple[str, int, str], tuple[int, int]] = {
    ("rosenbrock", 10, "f"): (6, 6),
    ("rosenbrock", 10, "grad"): (7, 7),
    ("rosenbrock", 10, "hess"): (7, 8),
    ("rosenbrock", 10, "hvp"): (8, 9),
    ("rosenbrock", 100, "grad"): (7, 7),
    ("rosenbrock", 100, "hess"): (7, 8),
    ("rosenbrock", 100, "hvp"): (8, 9),
    ("logsumexp", 20, "f"): (23, 23),
    ("logsumexp", 20, "grad"): (421, 421),
    ("logsumexp", 20, "hess"): (838, 838),
    ("pendulum", 20, "f"): (17, 17),
    ("pendulum", 20, "grad"): (134, 133),
    ("pendulum", 20, "hvp"): (337, 241),
    ("pendulum", 100, "f"): (17, 17),
    ("pendulum", 100, "grad"): (614, 613),
    ("pendulum", 100, "hvp"): (1617, 1121),
    ("shooting", 100, "jac"): (32, 32),
}

#: rows above CasADi's default (cse=False) workspace, with the reason in the module docstring
ABOVE_CASADI_DEFAULT: set[tuple[str, int, str]] = set()


@pytest.mark.parametrize(("problem", "n", "kernel"), sorted(CEILING), ids=lambda v: str(v))
def test_kernel_workspace_never_grows(problem: str, n: int, kernel: str) -> None:
    work = int(generated(problem, n, kernel).workspace_size)
    ceiling = CEILING[(problem, n, kernel)]
    assert work <= ceiling, f"{problem}({n}) {kernel}: workspace {work}, the ceiling is {ceiling}"
    peer = CASADI.get((problems.base_problem(problem), n, kernel))
    if peer is None:
        return
    with_cse, default = peer
    assert work <= with_cse, f"{problem}({n}) {kernel}: workspace {work} vs CasADi's {with_cse} (cse=True)"
    if (problems.base_problem(problem), n, kernel) in ABOVE_CASADI_DEFAULT:
        assert work > default, f"{problem}({n}) {kernel} is no longer above CasADi: drop it from the list"
    else:
        assert work <= default, f"{problem}({n}) {kernel}: workspace {work} vs CasADi's {default} (cse=False)"


def test_every_bench_problem_and_kernel_has_a_ceiling() -> None:
    covered = {(p, k) for p, _, k in CEILING}
    for problem, kernels in problems.KERNELS.items():
        for kernel in kernels:
            assert (problem, kernel) in covered, (problem, kernel)
