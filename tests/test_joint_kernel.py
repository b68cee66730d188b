"""The one joint-kernel builder (``passes.autodiff.joint_kernel`` / ``JointPass``) with sparse
Hessian parts, and the passes being frozen objects whose findings travel as kernel notes."""

from __future__ import annotations

import math
import random
import tracemalloc
from collections.abc import Callable

import attrs
import pytest

from gradgen import Function, SXVector
from gradgen.backends.sanitize import SanitizePass
from gradgen.errors import DifferentiationError
from gradgen.ir.interp import run
from gradgen.ir.kernel import Kernel
from gradgen.passes import autodiff as ad
from gradgen.passes.allocate import AllocatePass
from gradgen.passes.cse import CSEPass
from gradgen.passes.manager import PassManager
from gradgen.passes.schedule import SchedulePass
from gradgen.passes.simplify import SimplifyPass
from gradgen.passes.sparsity import HessianPattern, sparse_hessian_kernel
from tests.test_passes import bits
from tests.test_sparse_hessian import isolated, logsumexp, rosenbrock


def _point(kernel: Kernel, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    return [[rng.uniform(-2.0, 2.0) for _ in range(p.size)] for p in kernel.inputs]


def _two_inputs() -> Function:
    x = SXVector.sym("x", 3)
    u = SXVector.sym("u", 2)
    y = x[0] * x[1] * u[0] + (x[2] - u[1]) ** 3 + x[0] ** 2 * u[1] + u[0] * u[1]
    return Function("two", [x, u], [y], input_names=["x", "u"], output_names=["y"])


# ---- the sparse Hessian part --------------------------------------------------------------------


@pytest.mark.parametrize("triangle", ["full", "lower", "upper"])
@pytest.mark.parametrize("make", [rosenbrock, logsumexp, isolated], ids=["rosen", "lse", "iso"])
def test_joint_sparse_output_is_the_standalone_sparse_hessian_bit_for_bit(
    make: Callable[..., Function], triangle: str
) -> None:
    f = make(6) if make is rosenbrock else make()
    alone, pattern = sparse_hessian_kernel(f.kernel, 0, triangle)
    parts = (("f", ()), ("grad", (0,)), ("hessian_sparse", (0,)), ("hvp", (0,)))
    joint = PassManager([ad.JointPass(parts, triangle)]).run(f.kernel)
    assert joint.note("sparse_patterns") == {2: pattern}
    y = f.kernel.outputs[0].name
    assert [p.name for p in joint.outputs] == [y, "grad_x", "hessian_x", "hvp_x"]
    assert joint.outputs[2].size == pattern.nnz
    assert [p.name for p in joint.inputs] == ["x", "v_x"]
    for seed in range(5):
        x = _point(f.kernel, seed)
        v = _point(f.kernel, seed + 100)[0]
        got = run(joint, [*x, v])[2]
        want = run(alone, x)[0]
        assert [bits(a) for a in got] == [bits(b) for b in want]


def test_joint_sparse_output_equals_the_dense_entries_at_the_pattern() -> None:
    f = _two_inputs()
    dense = ad.joint_kernel(f.kernel, (("hessian", (0, 1)),))
    sparse = ad.joint_kernel(f.kernel, (("hessian_sparse", (0, 1)),), "lower")
    patterns: dict[int, HessianPattern] = sparse.note("sparse_patterns")
    assert sorted(patterns) == [0, 1]
    assert [p.name for p in sparse.outputs] == ["hessian_x", "hessian_u"]
    x = _point(f.kernel, 7)
    full, nonzeros = run(dense, x), run(sparse, x)
    for k, pattern in patterns.items():
        n = pattern.n
        expect = [full[k][i * n + j] for i, j in zip(pattern.rows, pattern.cols, strict=True)]
        assert [bits(a) for a in nonzeros[k]] == [bits(b) for b in expect]
        assert all(i >= j for i, j in zip(pattern.rows, pattern.cols, strict=True))


def test_joint_names_and_layout_match_the_joint_of_kinds() -> None:
    """``joint`` is a thin call of ``joint_kernel``: same outputs, inputs and name layout."""
    f = _two_inputs()
    k = ad.joint(f.kernel, ("f", "jf", "hvp"), [0, 1])
    assert k.name == "two_f_jf_hvp_x_u"
    assert [p.name for p in k.inputs] == ["x", "u", "v_x", "v_u"]
    assert [p.name for p in k.outputs] == ["y", "jacobian_y_x", "jacobian_y_u", "hvp_x", "hvp_u"]
    same = ad.joint_kernel(f.kernel, (("f", ()), ("jf", (0, 1)), ("hvp", (0, 1))), name=k.name)
    assert same.ops == k.ops and same.args == k.args and same.results == k.results
    assert k.note("sparse_patterns") is None


def test_joint_with_a_sparse_hessian_never_builds_the_dense_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    """n = 2,000: the sparse Hessian part comes from the nonzeros; no ``n*n`` list is made (the
    dense path is disabled, and peak memory stays below what an n x n list of ids alone takes
    and grows linearly with n)."""

    def dense(*args: object) -> list[int]:
        raise AssertionError("the joint kernel built the dense n*n Hessian list")

    monkeypatch.setattr(ad.DerivativeGraph, "hessian", dense)
    parts = (("f", ()), ("grad", (0,)), ("hessian_sparse", (0,)))
    peaks = {}
    for n in (250, 2000):
        kernel = rosenbrock(n).kernel
        tracemalloc.start()
        try:
            out = ad.JointPass(parts).run(kernel)
            peaks[n] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        pattern = out.note("sparse_patterns")[2]
        assert pattern.nnz == 3 * n - 2 and out.outputs[2].size == pattern.nnz
    assert peaks[2000] < 2000 * 2000 * 8, peaks  # one n x n list of pointers is 32 MB
    assert peaks[2000] < 16 * peaks[250], peaks  # linear: about 8x for 8x the size (64x if quadratic)


def test_joint_structurally_zero_sparse_hessian_is_refused() -> None:
    x = SXVector.sym("x", 2)
    lin = Function("lin", [x], [x[0] * 3.0 + x[1]])
    with pytest.raises(
        DifferentiationError,
        match=r"the Hessian output 'hessian_x' of 'lin_f_hessian_sparse' is structurally zero",
    ):
        ad.JointPass((("f", ()), ("hessian_sparse", (0,)))).run(lin.kernel)


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ((), r"a joint kernel needs at least one part among f, grad, jf, hessian, hvp, hessian_sparse"),
        ((("hess", (0,)),), r"unknown joint kind 'hess'; use one of f, grad, .*hessian_sparse"),
        ((("f", (0,)),), r"the joint part 'f' takes no input indices, got \[0\]"),
        ((("grad", ()),), r"the joint part 'grad' needs at least one input index, got \[\]"),
        ((("grad", (0,)), ("grad", (1,))), r"joint parts \['grad', 'grad'\] repeat a kind"),
        (5, r"joint parts must be \(kind, input indices\) pairs, got 5"),
    ],
)
def test_joint_pass_checks_its_parts(parts: object, message: str) -> None:
    with pytest.raises(DifferentiationError, match=message):
        ad.JointPass(parts)  # type: ignore[arg-type]


