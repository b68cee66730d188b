"""``SquaredDistanceToSet``: ``0.5 * dist(x, C)^2`` with gradient ``x - proj_C(x)``.

A set is described by its projection (a gradgen ``Function``, a numeric callback and/or a Rust
snippet defining ``fn NAME_projection(x: &[T], out: &mut [T])``) and optionally by the half
squared distance itself (a ``Function``, a callback and/or a Rust snippet defining
``fn NAME(x: &[T], w: &[T]) -> T``). Calling the set on a vector builds:

* when only gradgen ``Function`` s describe it: the expression ``0.5 * ||x - P(x)||^2`` (or the
  distance function's expression) inline, differentiated like any other expression;
* otherwise one user elementary function (a ``CUSTOM`` node, see :mod:`gradgen.custom`) named
  ``NAME``: Python evaluates it with the callbacks (or the Functions) and its derivative is
  ``x - P(x)``; in Rust it calls the snippets, the distance and the gradient being derived from
  the projection when no distance snippet is given.

The factories (``euclidean_ball``, ``infinity_ball``, ``rectangle``, ``second_order_cone``) give
both a Python projection and a compact Rust loop for every target, so each evaluates in Python
and in Rust.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from gradgen.backends.names import validate_explicit
from gradgen.backends.rust_custom import check_definition, code_of
from gradgen.errors import FunctionDefinitionError, GradgenTypeError, ShapeError
from gradgen.ir.custom import ElementaryDefinition
from gradgen.ir.expr import SX, as_sx
from gradgen.ir.lower import raise_kernel

from .custom import custom_node
from .function import Function
from .vector import SXVector

Projection = Callable[[tuple[float, ...]], Iterable[float]]

_T = "{{ scalar_type }}"
_SQRT = "{{ math_library }}::sqrt{{ math_suffix }}"


def _rust_float(v: float) -> str:
    if math.isinf(v):
        return f"{_T}::INFINITY" if v > 0 else f"{_T}::NEG_INFINITY"
    text = repr(float(v))
    return text if any(c in text for c in ".eE") else text + ".0"


def _floats(what: str, values: object, allow_inf: bool = False) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise GradgenTypeError(f"{what} must be a sequence of numbers, got {values!r}")
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise GradgenTypeError(f"{what} must be a sequence of numbers, got {values!r}") from None
    for v in out:
        if math.isnan(v) or (math.isinf(v) and not allow_inf):
            raise FunctionDefinitionError(
                f"{what} must hold {'' if allow_inf else 'finite '}numbers, got {v!r}"
            )
    if not out:
        raise FunctionDefinitionError(f"{what} must not be empty")
    return out


def _positive(what: str, value: object) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise GradgenTypeError(f"{what} must be a number, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise FunctionDefinitionError(f"{what} must be positive and finite, got {value!r}")
    return v


def _check_vector_function(what: str, f: object, scalar_output: bool) -> Function:
    if not isinstance(f, Function):
        raise GradgenTypeError(f"{what} must be a gradgen Function, got {type(f).__name__}")
    k = f.kernel
    if len(k.inputs) != 1 or len(k.outputs) != 1:
        raise FunctionDefinitionError(f"{what} must have one input and one output")
    if scalar_output and k.outputs[0].size != 1:
        raise FunctionDefinitionError(f"{what} must have a scalar output")
    if not scalar_output and k.outputs[0].size != k.inputs[0].size:
        raise FunctionDefinitionError(f"{what} must map a vector to a vector of the same length")
    return f


class SquaredDistanceToSet:
    """The half squared distance to a closed convex set ``C`` (see the module docstring)."""

    def __init__(self, name: str, input_name: str = "x") -> None:
        self.name = validate_explicit("set name", name)
        if not isinstance(input_name, str) or not input_name:
            raise GradgenTypeError(f"input_name must be a non-empty string, got {input_name!r}")
        self.input_name = input_name
        self.dimension: int | None = None
        self._projection_function: Function | None = None
        self._sq_distance_function: Function | None = None
        self._projection: Projection | None = None
        self._sq_distance: Callable[[tuple[float, ...]], float] | None = None
        self._rust_projection: str | None = None
        self._rust_sq_distance: str | None = None
        self._definition: ElementaryDefinition | None = None

    def __repr__(self) -> str:
        return f"<SquaredDistanceToSet {self.name!r}, dimension {self.dimension}>"

    # ---- configuration (each returns self) -----------------------------------------------------
    def _set_dimension(self, n: int) -> None:
        if self.dimension is not None and self.dimension != n:
            raise ShapeError(f"set {self.name!r} has dimension {self.dimension}, got a part of dimension {n}")
        self.dimension = n
        self._definition = None

    def with_projection_function(self, projection: Function) -> SquaredDistanceToSet:
        f = _check_vector_function("the projection function", projection, scalar_output=False)
        self._set_dimension(f.kernel.inputs[0].size)
        self._projection_function = f
        return self

    def with_sq_distance_function(self, sq_distance: Function) -> SquaredDistanceToSet:
        f = _check_vector_function("the squared distance function", sq_distance, scalar_output=True)
        self._set_dimension(f.kernel.inputs[0].size)
        self._sq_distance_function = f
        return self

    def with_projection(self, projection: Projection) -> SquaredDistanceToSet:
        """A numeric projection callback ``P(x) -> sequence`` (``x`` a tuple of floats)."""
        if not callable(projection):
            raise GradgenTypeError("the projection must be callable")
        self._projection = projection
        self._definition = None
        return self

    def with_sq_distance(self, sq_distance: Callable[[tuple[float, ...]], float]) -> SquaredDistanceToSet:
        """A numeric callback for ``0.5 * dist(x, C)^2``."""
        if not callable(sq_distance):
            raise GradgenTypeError("the squared distance must be callable")
        self._sq_distance = sq_distance
        self._definition = None
        return self

    def with_rust_projection(self, source: str) -> SquaredDistanceToSet:
        """Rust defining ``fn NAME_projection(x: &[T], out: &mut [T])``."""
        self._rust_projection = source
        self._definition = None
        self._check(None)
        return self

    def with_rust_sq_distance(self, source: str) -> SquaredDistanceToSet:
        """Rust defining ``fn NAME(x: &[T], w: &[T]) -> T`` (``w`` is empty)."""
        self._rust_sq_distance = source
        self._definition = None
        self._check(None)
        return self

    # ---- Python numbers ------------------------------------------------------------------------
    def _project(self, x: tuple[float, ...]) -> list[float] | None:
        if self._projection is not None:
            p = [float(v) for v in self._projection(x)]
        elif self._projection_function is not None:
            out = self._projection_function(list(x))
            p = [float(v) for v in (out if isinstance(out, (list, tuple)) else [out])]
        else:
            return None
        if len(p) != len(x):
            raise ShapeError(f"set {self.name!r}: the projection returned {len(p)} numbers for {len(x)}")
        return p

    def _value(self, x: tuple[float, ...]) -> float:
        if self._sq_distance is not None:
            return float(self._sq_distance(x))
        if self._sq_distance_function is not None:
            return float(self._sq_distance_function(list(x)))
        p = self._project(x)
        if p is None:
            raise FunctionDefinitionError(
                f"set {self.name!r} has no Python projection or distance to evaluate"
            )
        return 0.5 * math.fsum((a - b) ** 2 for a, b in zip(x, p, strict=True))

    def _gradient(self, x: tuple[float, ...]) -> list[float]:
        p = self._project(x)
        if p is None:
            raise FunctionDefinitionError(f"set {self.name!r} has no Python projection for its gradient")
        return [a - b for a, b in zip(x, p, strict=True)]

    # ---- the elementary function ---------------------------------------------------------------
    def _rust_code(self, n: int) -> dict[str, str | None]:
        name = self.name
        primal, jacobian = self._rust_sq_distance, None
        if self._rust_projection is not None:
            jacobian = (
                f"fn {name}_jacobian(x: &[{_T}], _w: &[{_T}], out: &mut [{_T}]) {{\n"
                f"    {name}_projection(x, out);\n"
                "    for (o, v) in out.iter_mut().zip(x) {\n"
                "        *o = v - *o;\n"
                "    }\n"
                "}\n"
            )
            if primal is None:
                primal = (
                    f"fn {name}(x: &[{_T}], _w: &[{_T}]) -> {_T} {{\n"
                    f"    let mut p = [0.0; {n}];\n"
                    f"    {name}_projection(x, &mut p);\n"
                    "    let mut acc = 0.0;\n"
                    "    for (v, q) in x.iter().zip(p.iter()) {\n"
                    "        acc += (v - q) * (v - q);\n"
                    "    }\n"
                    "    0.5 * acc\n"
                    "}\n"
                )
        return {"rust_primal": primal, "rust_jacobian": jacobian, "rust_support": self._rust_projection}

    def _check(self, n: int | None) -> ElementaryDefinition:
        code, orders = code_of(self._rust_code(n or 1))
        has_python = any(
            p is not None
            for p in (
                self._projection,
                self._projection_function,
                self._sq_distance,
                self._sq_distance_function,
            )
        )
        has_projection = self._projection is not None or self._projection_function is not None
        d = ElementaryDefinition(
            name=self.name,
            input_dimension=n or 1,
            parameter_dimension=0,
            parameter_defaults=(),
            eval_python=(lambda x: self._value(_tuple(x))) if has_python else None,
            jacobian=(lambda x: self._gradient(_tuple(x))) if has_projection else None,
            code=code,
            code_orders=orders,
        )
        if (
            self._rust_projection is not None
            and "fn " + self.name + "_projection" not in self._rust_projection
        ):
            from gradgen.backends.errors import SnippetError

            raise SnippetError(
                f"set {self.name!r}: the Rust projection must define `fn {self.name}_projection(...)`"
            )
        check_definition(d)
        return d

    def definition(self, n: int) -> ElementaryDefinition:
        """The elementary function of this set on vectors of length ``n`` (built once)."""
        if self.dimension != n:
            self._set_dimension(n)
        if self._definition is None:
            self._definition = self._check(n)
        return self._definition

    @property
    def _symbolic(self) -> bool:
        """Only gradgen Functions describe the set: it is built from ordinary expressions."""
        return (
            self._rust_projection is None
            and self._rust_sq_distance is None
            and self._projection is None
            and self._sq_distance is None
            and (self._projection_function is not None or self._sq_distance_function is not None)
        )

    # ---- use -------------------------------------------------------------------------------------
    def __call__(self, x: SXVector | Sequence[Any]) -> Any:
        """``0.5 * dist(x, C)^2``: an expression for symbolic ``x``, a float for numbers."""
        items = list(x) if not isinstance(x, SX) else [x]
        if items and not any(isinstance(v, SX) for v in items):
            values = tuple(float(v) for v in items)
            self.definition(len(values))
            return self._value(values)
        xs = [as_sx(v) for v in items]
        n = len(xs)
        if not n:
            raise ShapeError(f"set {self.name!r} needs a non-empty vector")
        if self._symbolic:
            if self.dimension != n:
                self._set_dimension(n)
            if self._sq_distance_function is not None:
                return raise_kernel(self._sq_distance_function.kernel, [xs])[0][0]
            assert self._projection_function is not None
            p = raise_kernel(self._projection_function.kernel, [xs])[0]
            diff = SXVector([a - b for a, b in zip(xs, p, strict=True)])
            return 0.5 * diff.dot(diff)
        return custom_node(self.definition(n), xs)

    def to_function(self, name: str | None = None) -> Function:
        if self.dimension is None:
            raise FunctionDefinitionError(
                f"set {self.name!r}: its dimension is not known yet; call it once first"
            )
        x = SXVector.sym(self.input_name, self.dimension)
        return Function(name or self.name, [x], [self(x)], input_names=[self.input_name], output_names=["y"])

    def gradient(self, wrt_index: int = 0) -> Function:
        """The gradient ``x - proj_C(x)`` as a ``Function``."""
        return self.to_function().gradient(wrt_index)

    def jacobian(self, wrt_index: int = 0) -> Function:
        """The Jacobian (one row: the gradient) as a ``Function``."""
        return self.to_function().jacobian(wrt_index)

    # ---- factories ---------------------------------------------------------------------------------
    @classmethod
    def euclidean_ball(
        cls, name: str, center: Sequence[float], radius: float, input_name: str = "x"
    ) -> SquaredDistanceToSet:
        """The ball ``{x : ||x - center||_2 <= radius}``."""
        c = _floats("center", center)
        r = _positive("radius", radius)
        n = len(c)

        def project(x: tuple[float, ...]) -> list[float]:
            norm = math.sqrt(math.fsum((a - b) ** 2 for a, b in zip(x, c, strict=True)))
            if norm <= r:
                return list(x)
            return [b + (a - b) * (r / norm) for a, b in zip(x, c, strict=True)]

        rust = (
            f"fn {name}_projection(x: &[{_T}], out: &mut [{_T}]) {{\n"
            f"    const CENTER: [{_T}; {n}] = [{', '.join(map(_rust_float, c))}];\n"
            "    let mut sq = 0.0;\n"
            "    for (v, c) in x.iter().zip(CENTER.iter()) {\n"
            "        sq += (v - c) * (v - c);\n"
            "    }\n"
            f"    let r: {_T} = {_rust_float(r)};\n"
            f"    let norm = {_SQRT}(sq);\n"
            "    let scale = if norm <= r { 1.0 } else { r / norm };\n"
            "    for ((o, v), c) in out.iter_mut().zip(x).zip(CENTER.iter()) {\n"
            "        *o = c + (v - c) * scale;\n"
            "    }\n"
            "}\n"
        )
        s = cls(name, input_name).with_projection(project).with_rust_projection(rust)
        s._set_dimension(n)
        return s

    @classmethod
    def infinity_ball(
        cls, name: str, center: Sequence[float], radius: float, input_name: str = "x"
    ) -> SquaredDistanceToSet:
        """The box ``{x : |x_i - center_i| <= radius}``."""
        c = _floats("center", center)
        r = _positive("radius", radius)
        return cls.rectangle(name, [v - r for v in c], [v + r for v in c], input_name)

    @classmethod
    def rectangle(
        cls, name: str, xmin: Sequence[float], xmax: Sequence[float], input_name: str = "x"
    ) -> SquaredDistanceToSet:
        """The box ``{x : xmin <= x <= xmax}``; bounds may be ``-inf`` / ``+inf``."""
        lo = _floats("xmin", xmin, allow_inf=True)
        hi = _floats("xmax", xmax, allow_inf=True)
        if len(lo) != len(hi):
            raise ShapeError(f"xmin has {len(lo)} bounds and xmax {len(hi)}")
        if (
            any(a > b for a, b in zip(lo, hi, strict=True))
            or any(a == math.inf for a in lo)
            or any(b == -math.inf for b in hi)
        ):
            raise FunctionDefinitionError(
                "the rectangle is empty: each xmin must be <= xmax (and finite on its side)"
            )
        n = len(lo)

        def project(x: tuple[float, ...]) -> list[float]:
            return [a if v < a else b if v > b else v for v, a, b in zip(x, lo, hi, strict=True)]

        rust = (
            f"fn {name}_projection(x: &[{_T}], out: &mut [{_T}]) {{\n"
            f"    const LOWER: [{_T}; {n}] = [{', '.join(map(_rust_float, lo))}];\n"
            f"    const UPPER: [{_T}; {n}] = [{', '.join(map(_rust_float, hi))}];\n"
            "    for (i, (o, &v)) in out.iter_mut().zip(x).enumerate() {\n"
            "        *o = if v < LOWER[i] {\n"
            "            LOWER[i]\n"
            "        } else if v > UPPER[i] {\n"
            "            UPPER[i]\n"
            "        } else {\n"
            "            v\n"
            "        };\n"
            "    }\n"
            "}\n"
        )
        s = cls(name, input_name).with_projection(project).with_rust_projection(rust)
        s._set_dimension(n)
        return s

    @classmethod
    def second_order_cone(
        cls, name: str, alpha: float, dimension: int, input_name: str = "x"
    ) -> SquaredDistanceToSet:
        """The cone ``{(y, t) : ||y||_2 <= alpha * t}`` (``t`` the last of ``dimension`` entries)."""
        a = _positive("alpha", alpha)
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 2:
            raise FunctionDefinitionError(f"dimension must be an integer >= 2, got {dimension!r}")

        def project(x: tuple[float, ...]) -> list[float]:
            y, t = x[:-1], x[-1]
            s = math.sqrt(math.fsum(v * v for v in y))
            if s <= a * t:
                return list(x)
            if a * s <= -t:
                return [0.0] * len(x)
            beta = (a * s + t) / (a * a + 1.0)
            return [a * beta / s * v for v in y] + [beta]

        al = _rust_float(a)
        rust = (
            f"fn {name}_projection(x: &[{_T}], out: &mut [{_T}]) {{\n"
            f"    let alpha: {_T} = {al};\n"
            f"    let t = x[{dimension - 1}];\n"
            "    let mut sq = 0.0;\n"
            f"    for v in &x[..{dimension - 1}] {{\n"
            "        sq += v * v;\n"
            "    }\n"
            f"    let s = {_SQRT}(sq);\n"
            "    if s <= alpha * t {\n"
            "        out.copy_from_slice(x);\n"
            "    } else if alpha * s <= -t {\n"
            "        out.fill(0.0);\n"
            "    } else {\n"
            "        let beta = (alpha * s + t) / (alpha * alpha + 1.0);\n"
            "        let scale = alpha * beta / s;\n"
            f"        for (o, v) in out[..{dimension - 1}].iter_mut().zip(x) {{\n"
            "            *o = scale * v;\n"
            "        }\n"
            f"        out[{dimension - 1}] = beta;\n"
            "    }\n"
            "}\n"
        )
        s = cls(name, input_name).with_projection(project).with_rust_projection(rust)
        s._set_dimension(dimension)
        return s


def _tuple(x: Any) -> tuple[float, ...]:
    return (float(x),) if isinstance(x, (int, float)) else tuple(float(v) for v in x)
