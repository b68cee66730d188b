"""Automatic differentiation of SSA kernels: forward and reverse sweeps and derivative kernels.

Every derivative kernel is built in one :class:`~ir.kernel.KernelBuilder` that first receives a
copy of the primal kernel; derivative instructions are emitted next to it and share its values
(hash-consing merges repeated subexpressions). Builder ids are in topological order, so the
sweeps are loops over sorted id lists, never recursion:

* **activity**: which values depend on the differentiation inputs (one linear scan, extended
  incrementally as the builder grows);
* **reverse sweep** (VJP): adjoints accumulated in reverse topological order over the *cone* of
  the seeded values (their active ancestors, found with an explicit stack), ``adj[arg] +=
  cotangent * partial``;
* **forward sweep** (JVP): tangents propagated in topological order over the cone of the targets,
  ``tangent = sum partial_k * tangent_k``.

Both sweeps take their partial derivatives from the single rule table
:data:`passes.autodiff_rules.RULES`. A zero partial or a zero cotangent creates no node. A
cotangent of the form ``select(c, y, 0)`` (from ``if_else``) stays gated when it is scaled, so an
inf/NaN partial inside the branch that was not taken does not reach the result.

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

Hessians: one reverse sweep per gradient element restricted to its cone; only the lower
triangle is computed and each entry is mirrored (the same value id appears at ``(i, j)`` and
``(j, i)``); structurally zero entries are the constant 0. HVPs are forward-over-reverse: one
forward sweep over the gradient graph.
"""

from __future__ import annotations

import math
from collections.abc import Container, Sequence
from fractions import Fraction
from typing import Any

import attrs

from gradgen.ir.kernel import Kernel, KernelBuilder, Port
from gradgen.ir.ops import Op

from .autodiff_rules import partials
from .errors import DifferentiationError

JOINT_KINDS: tuple[str, ...] = ("f", "grad", "jf", "hessian", "hvp")
PASS_KINDS: tuple[str, ...] = ("gradient", "jacobian", "hessian", "hvp", "jvp", "vjp")


# ---- scaling and accumulation ---------------------------------------------------------------
#
# Cotangents and tangents are carried as *scaled values* ``(base, k)`` meaning ``k * base``,
# where ``k`` is a float and ``base`` a value id (the constant 1 for a pure constant). Constant
# factors of partials (``2*x`` from ``x**2``, ``-1`` from ``a - b``, ``100`` from ``100*s``)
# multiply ``k`` instead of creating nodes; a coefficient is emitted once, when a value is
# needed (an output, a sum of terms with different coefficients, or a value whose adjoint or
# tangent feeds two or more products). Sums of terms with equal or opposite coefficients are
# plain ``+``/``-`` of the bases. No node is created for a zero partial or a zero cotangent.

Scaled = tuple[int, float]

_MIN_NORMAL = 2.2250738585072014e-308


def _normal(k: float) -> bool:
    return math.isfinite(k) and abs(k) >= _MIN_NORMAL


def _gate(b: KernelBuilder, vid: int) -> tuple[int, int, bool] | None:
    """``(cond, value, taken_when_true)`` when ``vid`` is ``select(c, value, 0)`` or
    ``select(c, 0, value)``."""
    if b.ops[vid] is not Op.SELECT:
        return None
    c, y, z = b.args[vid]
    if b.is_zero(z):
        return c, y, True
    if b.is_zero(y):
        return c, z, False
    return None


def _gated(b: KernelBuilder, cond: int, value: int, when_true: bool) -> int:
    zero = b.const(0.0)
    args = (cond, value, zero) if when_true else (cond, zero, value)
    return b.emit(Op.SELECT, args)


def split(b: KernelBuilder, vid: int) -> Scaled:
    """``vid`` as ``(base, k)``: a constant ``c`` is ``(1, c)``, ``-x`` is ``(x, -1)``, ``x * c``
    and ``-(x * c)`` are ``(x, ±c)`` (for a normal ``c``); anything else is ``(vid, 1)``."""
    k = 1.0
    if b.ops[vid] is Op.CONST:
        return b.const(1.0), b.attrs[vid]
    if b.ops[vid] is Op.NEG:
        vid, k = b.args[vid][0], -1.0
    if b.ops[vid] is Op.MUL:
        x, y = b.args[vid]
        c = b.const_of(y)
        if c is not None and b.ops[x] is not Op.CONST and _normal(c):
            return x, k * c
    return vid, k


