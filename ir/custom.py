"""User-defined elementary functions: the payload of the ``CUSTOM`` operation.

A :class:`ElementaryDefinition` is what a user registers: a scalar function ``f(x, w)`` of a
fixed-size input ``x`` (``input_dimension`` entries) and an optional parameter vector ``w``, with
numeric Python callbacks for its value and derivatives and optional backend source code. A ``CUSTOM``
instruction takes ``x`` then ``w`` as its arguments and carries a :class:`CustomCall`: the
definition and which *part* it computes: ``()`` the value, ``(i,)`` the partial ``df/dx_i``,
``(i, j)`` (``i <= j``) the second partial ``d2f/dx_i dx_j``. Derivatives of a ``CUSTOM`` value are
``CUSTOM`` instructions of the next part, so the op set stays closed.

Hash-consing keys a call by its registered name and part (a definition is compared by identity,
and the registry keeps one definition per name).

One derivative callback call gives many entries: the Jacobian callback all ``n`` partials, the
Hessian callback all ``n * n`` second partials, an HVP with the unit vector ``e_j`` column ``j`` of
the Hessian. :func:`derivative_block` names the :class:`DerivativeBlock` an entry comes from and
its index there, so that evaluators (:class:`DerivativeMemo` for the interpreter, the Rust
printer) run each callback once per point and block, not once per entry.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from .errors import CustomFunctionError

Callback = Callable[..., Any]


def _takes_w(callback: Callback | None, positional_without_w: int) -> bool:
    """True when ``callback`` accepts the parameter vector after its other positional args."""
    if callback is None:
        return True
    try:
        sig = inspect.signature(callback)
    except (TypeError, ValueError):
        return True
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = list(sig.parameters.values())
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return True
    return sum(1 for p in params if p.kind in kinds) > positional_without_w


@attrs.frozen(eq=False)
class ElementaryDefinition:
    """A registered elementary function (compared by identity; see :meth:`same_as`).

    ``has_part(order)`` says whether a Python callback or backend code gives that order."""

    name: str
    input_dimension: int
    parameter_dimension: int
    parameter_defaults: tuple[float, ...]
    eval_python: Callback | None
    jacobian: Callback | None = None
    hessian: Callback | None = None
    hvp: Callback | None = None
    #: source code for the backends, ``(key, text)`` pairs whose keys the backend defines
    #: (opaque here); ``code_orders`` are the derivative orders that code provides
    code: tuple[tuple[str, str], ...] = ()
    code_orders: frozenset[int] = frozenset()

    def snippet(self, key: str) -> str | None:
        """The backend code stored under ``key`` (``None`` when there is none)."""
        return dict(self.code).get(key)

    def same_as(self, other: ElementaryDefinition) -> bool:
        """The same registration: equal sizes, defaults and snippets, identical callbacks."""
        mine, theirs = attrs.astuple(self, recurse=False), attrs.astuple(other, recurse=False)
        return all(a is b or (not callable(a) and a == b) for a, b in zip(mine, theirs, strict=True))

    # ---- Python evaluation -------------------------------------------------------------------
    def _x(self, values: Sequence[float]) -> Any:
        x = [float(v) for v in values[: self.input_dimension]]
        return x[0] if self.input_dimension == 1 else tuple(x)

    def _w(self, values: Sequence[float]) -> tuple[float, ...]:
        return tuple(float(v) for v in values[self.input_dimension :])

    def _call(self, callback: Callback, values: Sequence[float], *extra: Any) -> Any:
        args: list[Any] = [self._x(values), *extra]
        if self.parameter_dimension or _takes_w(callback, len(args)):
            args.append(self._w(values))
        return callback(*args)

    def _missing(self, what: str) -> CustomFunctionError:
        return CustomFunctionError(f"custom function {self.name!r} has no Python {what} callback")

    def value(self, values: Sequence[float]) -> float:
        if self.eval_python is None:
            raise self._missing("evaluation (eval_python)")
        return _scalar(self.name, "eval_python", self._call(self.eval_python, values))

    def partial(self, values: Sequence[float], i: int) -> float:
        return self.block(DerivativeBlock(JACOBIAN), values)[i]

    def second_partial(self, values: Sequence[float], i: int, j: int) -> float:
        block, index = derivative_block(CustomCall(self, (i, j)), self.hessian is not None)
        return self.block(block, values)[index]

    def block(self, block: DerivativeBlock, values: Sequence[float]) -> list[float]:
        """The entries of ``block`` at the point ``values`` (``x`` then ``w``): one callback call."""
        n = self.input_dimension
        if block.kind == JACOBIAN:
            if self.jacobian is None:
                raise self._missing("jacobian")
            return _flat(self.name, "jacobian", self._call(self.jacobian, values), n)
        if block.kind == HESSIAN:
            if self.hessian is None:
                raise self._missing("hessian")
            return _flat(self.name, "hessian", self._call(self.hessian, values), n * n)
        if self.hvp is None:
            raise self._missing("hessian or hvp")
        unit = [0.0] * n
        unit[block.column] = 1.0
        v: Any = unit[0] if n == 1 else tuple(unit)
        return _flat(self.name, "hvp", self._call(self.hvp, values, v), n)

    # ---- which derivatives exist -------------------------------------------------------------
    def has_part(self, order: int) -> bool:
        """A Python callback or a Rust snippet gives the derivatives of this order."""
        if order in self.code_orders:
            return True
        if order == 0:
            return self.eval_python is not None
        if order == 1:
            return self.jacobian is not None
        if order == 2:
            return self.hessian is not None or self.hvp is not None
        return False


def _scalar(name: str, what: str, value: Any) -> float:
    if hasattr(value, "item") and getattr(value, "size", 1) == 1:
        value = value.item()
    elif isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    try:
        return float(value)
    except (TypeError, ValueError):
        raise CustomFunctionError(
            f"custom function {name!r}: {what} must return a number, got {type(value).__name__}"
        ) from None


def _flat(name: str, what: str, value: Any, size: int) -> list[float]:
    """A callback result (number, list, nested lists, numpy array) as a flat list of ``size``."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    items: list[Any] = []
    stack: list[Any] = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            stack.extend(reversed(v))
        else:
            items.append(v)
    if len(items) != size:
        raise CustomFunctionError(
            f"custom function {name!r}: {what} must return {size} numbers, got {len(items)}"
        )
    return [_scalar(name, what, v) for v in items]


