"""Random expression programs for the random-program tests (``tests/test_random_programs.py``).

A :class:`Program` is plain data, so a failing case can be stored as JSON in
``tests/regressions/`` and replayed: ``n_inputs`` scalar inputs (value ids ``0 .. n-1``), then one
instruction per node (value id ``n + k``) as ``(op name, argument ids, attribute)``, and the ids
of the outputs. Floats are stored as ``repr`` strings so that ``nan``, ``inf`` and ``-0.0`` survive
JSON.

Programs are drawn through a small :class:`Draw` interface with two implementations: one over
hypothesis' ``data.draw`` (shrinking, used by ``@given`` tests) and one over a seeded
``random.Random`` (used to fill the one Rust crate per test run). The generator covers every
operation of :data:`ir.ops.OP_INFO`, in three shapes:

* ``general``: random DAGs whose arguments are biased towards recent values (deep) or drawn
  uniformly (shared), with inputs that may be anything including 0, inf and NaN;
* ``chain``: a deep chain (hundreds of nodes) of bounded update steps;
* ``shared``: ``v[k] = f(v[k-1], v[k-2])``, whose expanded tree is exponential in the DAG size.

With ``smooth=True`` the operand of every operation with a restricted domain is first mapped
into that domain by a smooth wrapper (:data:`DOMAIN_WRAPPERS`), so that derivatives can be
compared with finite differences. :data:`SINGULAR_DISTANCE` tells, per operation, how far its
operands are from a point where it is not smooth (a kink, a jump or a domain edge); the tests use
it to decide where a comparison with finite differences or a tolerance is meaningful.

Everything is iterative (programs reach thousands of nodes).
"""

from __future__ import annotations

import abc
import json
import math
import random
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from gradgen import Function, SXVector
from gradgen.ir.expr import SX
from gradgen.ir.ops import LEAVES, OP_BY_NAME, OP_INFO, VARIADIC, AttrKind, Op, evaluate

#: every operation a program node may use (leaves are inputs and ``const`` nodes); ``custom``
#: carries a user definition with callbacks, which has no JSON form: tests/test_custom_functions.py
#: and the per-op tables cover it
COMPUTED_OPS: tuple[Op, ...] = tuple(op for op in Op if op not in LEAVES and op is not Op.CUSTOM)
NORM_ORDERS = (1.5, 2.5, 3.0, 4.0, 0.5)
POWI_EXPONENTS = (2, 3, -1, -2, 4, 5, -3, 7, 0, 1, 12, -9)
#: "interesting" constants; finite ones only in smooth programs
CONSTANTS = (0.0, -0.0, 1.0, -1.0, 2.0, 0.5, 3.0, -2.5, 0.1, 1e-3, 1e3, math.pi)
SPECIAL_FLOATS = (math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324, 1e-300)


def fmt(v: float) -> str:
    return repr(float(v))