def times(b: KernelBuilder, base: int, k: float) -> int:
    """The value ``k * base``; a gated base ``select(c, y, 0)`` stays gated."""
    if b.const_of(base) == 1.0:
        return b.const(k)
    if k == 1.0:
        return base
    gate = _gate(b, base)
    if gate is not None:
        cond, value, side = gate
        return _gated(b, cond, b.mul(value, b.const(k)), side)
    return b.mul(base, b.const(k))


def _pending(b: KernelBuilder, s: Scaled) -> bool:
    """Whether emitting ``s`` costs a multiplication (a coefficient other than ±1 on a value)."""
    return abs(s[1]) != 1.0 and b.const_of(s[0]) != 1.0


def value(b: KernelBuilder, s: Scaled) -> int:
    """The value id of a scaled value."""
    return times(b, s[0], s[1])


def _product(b: KernelBuilder, p: int, g: int) -> int:
    """``p * g`` for two bases; a gated ``g`` (or a partial ``select(c, 1, 0)``) stays gated."""
    one = b.const(1.0)
    if p == one:
        return g
    if g == one:
        return p
    gate = _gate(b, g)
    if gate is not None:
        cond, v, side = gate
        return _gated(b, cond, b.mul(p, v), side)
    gate = _gate(b, p)
    if gate is not None and b.const_of(gate[1]) == 1.0:
        return _gated(b, gate[0], g, gate[2])
    return b.mul(p, g)


def scale(b: KernelBuilder, partial: int | None, g: Scaled, graph: Container[int] = ()) -> Scaled | None:
    """``partial * g``, or ``None`` when either factor is zero.

    A partial gives its constant factor (``2`` of ``x * 2``) to the coefficient, unless it is a
    value of the differentiated ``graph`` itself (``x * 200`` of a gradient being differentiated
    again), which is computed anyway and used as it is.
    """
    if partial is None or b.is_zero(partial) or g[1] == 0.0:
        return None
    pb, pk = (partial, 1.0) if partial in graph else split(b, partial)
    if pk == 0.0:
        return None
    k = pk * g[1]
    if not _normal(k):  # keep the constants as nodes rather than round them into k
        return _product(b, times(b, pb, pk), times(b, g[0], g[1])), 1.0
    return _product(b, pb, g[0]), k


def _add(b: KernelBuilder, u: int, v: int, negate_v: bool) -> int:
    """``u + v`` (``u - v`` when ``negate_v``); a negative constant ``v`` flips the operation,
    and two terms gated on the same condition merge into one gated term so the gate survives."""
    c = b.const_of(v)
    if c is not None and c < 0:
        v, negate_v = b.const(-c), not negate_v
    if b.ops[u] is Op.SELECT and b.ops[v] is Op.SELECT and b.args[u][0] == b.args[v][0]:
        cond, y1, z1 = b.args[u]
        _, y2, z2 = b.args[v]
        op = Op.SUB if negate_v else Op.ADD
        return b.emit(Op.SELECT, (cond, b.emit(op, (y1, y2)), b.emit(op, (z1, z2))))
    return b.sub(u, v) if negate_v else b.add(u, v)


def _ratio(p: float, t: float) -> float | None:
    """``p / t`` when it is exact and normal (so rescaling a term by it adds no rounding)."""
    r = p / t
    return r if _normal(r) and Fraction(r) * Fraction(t) == Fraction(p) else None


def accumulate(b: KernelBuilder, prev: Scaled | None, term: Scaled) -> Scaled:
    """``prev + term`` (``term`` when ``prev`` is ``None``).

    Equal or opposite coefficients add or subtract the bases. Otherwise one term is rescaled
    to the other's coefficient when the ratio is exact, preferring to keep a coefficient
    ``±1``; failing that both are emitted and added.
    """
    if prev is None:
        return term
    (pb, pk), (tb, tk) = prev, term
    one = b.const(1.0)
    if pb == one and tb == one:
        return one, pk + tk
    if pk == tk:
        return _add(b, pb, tb, False), pk
    if pk == -tk:
        return _difference(b, pb, tb, pk)
    if pb != one and (tb == one or (abs(pk) == 1.0 and abs(tk) != 1.0)):
        (pb, pk), (tb, tk) = (tb, tk), (pb, pk)
    # rescale prev to the coefficient of term: prev = (pk/tk) * pb
    r = _ratio(pk, tk)
    if r is None:
        return _add(b, value(b, prev), value(b, term), False), 1.0
    if r < 0:
        return _difference(b, tb, times(b, pb, -r), tk)
    return _add(b, times(b, pb, r), tb, False), tk


