"""A large primal goes through ``generate_rust`` within a documented memory budget.

Not a timing test (``tests/benchmarks`` records time and memory). The graph has
:data:`NODES` operations (a chain mixing ``sin`` and multiplications by 8 shared inputs, so that
every value is used once or twice and the schedule cannot collapse it). Python's heap use while
generating the Rust source, measured with :mod:`tracemalloc` from just before ``generate_rust``
(the ``Function`` already built), must stay under :data:`BYTES_PER_NODE` per node. Measured on
the 2-core reference machine: about 0.8 KB per node (164 MB at 2*10^5 nodes, 806 MB at 10^6).

10^6 nodes take about 7 minutes there (52 s to build the expressions, 375 s to generate), which
is too long for the test suite; this test uses 2*10^5 nodes (about 35 s).
"""

from __future__ import annotations

import tracemalloc

import gradgen as gg
from gradgen import Function, SXVector

NODES = 200_000
#: generation may hold at most this many bytes of Python heap per operation of the kernel
BYTES_PER_NODE = 2_000


def _large_function(n: int) -> Function:
    x = SXVector.sym("x", 8)
    e = x[0]
    for i in range(n // 2):
        e = e * x[i % 8] + 1.0 if i % 3 else gg.sin(e) + x[(i * 5) % 8]
    return Function("large", [x], [e], input_names=["x"], output_names=["y"])


def test_large_primal_generates_within_the_memory_budget() -> None:
    f = _large_function(NODES)
    assert f.kernel.op_count() >= NODES
    tracemalloc.start()
    try:
        result = f.generate_rust()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= BYTES_PER_NODE * NODES, f"peak {peak / 1e6:.0f} MB for {NODES} nodes"
    assert result.workspace_size <= 4
    assert result.source.count("#[inline(never)]") >= NODES // 1000
    assert f"pub fn {result.function_name}(" in result.source
