"""The operation vocabulary of gradgen and the one table of facts about each operation.

Every other table in the project (derivative rules in ``passes.autodiff_rules``, simplification
rules in ``passes.simplify_rules``, Rust printing in ``backends.rust_ops``) is keyed by :class:`Op`;
``tests/test_tables.py`` asserts that each of them covers every operation listed here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import attrs

from . import ieee
from .custom import evaluate_custom

VARIADIC = -1


class AttrKind(enum.Enum):
    """What the per-instruction attribute of an operation holds."""

    NONE = "none"
    FLOAT = "float"  # CONST: the value
    INT = "int"  # POWI: the exponent
    PARAM = "param"  # NORM_P / NORM_P_TO_P: the order p (a float)
    INPUT = "input"  # INPUT: (port index, element index) in a kernel, symbol name in SX
    CUSTOM = "custom"  # CUSTOM: an ``ir.custom.CustomCall`` (user function and part)


class Op(enum.IntEnum):
    # leaves
    CONST = 0
    INPUT = 1
    # binary arithmetic
    ADD = 2
    SUB = 3
    MUL = 4
    DIV = 5
    POW = 6
    ATAN2 = 7
    HYPOT = 8
    MAX = 9
    MIN = 10
    # comparisons (0/1 valued)
    LT = 11
    LE = 12
    GT = 13
    GE = 14
    EQ = 15
    NE = 16
    # unary
    NEG = 17
    ABS = 18
    SIN = 19
    COS = 20
    TAN = 21
    ASIN = 22
    ACOS = 23
    ATAN = 24
    SINH = 25
    COSH = 26
    TANH = 27
    ASINH = 28
    ACOSH = 29
    ATANH = 30
    EXP = 31
    EXPM1 = 32
    LOG = 33
    LOG1P = 34
    LOG10 = 35
    SQRT = 36
    CBRT = 37
    ERF = 38
    ERFC = 39
    FLOOR = 40
    CEIL = 41
    ROUND = 42
    TRUNC = 43
    SIGNUM = 44
    # integer power (attribute: exponent)
    POWI = 45
    # ternary: SELECT(cond, a, b) = a if cond != 0 else b
    SELECT = 46
    # vector reductions (variadic)
    NORM2 = 47
    NORM2SQ = 48
    NORM1 = 49
    NORM_INF = 50
    NORM_P = 51
    NORM_P_TO_P = 52
    # unary, added after the reductions (values index the intern tables, so they stay dense)
    FRACT = 53
    # a user-defined elementary function (attribute: ir.custom.CustomCall; args x then w)
    CUSTOM = 54

    # An op also compares equal to its lowercase name (``expr.op == "sin"``) and to the name
    # gradgen 0.5.2 used for it (``"symbol"``, ``"if_else"``, ``"pow"``); hashing stays the
    # enum's, so tables keyed by Op are unaffected.
    def __eq__(self, other: object) -> bool:
        if other.__class__ is str:
            return other == OP_INFO[self].name or other == _LEGACY_NAMES.get(self)
        return int.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = int.__hash__


@attrs.frozen
class OpInfo:
    """Static facts about one operation."""

    name: str
    arity: int
    evaluate: Callable[..., float] | None
    commutative: bool = False
    attr: AttrKind = AttrKind.NONE
    #: infix symbol for the human-readable expression printer (binary/unary arithmetic only)
    symbol: str | None = None
    #: True when the operation is piecewise constant (derivative zero almost everywhere)
    piecewise_constant: bool = False


def _info(name: str, arity: int, fn: Callable[..., float] | None, **kw: Any) -> OpInfo:
    return OpInfo(name=name, arity=arity, evaluate=fn, **kw)


OP_INFO: dict[Op, OpInfo] = {
    Op.CONST: _info("const", 0, None, attr=AttrKind.FLOAT),
    Op.INPUT: _info("input", 0, None, attr=AttrKind.INPUT),
    Op.ADD: _info("add", 2, ieee.add, commutative=True, symbol="+"),
    Op.SUB: _info("sub", 2, ieee.sub, symbol="-"),
    Op.MUL: _info("mul", 2, ieee.mul, commutative=True, symbol="*"),
    Op.DIV: _info("div", 2, ieee.div, symbol="/"),
    Op.POW: _info("pow", 2, ieee.powf),
    Op.ATAN2: _info("atan2", 2, ieee.atan2),
    Op.HYPOT: _info("hypot", 2, ieee.hypot, commutative=True),
    Op.MAX: _info("max", 2, ieee.fmax, commutative=True),
    Op.MIN: _info("min", 2, ieee.fmin, commutative=True),
    Op.LT: _info("lt", 2, ieee.lt, symbol="<", piecewise_constant=True),
    Op.LE: _info("le", 2, ieee.le, symbol="<=", piecewise_constant=True),
    Op.GT: _info("gt", 2, ieee.gt, symbol=">", piecewise_constant=True),
    Op.GE: _info("ge", 2, ieee.ge, symbol=">=", piecewise_constant=True),
    Op.EQ: _info("eq", 2, ieee.eq, commutative=True, symbol="==", piecewise_constant=True),
    Op.NE: _info("ne", 2, ieee.ne, commutative=True, symbol="!=", piecewise_constant=True),
    Op.NEG: _info("neg", 1, ieee.neg, symbol="-"),
    Op.ABS: _info("abs", 1, ieee.fabs),
    Op.SIN: _info("sin", 1, ieee.sin),
    Op.COS: _info("cos", 1, ieee.cos),
    Op.TAN: _info("tan", 1, ieee.tan),
    Op.ASIN: _info("asin", 1, ieee.asin),
    Op.ACOS: _info("acos", 1, ieee.acos),
    Op.ATAN: _info("atan", 1, ieee.atan),
    Op.SINH: _info("sinh", 1, ieee.sinh),
    Op.COSH: _info("cosh", 1, ieee.cosh),
    Op.TANH: _info("tanh", 1, ieee.tanh),
    Op.ASINH: _info("asinh", 1, ieee.asinh),
    Op.ACOSH: _info("acosh", 1, ieee.acosh),
    Op.ATANH: _info("atanh", 1, ieee.atanh),
    Op.EXP: _info("exp", 1, ieee.exp),
    Op.EXPM1: _info("expm1", 1, ieee.expm1),
    Op.LOG: _info("log", 1, ieee.log),
    Op.LOG1P: _info("log1p", 1, ieee.log1p),
    Op.LOG10: _info("log10", 1, ieee.log10),
    Op.SQRT: _info("sqrt", 1, ieee.sqrt),
    Op.CBRT: _info("cbrt", 1, ieee.cbrt),
    Op.ERF: _info("erf", 1, ieee.erf),
    Op.ERFC: _info("erfc", 1, ieee.erfc),
    Op.FLOOR: _info("floor", 1, ieee.floor, piecewise_constant=True),
    Op.CEIL: _info("ceil", 1, ieee.ceil, piecewise_constant=True),
    Op.ROUND: _info("round", 1, ieee.round_half_away, piecewise_constant=True),
    Op.TRUNC: _info("trunc", 1, ieee.trunc, piecewise_constant=True),
    Op.SIGNUM: _info("signum", 1, ieee.signum, piecewise_constant=True),
    Op.POWI: _info("powi", 1, ieee.powi, attr=AttrKind.INT),
    Op.SELECT: _info("select", 3, ieee.select),
    Op.NORM2: _info("norm2", VARIADIC, ieee.norm2),
    Op.NORM2SQ: _info("norm2sq", VARIADIC, ieee.norm2sq),
    Op.NORM1: _info("norm1", VARIADIC, ieee.norm1),
    Op.NORM_INF: _info("norm_inf", VARIADIC, ieee.norm_inf),
    Op.NORM_P: _info("norm_p", VARIADIC, ieee.norm_p, attr=AttrKind.PARAM),
    Op.NORM_P_TO_P: _info("norm_p_to_p", VARIADIC, ieee.norm_p_to_p, attr=AttrKind.PARAM),
    Op.FRACT: _info("fract", 1, ieee.fract),
    Op.CUSTOM: _info("custom", VARIADIC, evaluate_custom, attr=AttrKind.CUSTOM),
}

OP_BY_NAME: dict[str, Op] = {info.name: op for op, info in OP_INFO.items()}

#: the op names of gradgen 0.5.2 that differ from ours (``SX.op`` compares equal to both)
_LEGACY_NAMES: dict[Op, str] = {Op.INPUT: "symbol", Op.SELECT: "if_else", Op.POWI: "pow"}

#: operations that are not computed (they name a value): never a statement in generated code
LEAVES = frozenset({Op.CONST, Op.INPUT})

#: operations cheap enough to compute twice (a few machine instructions: arithmetic short of
#: division, comparisons, selection, rounding, integer powers and the reductions built of them)
CHEAP = frozenset(
    {
        Op.ADD, Op.SUB, Op.MUL, Op.NEG, Op.ABS, Op.MAX, Op.MIN,
        Op.LT, Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE, Op.SELECT,
        Op.FLOOR, Op.CEIL, Op.ROUND, Op.TRUNC, Op.SIGNUM, Op.FRACT, Op.POWI,
        Op.NORM2SQ, Op.NORM1, Op.NORM_INF,
    }
)  # fmt: skip

#: the computed operations never evaluated twice when a result can be stored instead
#: (transcendentals, roots, division, user functions): every operation not a leaf or cheap
EXPENSIVE = frozenset(op for op in Op if op not in LEAVES and op not in CHEAP)

#: the latency in cycles the schedule's and the printer's models give an operation not listed
#: in :data:`LATENCY` (one add, multiply or comparison on a current out-of-order core)
BASE_LATENCY = 4
#: the latency of a call (a libm function such as ``sin``, a norm built on a power, a user
#: function)
CALL_LATENCY = 80
#: about the latency of an operation on such a core: a division or square root is one slow
#: instruction, every other expensive operation a call
LATENCY: dict[Op, int] = {**dict.fromkeys(EXPENSIVE, CALL_LATENCY), Op.DIV: 13, Op.SQRT: 15, Op.NORM2: 15}


def evaluate(op: Op, attr: object, values: tuple[float, ...] | list[float]) -> float:
    """Apply ``op`` to numeric argument values with gradgen's IEEE semantics."""
    info = OP_INFO[op]
    fn = info.evaluate
    if fn is None:
        raise ValueError(f"operation {info.name!r} has no numeric evaluation")
    if info.attr is AttrKind.NONE:
        return fn(*values)
    if info.attr is AttrKind.INT:
        return fn(values[0], attr)
    return fn(attr, *values)  # PARAM: norm order first; CUSTOM: the call first