def _difference(b: KernelBuilder, u: int, v: int, k: float) -> Scaled:
    """``k * (u - v)``, as ``v - u`` when ``k`` is ``-1`` (so no negation is left)."""
    if k == -1.0:
        return _add(b, v, u, True), 1.0
    return _add(b, u, v, True), k


# ---- the derivative graph ---------------------------------------------------------------------


class DerivativeGraph:
    """A builder holding a copy of a primal kernel, with forward and reverse sweeps over it.

    ``visits`` counts the nodes touched by the sweeps (cone collection plus processing); tests use
    it to check that derivative construction is linear in the graph size.
    """

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.b = KernelBuilder()
        primal = self.b.copy_from(kernel)
        self.outputs: list[list[int]] = [[primal[v] for v in res] for res in kernel.results]
        self.ports: list[Port] = list(kernel.inputs)
        self.visits = 0
        self._activity: dict[tuple[int, ...], bytearray] = {}
        self._gradients: dict[int, list[int]] = {}

    # ---- inputs -----------------------------------------------------------------------------
    def input_ids(self, port: int) -> list[int]:
        return [self.b.input(port, j) for j in range(self.ports[port].size)]

    def add_input(self, port: Port) -> list[int]:
        """Append an input port (a direction, tangent or cotangent) and return its element ids."""
        self.ports.append(port)
        return self.input_ids(len(self.ports) - 1)

    # ---- analysis ---------------------------------------------------------------------------
    def activity(self, wrt: tuple[int, ...]) -> bytearray:
        """``act[v] == 1`` iff value ``v`` depends on an input of the ports ``wrt``."""
        act = self._activity.setdefault(wrt, bytearray())
        b = self.b
        for i in range(len(act), len(b.ops)):
            if b.ops[i] is Op.INPUT:
                act.append(1 if b.attrs[i][0] in wrt else 0)
            else:
                act.append(1 if any(act[a] for a in b.args[i]) else 0)
        return act

    def _cone(self, roots: Sequence[int], act: bytearray) -> list[int]:
        """The active ancestors of ``roots`` (roots included), in increasing id order."""
        seen = set(roots)
        stack = list(seen)
        args = self.b.args
        while stack:
            v = stack.pop()
            for a in args[v]:
                if act[a] and a not in seen:
                    seen.add(a)
                    stack.append(a)
        self.visits += len(seen)
        return sorted(seen)

    # ---- sweeps -----------------------------------------------------------------------------
    def reverse(self, seeds: Sequence[tuple[int, int]], wrt: tuple[int, ...]) -> dict[int, Scaled]:
        """Adjoints (scaled values) of the active values in the cone of the seeds ``(value, cotangent)``.

        An adjoint with a coefficient other than ``±1`` is emitted before it feeds two or more
        partials, so its coefficient is multiplied once rather than once per branch.
        """
        b = self.b
        act = self.activity(wrt)
        adj: dict[int, Scaled] = {}
        for v, g in seeds:
            if act[v] and not b.is_zero(g):
                adj[v] = accumulate(b, adj.get(v), split(b, g))
        order = self._cone(list(adj), act)
        graph = set(order)
        for v in reversed(order):
            cot = adj.get(v)
            args = b.args[v]
            if cot is None or not args:
                continue
            self.visits += 1
            need = [act[a] == 1 for a in args]
            parts = partials(b, v, need)
            if (
                _pending(b, cot)
                and sum(1 for p, nd in zip(parts, need, strict=True) if nd and p is not None) > 1
            ):
                cot = (value(b, cot), 1.0)
            for a, p, nd in zip(args, parts, need, strict=True):
                if nd:
                    term = scale(b, p, cot, graph)
                    if term is not None:
                        adj[a] = accumulate(b, adj.get(a), term)
        return adj

    def forward(
        self, seeds: dict[int, int], targets: Sequence[int], wrt: tuple[int, ...]
    ) -> dict[int, Scaled]:
        """Tangents (scaled values) of the active values in the cone of ``targets``, from input
        tangents ``seeds``. A tangent with a coefficient other than ``±1`` that two or more
        instructions of the cone (or a target) use is emitted once."""
        b = self.b
        act = self.activity(wrt)
        tan = {v: split(b, t) for v, t in seeds.items() if not b.is_zero(t)}
        cone = self._cone([t for t in targets if act[t]], act)
        graph = set(cone)
        uses: dict[int, int] = dict.fromkeys(targets, 1)
        for v in cone:
            for a in b.args[v]:
                uses[a] = uses.get(a, 0) + 1
        for v in cone:
            args = b.args[v]
            if v in tan or not args:
                continue
            need = [a in tan for a in args]
            if not any(need):
                continue
            self.visits += 1
            acc: Scaled | None = None
            for a, p, nd in zip(args, partials(b, v, need), need, strict=True):
                if nd:
                    term = scale(b, p, tan[a], graph)
                    if term is not None:
                        acc = accumulate(b, acc, term)
            if acc is not None:
                if _pending(b, acc) and uses.get(v, 0) > 1:
                    acc = (value(b, acc), 1.0)
                tan[v] = acc
        return tan

    def values(self, found: dict[int, Scaled], ids: Sequence[int]) -> list[int]:
        """The value ids of the adjoints or tangents of ``ids`` (the constant 0 where absent)."""
        b = self.b
        zero = b.const(0.0)
        return [value(b, found[v]) if v in found else zero for v in ids]

    # ---- derivative blocks ------------------------------------------------------------------
    def scalar_output(self, what: str) -> int:
        k = self.kernel
        if len(k.outputs) != 1 or k.outputs[0].size != 1:
            shape = ", ".join(f"{p.name!r} of size {p.size}" for p in k.outputs)
            raise DifferentiationError(
                f"the {what} of {k.name!r} needs exactly one scalar output, but it has {shape}; "
                "use the jacobian (or a vjp) for vector-valued functions"
            )
        return self.outputs[0][0]

    def gradient(self, wrt: int) -> list[int]:
        cached = self._gradients.get(wrt)
        if cached is None:
            y = self.scalar_output("gradient")
            adj = self.reverse([(y, self.b.const(1.0))], (wrt,))
            cached = self.values(adj, self.input_ids(wrt))
            self._gradients[wrt] = cached
        return cached

    def jacobian(self, wrt: int, out: int) -> list[int]:
        """Row-major ``d outputs[out] / d inputs[wrt]``: one reverse sweep per output element."""
        b = self.b
        xs = self.input_ids(wrt)
        one = b.const(1.0)
        rows: dict[int, list[int]] = {}
        flat: list[int] = []
        for y in self.outputs[out]:
            row = rows.get(y)
            if row is None:
                adj = self.reverse([(y, one)], (wrt,))
                row = rows[y] = self.values(adj, xs)
            flat.extend(row)
        return flat

    def hessian_entries(self, wrt: int) -> dict[tuple[int, int], int]:
        """The lower-triangle Hessian entries ``(i, j) -> id`` (``j <= i``) that a reverse sweep
        reaches, one sweep per gradient element restricted to its cone: ``O(nnz)`` entries, no
        ``n*n`` structure (an entry may still fold to the constant 0)."""
        b = self.b
        g = self.gradient(wrt)
        pos = {x: j for j, x in enumerate(self.input_ids(wrt))}
        b.const(0.0)  # interned here, before the sweeps, so both Hessian forms number alike
        one = b.const(1.0)
        entries: dict[tuple[int, int], int] = {}
        for i, gi in enumerate(g):
            for v, h in self.reverse([(gi, one)], (wrt,)).items():
                j = pos.get(v)
                if j is not None and j <= i:
                    entries[(i, j)] = value(b, h)
        return entries

    def hessian(self, wrt: int) -> list[int]:
        """Row-major ``n*n`` Hessian: :meth:`hessian_entries` mirrored, zeros elsewhere."""
        n = len(self.input_ids(wrt))
        entries = self.hessian_entries(wrt)
        flat = [self.b.const(0.0)] * (n * n)
        for (i, j), h in entries.items():
            flat[i * n + j] = flat[j * n + i] = h
        return flat

    def hvp(self, wrt: int, direction: Sequence[int]) -> list[int]:
        """Hessian times ``direction``: a forward sweep over the gradient graph."""
        g = self.gradient(wrt)
        tan = self.forward(dict(zip(self.input_ids(wrt), direction, strict=True)), g, (wrt,))
        return self.values(tan, g)

    def jvp(self, wrt: Sequence[int], tangents: Sequence[Sequence[int]]) -> list[list[int]]:
        seeds: dict[int, int] = {}
        for p, t in zip(wrt, tangents, strict=True):
            seeds.update(zip(self.input_ids(p), t, strict=True))
        targets = [v for res in self.outputs for v in res]
        tan = self.forward(seeds, targets, tuple(wrt))
        return [self.values(tan, res) for res in self.outputs]

    def vjp(self, wrt: Sequence[int], cotangents: Sequence[Sequence[int]]) -> list[list[int]]:
        seeds = [
            (y, c)
            for res, cot in zip(self.outputs, cotangents, strict=True)
            for y, c in zip(res, cot, strict=True)
        ]
        adj = self.reverse(seeds, tuple(wrt))
        return [self.values(adj, self.input_ids(p)) for p in wrt]

    def finish(self, name: str, outputs: Sequence[tuple[Port, Sequence[int]]]) -> Kernel:
        return self.b.finish(name, self.ports, [p for p, _ in outputs], [list(r) for _, r in outputs])