@attrs.frozen(eq=False, repr=False)
class CustomCall:
    """The attribute of a ``CUSTOM`` instruction: a definition and the part it computes."""

    definition: ElementaryDefinition
    part: tuple[int, ...] = ()

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, CustomCall) and self.definition is other.definition and self.part == other.part
        )

    def __hash__(self) -> int:
        return hash((self.definition.name, self.part))

    def __repr__(self) -> str:
        return self.label

    @property
    def order(self) -> int:
        return len(self.part)

    @property
    def arity(self) -> int:
        return self.definition.input_dimension + self.definition.parameter_dimension

    @property
    def label(self) -> str:
        """``name``, ``name'[i]`` or ``name''[i,j]`` (IR printing)."""
        marks = "'" * self.order
        index = f"[{','.join(map(str, self.part))}]" if self.part else ""
        return f"{self.definition.name}{marks}{index}"

    def derivative(self, k: int) -> CustomCall:
        """The call computing ``d(this)/dx_k``."""
        part = tuple(sorted((*self.part, k)))
        return CustomCall(self.definition, part)


#: the kinds of :class:`DerivativeBlock`
JACOBIAN, HESSIAN, HESSIAN_COLUMN = "jacobian", "hessian", "hessian_column"


@attrs.frozen
class DerivativeBlock:
    """The entries one derivative callback call gives: ``JACOBIAN`` (the ``n`` partials),
    ``HESSIAN`` (the ``n * n`` second partials, row major) or ``HESSIAN_COLUMN`` (column
    ``column`` of the Hessian, an HVP with the unit vector ``e_column``)."""

    kind: str
    column: int = -1


def derivative_block(call: CustomCall, from_hessian: bool) -> tuple[DerivativeBlock, int]:
    """The block the derivative entry ``call`` is read from and its index in the block. A second
    partial ``(i, j)`` (``i <= j``) comes from the whole Hessian when ``from_hessian``, else from
    column ``j`` (the Hessian is symmetric): a whole Hessian then costs ``n`` HVPs."""
    part = call.part
    if len(part) == 1:
        return DerivativeBlock(JACOBIAN), part[0]
    if len(part) != 2:
        raise CustomFunctionError(f"{call.label} is not a derivative entry")
    i, j = part
    if from_hessian:
        return DerivativeBlock(HESSIAN), i * call.definition.input_dimension + j
    return DerivativeBlock(HESSIAN_COLUMN, j), i


class DerivativeMemo:
    """The derivative blocks computed during one evaluation of a kernel: a ``CUSTOM`` entry is
    read from its block at its point, and each block is computed once per point. A point is the
    tuple of argument value ids of the instruction: equal ids hold equal values (a ``-0.0`` and a
    ``0.0`` stay apart, as a callback may tell them apart)."""

    __slots__ = ("_blocks",)

    def __init__(self) -> None:
        self._blocks: dict[tuple[ElementaryDefinition, DerivativeBlock, tuple[int, ...]], list[float]] = {}

    def evaluate(self, call: CustomCall, point: tuple[int, ...], values: Sequence[float]) -> float:
        """The value of ``call`` on the arguments ``point`` (value ids) holding ``values``."""
        if not call.part:
            return evaluate_custom(call, *values)
        d = call.definition
        block, index = derivative_block(call, d.hessian is not None)
        key = (d, block, point)
        entries = self._blocks.get(key)
        if entries is None:
            entries = self._blocks[key] = d.block(block, values)
        return entries[index]


def evaluate_custom(call: CustomCall, *values: float) -> float:
    """The numeric value of ``call`` at the argument values ``x`` then ``w``."""
    d, part = call.definition, call.part
    if not part:
        return d.value(values)
    if len(part) == 1:
        return d.partial(values, part[0])
    return d.second_partial(values, part[0], part[1])