@attrs.frozen
class Program:
    """A straight-line program over ``n_inputs`` scalars (see the module docstring)."""

    n_inputs: int
    nodes: tuple[tuple[str, tuple[int, ...], Any], ...]
    outputs: tuple[int, ...]
    shape: str = "general"
    smooth: bool = False

    # ---- (de)serialisation ----------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        nodes = []
        for name, args, attr in self.nodes:
            a = fmt(attr) if isinstance(attr, float) else attr
            nodes.append([name, list(args), a])
        return {
            "n_inputs": self.n_inputs,
            "nodes": nodes,
            "outputs": list(self.outputs),
            "shape": self.shape,
            "smooth": self.smooth,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Program:
        nodes = []
        for name, args, attr in data["nodes"]:
            kind = OP_INFO[OP_BY_NAME[name]].attr
            if kind in (AttrKind.FLOAT, AttrKind.PARAM):
                attr = float(attr)
            elif kind is AttrKind.INT:
                attr = int(attr)
            nodes.append((name, tuple(args), attr))
        return cls(
            data["n_inputs"],
            tuple(nodes),
            tuple(data["outputs"]),
            data.get("shape", "general"),
            data.get("smooth", False),
        )

    def dumps(self) -> str:
        return json.dumps(self.to_json())

    # ---- meaning --------------------------------------------------------------------------
    def ops(self) -> set[Op]:
        return {OP_BY_NAME[name] for name, _, _ in self.nodes}

    def evaluate_all(
        self, x: Sequence[float], noise: Callable[[int, float], float] | None = None
    ) -> list[float]:
        """Every value of the program at ``x`` with :mod:`ir.ieee` semantics and no folding;
        ``noise(id, v)``, when given, replaces each computed value (for sensitivity estimates)."""
        vals = [float(v) for v in x]
        for k, (name, args, attr) in enumerate(self.nodes):
            op = OP_BY_NAME[name]
            v = float(attr) if op is Op.CONST else float(evaluate(op, attr, [vals[a] for a in args]))
            if noise is not None:
                v = noise(self.n_inputs + k, v)
            vals.append(v)
        return vals

    def evaluate(self, x: Sequence[float]) -> list[float]:
        vals = self.evaluate_all(x)
        return [vals[o] for o in self.outputs]

    def expressions(self, symbols: Sequence[SX]) -> list[SX]:
        """The outputs as ``SX`` over ``symbols`` (construction-time folds apply)."""
        vals: list[SX] = list(symbols)
        for name, args, attr in self.nodes:
            op = OP_BY_NAME[name]
            if op is Op.CONST:
                vals.append(SX.const(float(attr)))
            else:
                vals.append(SX.make(op, tuple(vals[a] for a in args), attr))
        return [vals[o] for o in self.outputs]

    def function(self, name: str, scalar_output: bool = False) -> Function:
        """The program as a ``Function`` of one vector input ``x`` (output ``y``)."""
        x = SXVector.sym(f"{name}_x", self.n_inputs)
        outs = self.expressions(list(x))
        out: Any = outs[0] if scalar_output else SXVector(outs)
        return Function(name, [x], [out], input_names=["x"], output_names=["y"])


# ---- singular points: one entry per operation -------------------------------------------------


def _inf(vals: Sequence[float], attr: Any, smooth_args: Sequence[bool]) -> float:
    return math.inf


def _frac_dist(x: float, offset: float) -> float:
    """Distance of ``x`` from the nearest ``k + offset`` (k integer), relative to ``1 + |x|``."""
    if not math.isfinite(x):
        return 0.0
    t = x - offset
    return abs(t - round(t)) / (1.0 + abs(x))


def _rel(d: float, scale: float) -> float:
    return d / (1.0 + abs(scale)) if math.isfinite(d) else 0.0


def _select_dist(vals: Sequence[float], attr: Any, piecewise: Sequence[bool]) -> float:
    # a condition that is itself piecewise constant jumps where that operation does
    return math.inf if piecewise[0] else _rel(abs(vals[0]), 0.0)


def _norm_inf_dist(vals: Sequence[float], attr: Any, piecewise: Sequence[bool]) -> float:
    a = sorted(abs(v) for v in vals)
    gaps = [a[-1]] + ([a[-1] - a[-2]] if len(a) > 1 else [])
    return _rel(min(gaps), a[-1])


#: op -> distance (relative, >= 0) of the operands from the nearest point where the operation is
#: not smooth (kink, jump, domain edge, pole). ``piecewise[i]`` says whether operand ``i`` is
#: piecewise constant (then a jump in it is that operand's own singularity).
SINGULAR_DISTANCE: dict[Op, Callable[[Sequence[float], Any, Sequence[bool]], float]] = {
    Op.CONST: _inf,
    Op.INPUT: _inf,
    Op.ADD: _inf,
    Op.SUB: _inf,
    Op.MUL: _inf,
    Op.NEG: _inf,
    Op.ATAN: _inf,
    Op.SINH: _inf,
    Op.COSH: _inf,
    Op.TANH: _inf,
    Op.ASINH: _inf,
    Op.EXP: _inf,
    Op.EXPM1: _inf,
    Op.ERF: _inf,
    Op.ERFC: _inf,
    Op.SIN: _inf,
    Op.COS: _inf,
    Op.NORM2SQ: _inf,
    Op.DIV: lambda v, a, p: _rel(abs(v[1]), 0.0),
    Op.POW: lambda v, a, p: _rel(v[0], 0.0) if v[0] > 0 else 0.0,
    Op.ATAN2: lambda v, a, p: _rel(abs(v[0]) if v[1] <= 0 else math.hypot(v[0], v[1]), v[1]),
    Op.HYPOT: lambda v, a, p: _rel(math.hypot(v[0], v[1]), 0.0),
    Op.MAX: lambda v, a, p: _rel(abs(v[0] - v[1]), max(abs(v[0]), abs(v[1]))),
    Op.MIN: lambda v, a, p: _rel(abs(v[0] - v[1]), max(abs(v[0]), abs(v[1]))),
    **{
        op: (lambda v, a, p: _rel(abs(v[0] - v[1]), max(abs(v[0]), abs(v[1]))))
        for op in (Op.LT, Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE)
    },
    Op.ABS: lambda v, a, p: _rel(abs(v[0]), 0.0),
    Op.SIGNUM: lambda v, a, p: _rel(abs(v[0]), 0.0),
    Op.TAN: lambda v, a, p: abs(math.cos(v[0])) if math.isfinite(v[0]) else 0.0,
    Op.ASIN: lambda v, a, p: 1.0 - abs(v[0]) if abs(v[0]) <= 1 else 0.0,
    Op.ACOS: lambda v, a, p: 1.0 - abs(v[0]) if abs(v[0]) <= 1 else 0.0,
    Op.ATANH: lambda v, a, p: 1.0 - abs(v[0]) if abs(v[0]) <= 1 else 0.0,
    Op.ACOSH: lambda v, a, p: _rel(v[0] - 1.0, v[0]) if v[0] >= 1 else 0.0,
    Op.LOG: lambda v, a, p: _rel(v[0], 0.0) if v[0] > 0 else 0.0,
    Op.LOG10: lambda v, a, p: _rel(v[0], 0.0) if v[0] > 0 else 0.0,
    Op.SQRT: lambda v, a, p: _rel(v[0], 0.0) if v[0] > 0 else 0.0,
    Op.LOG1P: lambda v, a, p: _rel(v[0] + 1.0, 0.0) if v[0] > -1 else 0.0,
    Op.CBRT: lambda v, a, p: _rel(abs(v[0]), 0.0),
    Op.FLOOR: lambda v, a, p: _frac_dist(v[0], 0.0),
    Op.CEIL: lambda v, a, p: _frac_dist(v[0], 0.0),
    Op.TRUNC: lambda v, a, p: _frac_dist(v[0], 0.0),
    Op.FRACT: lambda v, a, p: _frac_dist(v[0], 0.0),
    Op.ROUND: lambda v, a, p: _frac_dist(v[0], 0.5),
    Op.POWI: lambda v, a, p: _rel(abs(v[0]), 0.0) if a < 0 else math.inf,
    Op.SELECT: _select_dist,
    Op.NORM2: lambda v, a, p: _rel(math.sqrt(sum(x * x for x in v)), 0.0),
    Op.NORM1: lambda v, a, p: min(_rel(abs(x), 0.0) for x in v),
    Op.NORM_INF: _norm_inf_dist,
    Op.NORM_P: lambda v, a, p: min(_rel(abs(x), 0.0) for x in v),
    Op.NORM_P_TO_P: lambda v, a, p: min(_rel(abs(x), 0.0) for x in v),
    Op.CUSTOM: lambda v, a, p: 0.0,  # a user function: nothing is known about its smoothness
}


def singular_distance(program: Program, vals: Sequence[float]) -> float:
    """The smallest :data:`SINGULAR_DISTANCE` over the program's nodes at the values ``vals``
    (from :meth:`Program.evaluate_all`)."""
    n = program.n_inputs
    piecewise = [False] * n
    best = math.inf
    for name, args, attr in program.nodes:
        op = OP_BY_NAME[name]
        info = OP_INFO[op]
        piecewise.append(
            op is Op.CONST or info.piecewise_constant or (bool(args) and all(piecewise[a] for a in args))
        )
        if op is Op.CONST:
            continue
        d = SINGULAR_DISTANCE[op]([vals[a] for a in args], attr, [piecewise[a] for a in args])
        if not d >= 0.0:  # NaN operands
            d = 0.0
        best = min(best, d)
    return best


# ---- drawing ----------------------------------------------------------------------------------


class Draw(abc.ABC):
    """The choices a generator makes; subclasses draw them from hypothesis or a seeded RNG."""

    @abc.abstractmethod
    def integer(self, lo: int, hi: int) -> int: ...

    @abc.abstractmethod
    def floating(self, lo: float, hi: float) -> float: ...

    def choice(self, seq: Sequence[Any]) -> Any:
        return seq[self.integer(0, len(seq) - 1)]

    def boolean(self, p: float = 0.5) -> bool:
        return self.floating(0.0, 1.0) < p


class RandomDraw(Draw):
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def floating(self, lo: float, hi: float) -> float:
        return self.rng.uniform(lo, hi)


class HypothesisDraw(Draw):
    def __init__(self, draw: Callable[[Any], Any]) -> None:
        from hypothesis import strategies as st

        self._draw = draw
        self._st = st

    def integer(self, lo: int, hi: int) -> int:
        return int(self._draw(self._st.integers(lo, hi)))

    def floating(self, lo: float, hi: float) -> float:
        return float(self._draw(self._st.floats(lo, hi, allow_nan=False, allow_infinity=False)))


class _Builder:
    """Appends nodes to a program under construction."""

    def __init__(self, n_inputs: int) -> None:
        self.n = n_inputs
        self.nodes: list[tuple[str, tuple[int, ...], Any]] = []

    def add(self, op: Op, args: Sequence[int], attr: Any = None) -> int:
        self.nodes.append((OP_INFO[op].name, tuple(args), attr))
        return self.n + len(self.nodes) - 1

    def const(self, v: float) -> int:
        return self.add(Op.CONST, (), float(v))

    @property
    def size(self) -> int:
        return self.n + len(self.nodes)


def _square_plus(b: _Builder, a: int, c: float) -> int:
    return b.add(Op.ADD, (b.add(Op.MUL, (a, a)), b.const(c)))


def _squash(b: _Builder, a: int, scale: float) -> int:
    return b.add(Op.MUL, (b.add(Op.TANH, (a,)), b.const(scale)))


#: op -> how a smooth program maps an operand into the op's smooth domain before applying it
#: (``None``: any finite operand is fine). Used only when ``smooth=True``.
DOMAIN_WRAPPERS: dict[Op, Callable[[_Builder, list[int]], list[int]] | None] = {
    **dict.fromkeys(COMPUTED_OPS),
    Op.DIV: lambda b, a: [a[0], _square_plus(b, a[1], 0.5)],
    Op.POW: lambda b, a: [_square_plus(b, a[0], 0.5), _squash(b, a[1], 2.0)],
    Op.ATAN2: lambda b, a: [a[0], _square_plus(b, a[1], 0.5)],
    Op.HYPOT: lambda b, a: [_square_plus(b, a[0], 0.25), a[1]],
    Op.TAN: lambda b, a: [_squash(b, a[0], 1.2)],
    Op.ASIN: lambda b, a: [_squash(b, a[0], 0.9)],
    Op.ACOS: lambda b, a: [_squash(b, a[0], 0.9)],
    Op.ATANH: lambda b, a: [_squash(b, a[0], 0.9)],
    Op.ACOSH: lambda b, a: [_square_plus(b, a[0], 1.5)],
    Op.LOG: lambda b, a: [_square_plus(b, a[0], 0.5)],
    Op.LOG10: lambda b, a: [_square_plus(b, a[0], 0.5)],
    Op.SQRT: lambda b, a: [_square_plus(b, a[0], 0.5)],
    Op.LOG1P: lambda b, a: [_square_plus(b, a[0], 0.0)],
    Op.CBRT: lambda b, a: [_square_plus(b, a[0], 1.0)],
    Op.EXP: lambda b, a: [_squash(b, a[0], 3.0)],
    Op.EXPM1: lambda b, a: [_squash(b, a[0], 3.0)],
    Op.SINH: lambda b, a: [_squash(b, a[0], 3.0)],
    Op.COSH: lambda b, a: [_squash(b, a[0], 3.0)],
    Op.POWI: lambda b, a: [_squash(b, a[0], 2.0)],
    Op.MUL: lambda b, a: [_squash(b, a[0], 3.0), a[1]],
    Op.NORM_P: lambda b, a: [_square_plus(b, v, 0.25) for v in a],
    Op.NORM_P_TO_P: lambda b, a: [_square_plus(b, v, 0.25) for v in a],
    Op.NORM1: lambda b, a: [_square_plus(b, v, 0.25) for v in a],
    Op.NORM2: lambda b, a: [_square_plus(b, a[0], 0.25), *a[1:]],
}


def _pick_arg(d: Draw, b: _Builder, recency: float) -> int:
    """A previous value: the most recent ones with probability ``recency`` (deep graphs), else
    uniformly (shared graphs)."""
    if d.boolean(recency):
        return max(0, b.size - 1 - d.integer(0, 2))
    return d.integer(0, b.size - 1)


def _attr(d: Draw, op: Op) -> Any:
    kind = OP_INFO[op].attr
    if kind is AttrKind.INT:
        return d.choice(POWI_EXPONENTS)
    if kind is AttrKind.PARAM:
        return d.choice(NORM_ORDERS)
    return None


def _arity(d: Draw, op: Op) -> int:
    n = OP_INFO[op].arity
    return d.integer(1, 4) if n == VARIADIC else n


def general_program(
    d: Draw,
    smooth: bool = False,
    max_nodes: int = 24,
    ops: Sequence[Op] = COMPUTED_OPS,
    every_output: bool = False,
) -> Program:
    """A random DAG of ``1 .. max_nodes`` operations (plus wrappers and constants) whose outputs
    are the last value and up to two others (``every_output``: every computed value)."""
    n_inputs = d.integer(1, 4)
    b = _Builder(n_inputs)
    recency = d.choice((0.2, 0.5, 0.9))
    for _ in range(d.integer(1, 3)):
        c = d.floating(-3.0, 3.0) if d.boolean(0.5) else d.choice(CONSTANTS)
        if smooth and not math.isfinite(c):
            c = 1.0
        b.const(c)
    for _ in range(d.integer(1, max_nodes)):
        op = d.choice(ops)
        args = [_pick_arg(d, b, recency) for _ in range(_arity(d, op))]
        attr = _attr(d, op)
        wrap = DOMAIN_WRAPPERS[op]
        if smooth and wrap is not None:
            args = wrap(b, args)
        b.add(op, args, attr)
    last = b.size - 1
    if every_output:
        outputs: tuple[int, ...] = tuple(b.n + k for k, (name, _, _) in enumerate(b.nodes) if name != "const")
    elif smooth:
        outputs = (last,)
    else:
        extra = [d.integer(0, last) for _ in range(d.integer(0, 2))]
        outputs = (last, *extra)
    return Program(n_inputs, tuple(b.nodes), outputs, "general", smooth)


#: bounded update steps of deep chains: (name, builder of the next value from (v, x_i, c))
def _step_sin(b: _Builder, v: int, x: int, c: float) -> int:
    return b.add(Op.ADD, (b.add(Op.MUL, (b.add(Op.SIN, (v,)), b.const(c))), x))


def _step_tanh(b: _Builder, v: int, x: int, c: float) -> int:
    return b.add(Op.TANH, (b.add(Op.ADD, (v, b.add(Op.MUL, (x, b.const(c))))),))


def _step_atan(b: _Builder, v: int, x: int, c: float) -> int:
    return b.add(Op.SUB, (b.add(Op.ATAN, (b.add(Op.MUL, (v, x)),)), b.const(c)))


def _step_cos(b: _Builder, v: int, x: int, c: float) -> int:
    return b.add(Op.MUL, (b.add(Op.COS, (b.add(Op.SUB, (v, x)),)), b.const(c)))


def _step_erf(b: _Builder, v: int, x: int, c: float) -> int:
    return b.add(Op.ADD, (b.add(Op.ERF, (v,)), b.add(Op.MUL, (x, b.const(c)))))


def _step_hypot(b: _Builder, v: int, x: int, c: float) -> int:
    return b.add(Op.DIV, (v, b.add(Op.HYPOT, (v, b.add(Op.ADD, (x, b.const(2.0 + abs(c))))))))


CHAIN_STEPS = (_step_sin, _step_tanh, _step_atan, _step_cos, _step_erf, _step_hypot)


def chain_program(d: Draw, min_steps: int = 100, max_steps: int = 400) -> Program:
    """A deep chain ``v = step(v, x_i, c)`` of bounded, smooth steps (depth ~3 nodes per step)."""
    n_inputs = d.integer(1, 3)
    b = _Builder(n_inputs)
    v = 0
    for k in range(d.integer(min_steps, max_steps)):
        step = d.choice(CHAIN_STEPS)
        v = step(b, v, k % n_inputs, round(d.floating(-0.9, 0.9), 3))
    return Program(n_inputs, tuple(b.nodes), (v,), "chain", True)


def shared_program(d: Draw, min_levels: int = 30, max_levels: int = 120) -> Program:
    """``v[k] = g(v[k-1], v[k-2])`` with bounded smooth ``g``: the expanded tree has about
    ``phi**levels`` nodes, the DAG a few per level."""
    n_inputs = 2
    b = _Builder(n_inputs)
    prev, cur = 0, 1
    for _ in range(d.integer(min_levels, max_levels)):
        c = round(d.floating(0.1, 0.6), 3)
        kind = d.integer(0, 2)
        if kind == 0:
            nxt = b.add(Op.ADD, (b.add(Op.SIN, (cur,)), b.add(Op.MUL, (b.add(Op.COS, (prev,)), b.const(c)))))
        elif kind == 1:
            nxt = b.add(Op.TANH, (b.add(Op.SUB, (cur, b.add(Op.MUL, (prev, b.const(c))))),))
        else:
            nxt = b.add(Op.MUL, (b.add(Op.ATAN, (b.add(Op.MUL, (cur, prev)),)), b.const(1.0 + c)))
        prev, cur = cur, nxt
    return Program(n_inputs, tuple(b.nodes), (cur, prev), "shared", True)


def any_program(d: Draw, smooth: bool = False) -> Program:
    kind = d.integer(0, 9)
    if kind == 0:
        return chain_program(d)
    if kind == 1:
        return shared_program(d)
    return general_program(d, smooth)


def input_point(d: Draw, program: Program, special: bool = True) -> list[float]:
    """Inputs for ``program``: moderate values, and (when ``special``) sometimes 0, -0.0,
    integers, half-integers, huge, tiny, inf or NaN."""
    out = []
    for _ in range(program.n_inputs):
        r = d.integer(0, 9) if special and not program.smooth else 9
        if r == 0:
            out.append(d.choice(SPECIAL_FLOATS))
        elif r == 1:
            out.append(d.choice((0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 2.0)))
        elif r == 2:
            out.append(float(d.integer(-5, 5)))
        else:
            out.append(d.floating(-2.0, 2.0))
    return out


def programs_strategy(smooth: bool = False, shapes: str = "any") -> Any:
    """A hypothesis strategy of ``(program, point)``."""
    from hypothesis import strategies as st

    @st.composite
    def strategy(draw: Callable[[Any], Any]) -> tuple[Program, list[float]]:
        d = HypothesisDraw(draw)
        p = general_program(d, smooth) if shapes == "general" else any_program(d, smooth)
        return p, input_point(d, p)

    return strategy()