# ---- validation and naming --------------------------------------------------------------------


def check_wrt(kernel: Kernel, wrt: Any) -> int:
    """``wrt`` as a valid input index of ``kernel`` or a :class:`DifferentiationError`."""
    names = ", ".join(repr(p.name) for p in kernel.inputs)
    if isinstance(wrt, bool) or not isinstance(wrt, int):
        raise DifferentiationError(
            f"wrt must be an input index of {kernel.name!r} (inputs: {names}), got {wrt!r}"
        )
    if not 0 <= wrt < len(kernel.inputs):
        raise DifferentiationError(
            f"wrt index {wrt} is out of range: {kernel.name!r} has {len(kernel.inputs)} input(s) ({names})"
        )
    return wrt


def check_wrt_list(kernel: Kernel, wrt: Any) -> tuple[int, ...]:
    """``None`` (all inputs), an index or a sequence of distinct indices."""
    if wrt is None:
        return tuple(range(len(kernel.inputs)))
    items = [wrt] if isinstance(wrt, int) else wrt
    try:
        out = tuple(check_wrt(kernel, w) for w in items)
    except TypeError:
        raise DifferentiationError(f"wrt must be an input index or a list of them, got {wrt!r}") from None
    if not out:
        raise DifferentiationError(f"wrt for {kernel.name!r} is empty; give at least one input index")
    if len(set(out)) != len(out):
        raise DifferentiationError(f"wrt {list(out)!r} for {kernel.name!r} lists an input more than once")
    return out


