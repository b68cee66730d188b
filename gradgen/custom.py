"""Custom elementary functions: user primitives ``f(x, w)`` with Python callbacks and Rust snippets.

:func:`register_elementary_function` validates a definition (its name as a Rust function name,
every snippet: balanced delimiters, the function it must define, known placeholders) and adds it
to the registry. The returned :class:`RegisteredElementaryFunction` builds ``CUSTOM`` nodes:
``f(x)`` or ``f(x, w=...)`` with ``x`` an ``SX`` (``input_dimension == 1``) or a sequence of that
length, and ``w`` the parameter vector (``parameter_defaults`` when omitted). The Rust side is
described in :mod:`backends.rust_custom`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from gradgen.backends.rust_custom import check_definition, code_of
from gradgen.errors import FunctionDefinitionError, GradgenTypeError, ShapeError
from gradgen.ir.custom import ElementaryDefinition
from gradgen.ir.expr import SX, as_sx
from gradgen.ir.ops import Op

from .vector import SXVector

_REGISTRY: dict[str, RegisteredElementaryFunction] = {}


def _dimension(what: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FunctionDefinitionError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


def _callable(what: str, value: object) -> Callable[..., Any] | None:
    if value is not None and not callable(value):
        raise GradgenTypeError(f"{what} must be callable, got {type(value).__name__}")
    return value


class RegisteredElementaryFunction:
    """A registered user function; calling it builds the symbolic node ``f(x, w)``."""

    __slots__ = ("definition",)

    def __init__(self, definition: ElementaryDefinition) -> None:
        self.definition = definition

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def input_dimension(self) -> int:
        return self.definition.input_dimension

    @property
    def parameter_dimension(self) -> int:
        return self.definition.parameter_dimension

    @property
    def parameter_defaults(self) -> tuple[float, ...]:
        return self.definition.parameter_defaults

    def __repr__(self) -> str:
        d = self.definition
        return f"<elementary function {d.name!r}: x[{d.input_dimension}], w[{d.parameter_dimension}]>"

    def __call__(self, x: SX | SXVector | Iterable[Any] | float, *, w: Iterable[Any] | None = None) -> SX:
        d = self.definition
        xs = _entries(f"custom function {d.name!r}: x", x)
        if len(xs) != d.input_dimension:
            raise ShapeError(
                f"custom function {d.name!r} expects x of length {d.input_dimension}, got {len(xs)}"
            )
        ws = (
            list(map(SX.const, d.parameter_defaults))
            if w is None
            else _entries(f"custom function {d.name!r}: w", w)
        )
        if len(ws) != d.parameter_dimension:
            raise ShapeError(
                f"custom function {d.name!r} expects w of length {d.parameter_dimension}, got {len(ws)}"
            )
        return custom_node(d, (*xs, *ws))


def custom_node(definition: ElementaryDefinition, args: Sequence[SX]) -> SX:
    """The node ``definition(x, w)`` on ``args`` (``x`` then ``w``)."""
    from gradgen.ir.custom import CustomCall

    return SX.make(Op.CUSTOM, tuple(args), CustomCall(definition))


def _entries(what: str, value: object) -> list[SX]:
    if isinstance(value, (SX, int, float)) and not isinstance(value, bool):
        return [as_sx(value)]
    if isinstance(value, (str, bytes)):
        raise GradgenTypeError(f"{what} must be an expression or a sequence of them, got {value!r}")
    try:
        items = list(value)  # type: ignore[call-overload]
    except TypeError:
        raise GradgenTypeError(
            f"{what} must be an expression or a sequence of them, got {type(value).__name__}"
        ) from None
    return [as_sx(v) for v in items]


def register_elementary_function(
    *,
    name: str,
    input_dimension: int,
    parameter_dimension: int = 0,
    parameter_defaults: Sequence[float] | None = None,
    eval_python: Callable[..., Any] | None = None,
    jacobian: Callable[..., Any] | None = None,
    hessian: Callable[..., Any] | None = None,
    hvp: Callable[..., Any] | None = None,
    rust_primal: str | None = None,
    rust_jacobian: str | None = None,
    rust_hessian: str | None = None,
    rust_hvp: str | None = None,
) -> RegisteredElementaryFunction:
    """Register the scalar function ``name(x, w)`` and return it (see the module docstring).

    Callbacks are numeric: ``eval_python(x, w)`` returns the value, ``jacobian(x, w)`` the
    ``input_dimension`` partials, ``hessian(x, w)`` the ``n x n`` matrix (nested or flat, row
    major), ``hvp(x, v, w)`` the product ``H v`` (used when no ``hessian`` is given); ``x`` is a
    float when ``input_dimension == 1``, else a tuple; ``w`` is a tuple and may be left out of
    the callback's signature when ``parameter_dimension == 0``. Lists and numpy arrays are
    accepted back. Registering a name again with a different definition is an error; the same
    definition again returns the registered function.
    """
    n = _dimension("input_dimension", input_dimension, 1)
    m = _dimension("parameter_dimension", parameter_dimension, 0)
    if parameter_defaults is None:
        defaults = (0.0,) * m
    else:
        try:
            defaults = tuple(float(v) for v in parameter_defaults)
        except (TypeError, ValueError):
            raise GradgenTypeError("parameter_defaults must be a sequence of numbers") from None
        if len(defaults) != m or not all(map(math.isfinite, defaults)):
            raise FunctionDefinitionError(
                f"parameter_defaults must hold {m} finite numbers, got {list(parameter_defaults)!r}"
            )
    code, orders = code_of(
        {
            "rust_primal": rust_primal,
            "rust_jacobian": rust_jacobian,
            "rust_hessian": rust_hessian,
            "rust_hvp": rust_hvp,
        }
    )
    definition = ElementaryDefinition(
        name=name,
        input_dimension=n,
        parameter_dimension=m,
        parameter_defaults=defaults,
        eval_python=_callable("eval_python", eval_python),
        jacobian=_callable("jacobian", jacobian),
        hessian=_callable("hessian", hessian),
        hvp=_callable("hvp", hvp),
        code=code,
        code_orders=orders,
    )
    if eval_python is None and rust_primal is None:
        raise FunctionDefinitionError(f"custom function {name!r} needs eval_python or rust_primal")
    check_definition(definition)
    existing = _REGISTRY.get(name)
    if existing is not None:
        if existing.definition.same_as(definition):
            return existing
        raise FunctionDefinitionError(
            f"custom function {name!r} is already registered with a different definition; "
            "call clear_registered_elementary_functions() first or choose another name"
        )
    registered = RegisteredElementaryFunction(definition)
    _REGISTRY[name] = registered
    return registered


def get_registered_elementary_function(name: str) -> RegisteredElementaryFunction:
    """The function registered as ``name``."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise FunctionDefinitionError(f"no custom elementary function is registered as {name!r}") from None


def clear_registered_elementary_functions() -> None:
    """Forget every registration (expressions already built keep their definitions)."""
    _REGISTRY.clear()
