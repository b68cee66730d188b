"""The derivative graph: a builder holding a copy of a primal kernel, with the sweeps over it.

:class:`DerivativeGraph` receives a copy of the primal kernel in one
:class:`~ir.kernel.KernelBuilder`; derivative instructions are emitted next to it and share its
values (hash-consing merges repeated subexpressions). Builder ids are in topological order, so
the sweeps are loops over sorted id lists, never recursion:

* **activity**: which values depend on the differentiation inputs (one linear scan, extended
  incrementally as the builder grows);
* **reverse sweep** (VJP): adjoints accumulated in reverse topological order over the *cone* of
  the seeded values (their active ancestors, found with an explicit stack), ``adj[arg] +=
  cotangent * partial``;
* **forward sweep** (JVP): tangents propagated in topological order over the cone of the targets,
  ``tangent = sum partial_k * tangent_k``.

Both sweeps take their partial derivatives from the single rule table
:data:`passes.autodiff_rules.RULES` and carry adjoints and tangents as scaled values
(:mod:`passes.autodiff_scaled`). The derivative blocks (gradient, Jacobian, Hessian entries, HVP,
JVP, VJP) are value-id lists built from the sweeps; :mod:`passes.autodiff` names and assembles
them into kernels.

Hessians: one reverse sweep per gradient element restricted to its cone; only the lower
triangle is computed (:meth:`DerivativeGraph.hessian_entries`) and the dense form mirrors each
entry (the same value id appears at ``(i, j)`` and ``(j, i)``); structurally zero entries are
the constant 0. HVPs are forward-over-reverse: one forward sweep over the gradient graph.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gradgen.ir.kernel import Kernel, KernelBuilder, Port
from gradgen.ir.ops import Op

from .autodiff_rules import partials
from .autodiff_scaled import Scaled, accumulate, pending, scale, split, value
from .errors import DifferentiationError


def _scaling(b: KernelBuilder, partial: int | None) -> bool:
    """Whether ``partial`` is a constant other than ``±1`` (a pure rescaling of the cotangent)."""
    c = None if partial is None else b.const_of(partial)
    return c is not None and abs(c) != 1.0


def _unemitted(cot: Scaled, made: dict[int, Scaled]) -> Scaled | None:
    """``cot`` as the scaled value it was emitted from when its base is a power-of-two coefficient
    this sweep emitted (``(2 * g, ±1)`` -> ``(g, ±2)``), else ``None``."""
    base, k = cot
    src = made.get(base)
    if src is None or abs(k) != 1.0 or abs(math.frexp(src[1])[0]) != 0.5:
        return None
    return src[0], src[1] * k


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

        An adjoint with a coefficient other than ``±1`` is emitted before it feeds the partials
        of two or more distinct arguments, so its coefficient is multiplied once rather than once
        per branch (both terms of ``s + s`` reach ``s`` and merge into one coefficient).

        An argument reached through a constant partial ``c`` other than ``±1`` (the ``0.025`` of
        ``x + 0.025 * k``) takes the adjoint as it was before a power-of-two coefficient was
        emitted: ``(g, 2 * c)`` rather than ``(2 * g, c)``, so that ``g * 2`` and the product by
        ``c`` run side by side instead of one after the other on the dependency chain (the
        serial reverse sweep of an unrolled RK4, whose ``2 * k2`` and ``2 * k3`` make such
        adjoints at every stage). ``2 * c`` is exact, so both give the same values wherever
        ``2 * g`` does not overflow; other coefficients keep the emitted value, whose rounding
        the other readers already share.
        """
        b = self.b
        act = self.activity(wrt)
        adj: dict[int, Scaled] = {}
        made: dict[int, Scaled] = {}
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
                pending(b, cot)
                and len({a for a, p, nd in zip(args, parts, need, strict=True) if nd and p is not None}) > 1
            ):
                vid = value(b, cot)
                made.setdefault(vid, cot)
                cot = (vid, 1.0)
            direct = _unemitted(cot, made)
            for a, p, nd in zip(args, parts, need, strict=True):
                if nd:
                    term = scale(b, p, cot if direct is None or not _scaling(b, p) else direct, graph)
                    if term is not None:
                        adj[a] = accumulate(b, adj.get(a), term)
        return adj

    def forward(
        self, seeds: dict[int, int], targets: Sequence[int], wrt: tuple[int, ...]
    ) -> dict[int, Scaled]:
        """Tangents (scaled values) of the active values in the cone of ``targets``, from input
        tangents ``seeds``. A tangent with a coefficient other than ``±1`` that two or more
        instructions of the cone (or a target) use is emitted once (an instruction using it
        twice, as ``s * s``, counts once)."""
        b = self.b
        act = self.activity(wrt)
        tan = {v: split(b, t) for v, t in seeds.items() if not b.is_zero(t)}
        cone = self._cone([t for t in targets if act[t]], act)
        graph = set(cone)
        uses: dict[int, int] = dict.fromkeys(targets, 1)
        for v in cone:
            for a in set(b.args[v]):
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
                if pending(b, acc) and uses.get(v, 0) > 1:
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