class PortNames:
    """Port names already used; :meth:`take` returns ``name`` or ``name_1``, ``name_2``..."""

    def __init__(self, ports: Sequence[Port]) -> None:
        self.taken = {p.name for p in ports}

    def take(self, name: str) -> str:
        out, k = name, 0
        while out in self.taken:
            k += 1
            out = f"{name}_{k}"
        self.taken.add(out)
        return out


def _seed_ids(g: DerivativeGraph, values: Any, ports: Sequence[Port], what: str) -> list[list[int]]:
    """Constant seeds (one entry per port: a number or a list of the port's size) as const ids."""
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


# ---- kernel-level constructors ------------------------------------------------------------------


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


def joint(kernel: Kernel, kinds: Sequence[str], wrt: int | Sequence[int] = 0) -> Kernel:
    """One kernel whose outputs are the requested kinds, sharing one graph.

    ``kinds`` is a sequence among ``"f"`` (the primal outputs), ``"grad"``, ``"jf"`` (Jacobians),
    ``"hessian"`` and ``"hvp"``; each derivative kind contributes one block per ``wrt`` input,
    in the order of ``kinds`` then ``wrt``. ``"hvp"`` appends a direction input ``v_<in>`` per wrt.
    """
    ks = check_kinds(kinds)
    ws = check_wrt_list(kernel, wrt)
    g = DerivativeGraph(kernel)
    if "grad" in ks or "hessian" in ks or "hvp" in ks:
        g.scalar_output(" and ".join(k for k in ks if k in ("grad", "hessian", "hvp")))
    names = PortNames(kernel.inputs)
    if "f" in ks:
        names.taken.update(p.name for p in kernel.outputs)
    directions = {}
    if "hvp" in ks:
        for w in ws:
            p = kernel.inputs[w]
            directions[w] = g.add_input(Port(names.take(f"v_{p.name}"), p.size, p.scalar))
    blocks: list[tuple[Port, list[int]]] = []
    for kind in ks:
        if kind == "f":
            blocks.extend(zip(kernel.outputs, g.outputs, strict=True))
            continue
        for w in ws:
            p = kernel.inputs[w]
            if kind == "grad":
                blocks.append((Port(names.take(f"grad_{p.name}"), p.size, p.scalar), g.gradient(w)))
            elif kind == "jf":
                blocks.extend(_jacobian_blocks(g, w, names))
            elif kind == "hessian":
                blocks.append(
                    (Port(names.take(f"hessian_{p.name}"), p.size * p.size, p.scalar), g.hessian(w))
                )
            else:
                blocks.append((Port(names.take(f"hvp_{p.name}"), p.size, p.scalar), g.hvp(w, directions[w])))
    name = "_".join([kernel.name, *ks, *(kernel.inputs[w].name for w in ws)])
    return g.finish(name, blocks)