def test_joint_pass_checks_triangle_and_inputs() -> None:
    with pytest.raises(DifferentiationError, match=r"triangle must be one of 'full', 'lower', 'upper'"):
        ad.JointPass((("hessian_sparse", (0,)),), "diag")
    with pytest.raises(DifferentiationError, match=r"wrt index 2 is out of range"):
        ad.JointPass((("grad", (2,)),)).run(_two_inputs().kernel)


# ---- frozen passes ------------------------------------------------------------------------------


def _passes() -> list[object]:
    return [
        SimplifyPass(2),
        CSEPass(),
        SchedulePass(),
        AllocatePass(),
        SanitizePass("k", ()),
        ad.AutodiffPass("gradient"),
        ad.JointPass((("f", ()), ("grad", (0,)))),
    ]


@pytest.mark.parametrize("p", _passes(), ids=lambda p: type(p).__name__)
def test_passes_are_frozen(p: object) -> None:
    assert attrs.has(type(p))
    field = attrs.fields(type(p))[0].name
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(p, field, getattr(p, field))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        p.name = "renamed"  # type: ignore[attr-defined]


def test_simplify_rules_fired_travel_as_a_note() -> None:
    x = SXVector.sym("x", 2)
    f = Function("chain", [x], [x[0] + (-x[0]) + x[1] * 1.0])
    p = SimplifyPass(3, rounds=2)
    before = attrs.asdict(p)
    first = p.run(f.kernel)
    second = p.run(f.kernel)
    assert attrs.asdict(p) == before  # nothing kept between runs
    fired = first.note("rules_fired")
    assert fired and fired == second.note("rules_fired")
    assert all(isinstance(v, int) and v > 0 for v in fired.values())
    # a kernel no rule changes is returned as it is, without a note
    plain = Function("plain", [x], [x[0] * x[1]]).kernel
    assert p.run(plain) is plain
    # a stale note of an earlier simplification does not survive a pass where nothing fired
    again = p.run(first)
    assert not again.note("rules_fired")
    assert math.isfinite(run(again, [[1.0, 2.0]])[0][0])


def test_simplification_keeps_the_sparse_patterns_note() -> None:
    x = SXVector.sym("x", 3)
    f = Function("thirds", [x], [x[0] * x[1] / 3 + x[2] ** 2])
    joint = ad.JointPass((("f", ()), ("hessian_sparse", (0,))), "lower").run(f.kernel)
    out = SimplifyPass(3, rounds=2).run(joint)
    assert out is not joint and out.note("rules_fired")
    assert out.note("sparse_patterns") == joint.note("sparse_patterns")
