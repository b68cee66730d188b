"""Derivative kernels: the derivative blocks of :class:`~passes.autodiff_sweeps.DerivativeGraph`
named and assembled into kernels, and the autodiff passes.

The module is the entry point of automatic differentiation: the sweeps live in
:mod:`passes.autodiff_sweeps`, the arithmetic on scaled adjoints and tangents in
:mod:`passes.autodiff_scaled`, the partial derivatives in :mod:`passes.autodiff_rules` and the
argument checks and port naming in :mod:`passes.autodiff_ports` (re-exported here).

Derivative kernels (ports named after the primal ones):

=========  ======================================  =============================================
kind       kernel name                             outputs (appended inputs)
=========  ======================================  =============================================
gradient   ``<f>_gradient_<in>``                   ``grad_<in>`` (needs one scalar output)
jacobian   ``<f>_jacobian_<in>``                   ``jacobian_<out>_<in>`` per output, row-major
hessian    ``<f>_hessian_<in>``                    ``hessian_<in>`` row-major ``n*n``
hvp        ``<f>_hvp_<in>``                        ``hvp_<in>`` (input ``v_<in>``)
jvp        ``<f>_jvp_<ins>``                       ``jvp_<out>`` per output (inputs ``tangent_<in>``)
vjp        ``<f>_vjp_<ins>``                       ``vjp_<in>`` per wrt input (inputs ``cotangent_<out>``)
joint      ``<f>_<kinds>_<ins>``                   the outputs above, in the order of the kinds
=========  ======================================  =============================================

A generated name that collides with an existing port name gets a ``_1``, ``_2``... suffix.

**Joint kernels** share one derivative graph between several kinds (one copy of the primal, one
reverse sweep per gradient reused by the Hessian and the HVP). :func:`joint_kernel` is the one
builder: :func:`joint` and :class:`JointPass` (the code-generation builder's bundles) call it. A
joint part may be a sparse Hessian (``"hessian_sparse"``): its output holds the structural
nonzeros in CSC order (:func:`passes.sparsity.hessian_nonzeros`), and the kernel carries each
such output's :class:`~passes.sparsity.HessianPattern` in its ``"sparse_patterns"`` note
(``{output index: pattern}``). A part may likewise be a sparse Jacobian (``"jf_sparse"``): one
output ``jacobian_<out>_<in>`` per primal output holding its structural nonzeros in CSC order
(:func:`passes.sparsity.jacobian_nonzeros`), each noted with its
:class:`~passes.sparsity.JacobianPattern` under ``"sparse_patterns"`` and the
:class:`~passes.sparsity.SweepPlan` of its block under ``"sparse_sweeps"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from gradgen.ir.kernel import Kernel, Port
from gradgen.ir.ordered import refuse_unordered

from .autodiff_ports import PortNames, check_wrt, check_wrt_list
from .autodiff_sweeps import DerivativeGraph
from .errors import DifferentiationError
from .sparsity import (
    SPARSE_PATTERNS,
    SPARSE_SWEEPS,
    CSCPattern,
    SweepPlan,
    check_triangle,
    hessian_nonzeros,
    sparse_jacobian_blocks,
)

__all__ = [
    "JOINT_KINDS",
    "JOINT_PART_KINDS",
    "PASS_KINDS",
    "SPARSE_PATTERNS",
    "AutodiffPass",
    "DerivativeGraph",
    "JointPass",
    "PortNames",
    "check_kinds",
    "check_parts",
    "check_wrt",
    "check_wrt_list",
    "gradient",
    "hessian",
    "hvp",
    "jacobian",
    "joint",
    "joint_kernel",
    "jvp",
    "vjp",
]

#: the kinds of :func:`joint`
JOINT_KINDS: tuple[str, ...] = ("f", "grad", "jf", "hessian", "hvp")
#: the kinds of a :func:`joint_kernel` part: :data:`JOINT_KINDS`, the sparse Hessian and the
#: sparse Jacobian
JOINT_PART_KINDS: tuple[str, ...] = (*JOINT_KINDS, "hessian_sparse", "jf_sparse")
PASS_KINDS: tuple[str, ...] = ("gradient", "jacobian", "hessian", "hvp", "jvp", "vjp")

#: the words naming a kind that needs a scalar output in error messages
_SCALAR_KINDS = {"grad": "grad", "hessian": "hessian", "hessian_sparse": "sparse hessian", "hvp": "hvp"}


def _seed_ids(g: DerivativeGraph, values: Any, ports: Sequence[Port], what: str) -> list[list[int]]:
    """Constant seeds (one entry per port: a number or a list of the port's size) as const ids."""
    refuse_unordered(values, f"the {what}")
    if len(ports) == 1 and not _is_nested(values):
        values = [values]
    try:
        blocks = list(values)
    except TypeError:
        raise DifferentiationError(
            f"the {what} must be a list with one entry per port, got {values!r}"
        ) from None
    if len(blocks) != len(ports):
        raise DifferentiationError(
            f"the {what} has {len(blocks)} entries but there are {len(ports)} port(s) "
            f"({', '.join(repr(p.name) for p in ports)})"
        )
    out: list[list[int]] = []
    for port, block in zip(ports, blocks, strict=True):
        refuse_unordered(block, f"the {what} of {port.name!r}")
        items = [block] if isinstance(block, (int, float)) and not isinstance(block, bool) else block
        try:
            nums = [float(v) for v in items]
        except (TypeError, ValueError):
            raise DifferentiationError(
                f"the {what} for {port.name!r} must be numbers, got {block!r}"
            ) from None
        if len(nums) != port.size:
            raise DifferentiationError(
                f"the {what} for {port.name!r} has {len(nums)} element(s), expected {port.size}"
            )
        out.append([g.b.const(v) for v in nums])
    return out


def _is_nested(values: Any) -> bool:
    if isinstance(values, (int, float)):
        return False
    try:
        return any(not isinstance(v, (int, float)) for v in values)
    except TypeError:
        return False


# ---- derivative kernels ---------------------------------------------------------------------------


def gradient(kernel: Kernel, wrt: int = 0) -> Kernel:
    """``grad_<in>``: the gradient of the single scalar output w.r.t. input ``wrt``."""
    w = check_wrt(kernel, wrt)
    g = DerivativeGraph(kernel)
    port = kernel.inputs[w]
    names = PortNames(kernel.inputs)
    out = Port(names.take(f"grad_{port.name}"), port.size, port.scalar)
    return g.finish(f"{kernel.name}_gradient_{port.name}", [(out, g.gradient(w))])


def _jacobian_blocks(g: DerivativeGraph, w: int, names: PortNames) -> list[tuple[Port, list[int]]]:
    kernel = g.kernel
    port = kernel.inputs[w]
    blocks = []
    for k, out in enumerate(kernel.outputs):
        p = Port(
            names.take(f"jacobian_{out.name}_{port.name}"), out.size * port.size, out.scalar and port.scalar
        )
        blocks.append((p, g.jacobian(w, k)))
    return blocks


def jacobian(kernel: Kernel, wrt: int = 0) -> Kernel:
    """``jacobian_<out>_<in>`` per output: row-major ``size(out) x size(in)`` matrices."""
    w = check_wrt(kernel, wrt)
    g = DerivativeGraph(kernel)
    blocks = _jacobian_blocks(g, w, PortNames(kernel.inputs))
    return g.finish(f"{kernel.name}_jacobian_{kernel.inputs[w].name}", blocks)


def hessian(kernel: Kernel, wrt: int = 0, stats: dict[str, int] | None = None) -> Kernel:
    """``hessian_<in>``: the row-major Hessian of the single scalar output.

    ``stats``, when given, receives ``visits``: the number of nodes the sweeps touched.
    """
    w = check_wrt(kernel, wrt)
    g = DerivativeGraph(kernel)
    g.scalar_output("hessian")
    port = kernel.inputs[w]
    out = Port(PortNames(kernel.inputs).take(f"hessian_{port.name}"), port.size * port.size, port.scalar)
    result = g.finish(f"{kernel.name}_hessian_{port.name}", [(out, g.hessian(w))])
    if stats is not None:
        stats["visits"] = g.visits
    return result


def hvp(kernel: Kernel, wrt: int = 0, direction: Sequence[float] | None = None) -> Kernel:
    """``hvp_<in>``: Hessian times a direction (forward-over-reverse).

    The direction is the appended input ``v_<in>``, or the constants ``direction`` when given.
    """
    w = check_wrt(kernel, wrt)
    g = DerivativeGraph(kernel)
    g.scalar_output("Hessian-vector product")
    port = kernel.inputs[w]
    names = PortNames(kernel.inputs)
    if direction is None:
        v = g.add_input(Port(names.take(f"v_{port.name}"), port.size, port.scalar))
    else:
        v = _seed_ids(g, direction, [port], "direction")[0]
    out = Port(names.take(f"hvp_{port.name}"), port.size, port.scalar)
    return g.finish(f"{kernel.name}_hvp_{port.name}", [(out, g.hvp(w, v))])


def jvp(kernel: Kernel, wrt: int | Sequence[int] | None = None, tangent: Any = None) -> Kernel:
    """``jvp_<out>`` per output: the directional derivative along a tangent of the ``wrt`` inputs.

    ``wrt`` is an index, a list of indices or ``None`` for every input. ``tangent`` is ``None``
    (runtime inputs ``tangent_<in>`` are appended, one per wrt input) or constants: one entry per
    wrt input, each a number or a list of the input's size (a flat list when there is one input).
    """
    ws = check_wrt_list(kernel, wrt)
    g = DerivativeGraph(kernel)
    names = PortNames(kernel.inputs)
    wports = [kernel.inputs[w] for w in ws]
    if tangent is None:
        seeds = [g.add_input(Port(names.take(f"tangent_{p.name}"), p.size, p.scalar)) for p in wports]
    else:
        seeds = _seed_ids(g, tangent, wports, "tangent")
    outs = g.jvp(ws, seeds)
    blocks = [
        (Port(names.take(f"jvp_{p.name}"), p.size, p.scalar), r)
        for p, r in zip(kernel.outputs, outs, strict=True)
    ]
    return g.finish(f"{kernel.name}_jvp_{'_'.join(p.name for p in wports)}", blocks)


def vjp(kernel: Kernel, wrt: int | Sequence[int] | None = None, cotangent: Any = None) -> Kernel:
    """``vjp_<in>`` per wrt input: cotangent times the Jacobian.

    ``cotangent`` is ``None`` (runtime inputs ``cotangent_<out>`` are appended, one per output) or
    constants: one entry per output, each a number or a list of the output's size (a flat list
    when there is one output).
    """
    ws = check_wrt_list(kernel, wrt)
    g = DerivativeGraph(kernel)
    names = PortNames(kernel.inputs)
    if cotangent is None:
        seeds = [
            g.add_input(Port(names.take(f"cotangent_{p.name}"), p.size, p.scalar)) for p in kernel.outputs
        ]
    else:
        seeds = _seed_ids(g, cotangent, kernel.outputs, "cotangent")
    outs = g.vjp(ws, seeds)
    wports = [kernel.inputs[w] for w in ws]
    blocks = [
        (Port(names.take(f"vjp_{p.name}"), p.size, p.scalar), r) for p, r in zip(wports, outs, strict=True)
    ]
    return g.finish(f"{kernel.name}_vjp_{'_'.join(p.name for p in wports)}", blocks)


def check_kinds(kinds: Any) -> tuple[str, ...]:
    if isinstance(kinds, str):
        kinds = (kinds,)
    try:
        out = tuple(kinds)
    except TypeError:
        raise DifferentiationError(f"joint kinds must be a list of {JOINT_KINDS}, got {kinds!r}") from None
    if not out:
        raise DifferentiationError(f"joint needs at least one kind among {', '.join(JOINT_KINDS)}")
    for k in out:
        if k not in JOINT_KINDS:
            raise DifferentiationError(f"unknown joint kind {k!r}; use one of {', '.join(JOINT_KINDS)}")
    if len(set(out)) != len(out):
        raise DifferentiationError(f"joint kinds {list(out)!r} repeat a kind")
    return out


Parts = tuple[tuple[str, tuple[int, ...]], ...]


def check_parts(parts: Any) -> Parts:
    """``parts`` as ``(kind, blocks)`` pairs: kinds among :data:`JOINT_PART_KINDS`, each once,
    ``"f"`` without blocks and every other kind with at least one input index."""
    try:
        out = tuple((kind, tuple(blocks)) for kind, blocks in parts)
    except (TypeError, ValueError):
        raise DifferentiationError(
            f"joint parts must be (kind, input indices) pairs, got {parts!r}"
        ) from None
    if not out:
        raise DifferentiationError(
            f"a joint kernel needs at least one part among {', '.join(JOINT_PART_KINDS)}"
        )
    for kind, blocks in out:
        if kind not in JOINT_PART_KINDS:
            raise DifferentiationError(
                f"unknown joint kind {kind!r}; use one of {', '.join(JOINT_PART_KINDS)}"
            )
        if (kind == "f") != (not blocks):
            what = "takes no input indices" if kind == "f" else "needs at least one input index"
            raise DifferentiationError(f"the joint part {kind!r} {what}, got {list(blocks)!r}")
    kinds = [kind for kind, _ in out]
    if len(set(kinds)) != len(kinds):
        raise DifferentiationError(f"joint parts {kinds!r} repeat a kind")
    return out


def joint_kernel(
    kernel: Kernel,
    parts: Sequence[tuple[str, Sequence[int]]],
    triangle: str = "full",
    name: str | None = None,
) -> Kernel:
    """One kernel computing several derivative kinds from one shared graph.

    ``parts`` are ``(kind, blocks)`` pairs (:func:`check_parts`): ``"f"`` (the primal outputs,
    no blocks) and ``"grad"``, ``"jf"``, ``"jf_sparse"``, ``"hessian"``, ``"hessian_sparse"``,
    ``"hvp"`` with the input indices to differentiate with respect to. Outputs follow ``parts``
    then each part's blocks: ``grad_<in>``, ``jacobian_<out>_<in>`` per output (row-major, or
    the structural nonzeros in CSC order for ``"jf_sparse"``), ``hessian_<in>`` (row-major
    ``n*n``, or the nonzeros of ``triangle`` in CSC order for ``"hessian_sparse"``), ``hvp_<in>``.
    One direction ``v_<in>`` per HVP block is appended to the inputs. The kernel is named
    ``name`` (default ``<f>_<kinds>``) and notes the pattern of each sparse output under
    ``"sparse_patterns"`` (and the sweep plan of each sparse Jacobian output under
    ``"sparse_sweeps"``).
    """
    ps = check_parts(parts)
    check_triangle(triangle)
    for _, blocks in ps:
        for w in blocks:
            check_wrt(kernel, w)
    g = DerivativeGraph(kernel)
    scalar = [_SCALAR_KINDS[kind] for kind, _ in ps if kind in _SCALAR_KINDS]
    if scalar:
        g.scalar_output(" and ".join(scalar))
    name = "_".join([kernel.name, *(kind for kind, _ in ps)]) if name is None else name
    names = PortNames(kernel.inputs)
    if any(kind == "f" for kind, _ in ps):
        names.taken.update(p.name for p in kernel.outputs)
    directions: dict[int, list[int]] = {}
    for kind, blocks in ps:
        if kind == "hvp":
            for w in blocks:
                p = kernel.inputs[w]
                directions[w] = g.add_input(Port(names.take(f"v_{p.name}"), p.size, p.scalar))
    outputs: list[tuple[Port, Sequence[int]]] = []
    patterns: dict[int, CSCPattern] = {}
    sweeps: dict[int, SweepPlan] = {}
    for kind, blocks in ps:
        if kind == "f":
            outputs.extend(zip(kernel.outputs, g.outputs, strict=True))
        for w in blocks:
            p = kernel.inputs[w]
            if kind == "grad":
                outputs.append((Port(names.take(f"grad_{p.name}"), p.size, p.scalar), g.gradient(w)))
            elif kind == "jf":
                outputs.extend(_jacobian_blocks(g, w, names))
            elif kind == "jf_sparse":
                for jport, jids, jpattern, plan in sparse_jacobian_blocks(g, w, names, name):
                    patterns[len(outputs)] = jpattern
                    sweeps[len(outputs)] = plan
                    outputs.append((jport, jids))
            elif kind == "hessian":
                outputs.append(
                    (Port(names.take(f"hessian_{p.name}"), p.size * p.size, p.scalar), g.hessian(w))
                )
            elif kind == "hessian_sparse":
                pattern, ids = hessian_nonzeros(g, w, triangle)
                port = names.take(f"hessian_{p.name}")
                if not ids:
                    raise DifferentiationError(
                        f"the Hessian output {port!r} of {name!r} is structurally zero; "
                        "there are no nonzeros to compute"
                    )
                patterns[len(outputs)] = pattern
                outputs.append((Port(port, len(ids), p.scalar and len(ids) == 1), ids))
            else:
                outputs.append((Port(names.take(f"hvp_{p.name}"), p.size, p.scalar), g.hvp(w, directions[w])))
    result = g.finish(name, outputs)
    if sweeps:
        result = result.with_note(SPARSE_SWEEPS, sweeps)
    return result.with_note(SPARSE_PATTERNS, patterns) if patterns else result


def joint(kernel: Kernel, kinds: Sequence[str], wrt: int | Sequence[int] = 0) -> Kernel:
    """One kernel whose outputs are the requested kinds, sharing one graph.

    ``kinds`` is a sequence among ``"f"`` (the primal outputs), ``"grad"``, ``"jf"`` (Jacobians),
    ``"hessian"`` and ``"hvp"``; each derivative kind contributes one block per ``wrt`` input,
    in the order of ``kinds`` then ``wrt``. ``"hvp"`` appends a direction input ``v_<in>`` per wrt.
    The kernel is ``<f>_<kinds>_<ins>`` (:func:`joint_kernel`).
    """
    ks = check_kinds(kinds)
    ws = check_wrt_list(kernel, wrt)
    parts = tuple((kind, () if kind == "f" else ws) for kind in ks)
    return joint_kernel(
        kernel, parts, name="_".join([kernel.name, *ks, *(kernel.inputs[w].name for w in ws)])
    )


@attrs.frozen
class JointPass:
    """:func:`joint_kernel` as a pass (so the pass manager verifies the joint kernel).

    ``run(kernel)`` returns the joint kernel of ``parts``; each sparse Hessian output (kind
    ``"hessian_sparse"``, laid out as ``triangle``) and each sparse Jacobian output (kind
    ``"jf_sparse"``) has its pattern in the kernel's ``"sparse_patterns"`` note.
    """

    parts: Parts = attrs.field(converter=check_parts)
    triangle: str = attrs.field(default="full", converter=check_triangle)
    name: str = "joint"

    def run(self, kernel: Kernel) -> Kernel:
        return joint_kernel(kernel, self.parts, self.triangle)


@attrs.frozen
class AutodiffPass:
    """The autodiff pass: ``run(kernel)`` returns the derivative kernel of ``kind``.

    ``kind`` is one of ``gradient jacobian hessian hvp jvp vjp`` or a tuple of joint kinds (see
    :func:`joint`). ``wrt`` is an input index; jvp, vjp and joint also take a list of indices
    (``None``: every input, for jvp and vjp). ``seeds`` are the constant tangent (jvp) or
    cotangent (vjp) seeds; ``None`` appends runtime seed inputs.
    """

    kind: str | tuple[str, ...]
    wrt: int | tuple[int, ...] | None = 0
    seeds: Any = attrs.field(default=None, eq=False)
    name: str = "autodiff"

    def __attrs_post_init__(self) -> None:
        if isinstance(self.kind, str):
            if self.kind not in PASS_KINDS:
                raise DifferentiationError(
                    f"unknown autodiff kind {self.kind!r}; use one of {', '.join(PASS_KINDS)} "
                    "or a tuple of joint kinds"
                )
        else:
            check_kinds(self.kind)
        if self.seeds is not None and self.kind not in ("jvp", "vjp"):
            raise DifferentiationError(f"constant seeds apply to jvp and vjp only, not to {self.kind!r}")

    def run(self, kernel: Kernel) -> Kernel:
        kind = self.kind
        if not isinstance(kind, str):
            return joint(kernel, kind, 0 if self.wrt is None else self.wrt)
        if kind == "jvp":
            return jvp(kernel, self.wrt, self.seeds)
        if kind == "vjp":
            return vjp(kernel, self.wrt, self.seeds)
        wrt: Any = self.wrt  # checked by the constructors below
        if kind == "gradient":
            return gradient(kernel, wrt)
        if kind == "jacobian":
            return jacobian(kernel, wrt)
        if kind == "hessian":
            return hessian(kernel, wrt)
        return hvp(kernel, wrt)