# ---- joint kernels with a block list per kind (added for gradgen.builder, issue 4) ----------


def joint_blocks(kernel: Kernel, parts: Sequence[tuple[str, tuple[int, ...]]]) -> Kernel:
    """Like :func:`joint` with one list of input blocks per kind (the builder's ``FunctionBundle``).

    ``parts`` are ``(kind, blocks)`` pairs with kinds among :data:`JOINT_KINDS` (``"f"`` takes no
    blocks), already validated. Outputs follow ``parts`` then each kind's blocks; one direction
    ``v_<in>`` per HVP block is appended to the inputs in that order.
    """
    g = DerivativeGraph(kernel)
    taken = {p.name for p in kernel.inputs}
    if any(kind == "f" for kind, _ in parts):
        taken.update(p.name for p in kernel.outputs)

    def take(name: str) -> str:
        out, k = name, 0
        while out in taken:
            k += 1
            out = f"{name}_{k}"
        taken.add(out)
        return out

    directions: dict[int, list[int]] = {}
    for kind, blocks in parts:
        if kind == "hvp":
            for w in blocks:
                p = kernel.inputs[w]
                directions[w] = g.add_input(Port(take(f"v_{p.name}"), p.size, p.scalar))
    outputs: list[tuple[Port, Sequence[int]]] = []
    for kind, blocks in parts:
        if kind == "f":
            outputs.extend(zip(kernel.outputs, g.outputs, strict=True))
        for w in blocks:
            p = kernel.inputs[w]
            if kind == "grad":
                outputs.append((Port(take(f"grad_{p.name}"), p.size, p.scalar), g.gradient(w)))
            elif kind == "jf":
                for k, out in enumerate(kernel.outputs):
                    port = Port(
                        take(f"jacobian_{out.name}_{p.name}"), out.size * p.size, out.scalar and p.scalar
                    )
                    outputs.append((port, g.jacobian(w, k)))
            elif kind == "hessian":
                outputs.append((Port(take(f"hessian_{p.name}"), p.size * p.size, p.scalar), g.hessian(w)))
            elif kind == "hvp":
                outputs.append((Port(take(f"hvp_{p.name}"), p.size, p.scalar), g.hvp(w, directions[w])))
    name = "_".join([kernel.name, *(kind for kind, _ in parts)])
    return g.finish(name, outputs)


# ---- end of the issue-4 addition ----------------------------------------------------------------


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
        wrt: Any = self.wrt  # validated by check_wrt in the constructor below
        if kind == "gradient":
            return gradient(kernel, wrt)
        if kind == "jacobian":
            return jacobian(kernel, wrt)
        if kind == "hessian":
            return hessian(kernel, wrt)
        return hvp(kernel, wrt)
