"""``Function``: named symbolic inputs and outputs, numeric evaluation, and the entry points to
differentiation and code generation (which live in ``gradgen.derivatives`` and
``gradgen.codegen``; this class only forwards to them)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from gradgen.ir.errors import EvaluationArgumentError, FunctionDefinitionError, GradgenTypeError
from gradgen.ir.expr import SX, as_sx
from gradgen.ir.interp import run
from gradgen.ir.kernel import Kernel, Port
from gradgen.ir.lower import lower

from .vector import SXVector

if TYPE_CHECKING:  # pragma: no cover
    from gradgen.backends.config import RustBackendConfig
    from gradgen.backends.rust import RustGenerationResult
    from gradgen.passes.cse import CSEPlan

    from .bundle import DerivativeBundle
    from .codegen import RustProjectResult
    from .sparse import SparseHessian


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise FunctionDefinitionError(f"{kind} must be a non-empty string, got {name!r}")
    return name


def _fresh(base: str, taken: set[str]) -> str:
    """``base``, or ``base_1``, ``base_2``, ... whichever is not taken yet (and take it)."""
    name, i = base, 1
    while name in taken:
        name = f"{base}_{i}"
        i += 1
    taken.add(name)
    return name


def _name_list(kind: str, names: Any) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)):
        raise FunctionDefinitionError(f"{kind} must be a list of strings, got {names!r}")
    return list(names)


def _is_text(v: object) -> bool:
    return isinstance(v, (str, bytes, bytearray))


def _input_block(k: int, item: Any) -> tuple[list[SX], bool, str | None]:
    if isinstance(item, SX):
        symbols, scalar, default = [item], True, item.name if item.is_symbol else None
    elif isinstance(item, SXVector):
        symbols, scalar, default = list(item), False, item.name
    elif isinstance(item, (list, tuple)):
        symbols, scalar, default = list(item), False, None
    else:
        raise FunctionDefinitionError(
            f"input {k} must be a symbol (SX.sym) or a vector of symbols (SXVector.sym), "
            f"got {type(item).__name__}"
        )
    if not symbols:
        raise FunctionDefinitionError(f"input {k} is an empty vector")
    for s in symbols:
        if not isinstance(s, SX):
            raise FunctionDefinitionError(
                f"input {k} contains {s!r} ({type(s).__name__}), which is not a symbol; "
                "inputs must be SX.sym(...) or SXVector.sym(...)"
            )
        if not s.is_symbol:
            raise FunctionDefinitionError(
                f"input {k} contains the expression {s}, which is not a symbol; "
                "inputs must be SX.sym(...) or SXVector.sym(...)"
            )
    return symbols, scalar, default


def _output_block(k: int, item: Any) -> tuple[list[SX], bool]:
    try:
        if isinstance(item, SXVector):
            exprs, scalar = list(item), False
        elif isinstance(item, (list, tuple)):
            exprs, scalar = [as_sx(v) for v in item], False
        else:
            exprs, scalar = [as_sx(item)], True
    except GradgenTypeError as exc:
        raise FunctionDefinitionError(
            f"output {k} must be an expression, a number or a vector of them ({exc})"
        ) from None
    if not exprs:
        raise FunctionDefinitionError(f"output {k} is an empty vector")
    return exprs, scalar


class Function:
    """A named symbolic function ``outputs = f(inputs)``.

    ``inputs`` are symbols (``SX.sym``) or vectors of symbols (``SXVector.sym``); ``outputs`` are
    expressions, numbers or vectors of them. Calling the function evaluates it numerically with
    the same IEEE rules as the generated Rust.
    """

    def __init__(
        self,
        name: str,
        inputs: Sequence[SX | SXVector | Sequence[SX]],
        outputs: Sequence[SX | SXVector | Sequence[SX | float] | float],
        input_names: Sequence[str] | None = None,
        output_names: Sequence[str] | None = None,
    ) -> None:
        self.name = _check_name("a function name", name)
        if isinstance(inputs, (SX, SXVector)) or not isinstance(inputs, (list, tuple)):
            raise FunctionDefinitionError("inputs must be a list of symbols or symbol vectors")
        if isinstance(outputs, (SX, SXVector)) or not isinstance(outputs, (list, tuple)):
            raise FunctionDefinitionError("outputs must be a list of expressions or vectors")
        in_blocks = [_input_block(k, item) for k, item in enumerate(inputs)]
        out_blocks = [_output_block(k, item) for k, item in enumerate(outputs)]
        seen: dict[int, int] = {}
        for k, (symbols, _, _) in enumerate(in_blocks):
            for s in symbols:
                if id(s) in seen:
                    raise FunctionDefinitionError(
                        f"function {name!r}: symbol {s.name!r} appears more than once among the "
                        f"inputs (inputs {seen[id(s)]} and {k})"
                    )
                seen[id(s)] = k
        input_names = _name_list("input_names", input_names)
        output_names = _name_list("output_names", output_names)
        if input_names is not None and len(input_names) != len(in_blocks):
            raise FunctionDefinitionError(
                f"function {name!r} has {len(in_blocks)} inputs but {len(input_names)} input names"
            )
        if output_names is not None and len(output_names) != len(out_blocks):
            raise FunctionDefinitionError(
                f"function {name!r} has {len(out_blocks)} outputs but {len(output_names)} output names"
            )
        if input_names is None:
            # a vector's or symbol's own name; unnamed blocks get in0, in1, ... (kept distinct)
            taken = {d for _, _, d in in_blocks if d is not None} | set(output_names or ())
            input_names = [
                d if d is not None else _fresh(f"in{k}", taken) for k, (_, _, d) in enumerate(in_blocks)
            ]
        if output_names is None:
            taken = set(input_names)
            bases = ["y"] if len(out_blocks) == 1 else [f"out{k}" for k in range(len(out_blocks))]
            output_names = [_fresh(b, taken) for b in bases]
        for n in input_names:
            _check_name("an input name", n)
        for n in output_names:
            _check_name("an output name", n)
        all_names = input_names + output_names
        counts: dict[str, int] = {}
        for n in all_names:
            counts[n] = counts.get(n, 0) + 1
        dupes = sorted(n for n, c in counts.items() if c > 1)
        if dupes:
            raise FunctionDefinitionError(
                f"function {name!r}: argument name(s) {', '.join(map(repr, dupes))} used more than once; "
                "give distinct input_names=/output_names="
            )
        self.input_names: tuple[str, ...] = tuple(input_names)
        self.output_names: tuple[str, ...] = tuple(output_names)
        self._in_symbols: tuple[tuple[SX, ...], ...] = tuple(tuple(b[0]) for b in in_blocks)
        self._in_scalar: tuple[bool, ...] = tuple(b[1] for b in in_blocks)
        self._out_exprs: tuple[tuple[SX, ...], ...] = tuple(tuple(b[0]) for b in out_blocks)
        self._out_scalar: tuple[bool, ...] = tuple(b[1] for b in out_blocks)
        in_ports = [
            Port(n, len(s), sc)
            for n, s, sc in zip(input_names, self._in_symbols, self._in_scalar, strict=True)
        ]
        out_ports = [
            Port(n, len(e), sc)
            for n, e, sc in zip(output_names, self._out_exprs, self._out_scalar, strict=True)
        ]
        self.kernel: Kernel = lower(
            self.name,
            list(zip(in_ports, self._in_symbols, strict=True)),
            list(zip(out_ports, self._out_exprs, strict=True)),
        )

    # ---- structure ----------------------------------------------------------------------
    @classmethod
    def from_kernel(cls, kernel: Kernel, input_symbols: Sequence[Sequence[SX]]) -> Function:
        """The Function whose outputs are ``kernel``'s, over the given input symbols."""
        from gradgen.ir.lower import raise_kernel

        outs = raise_kernel(kernel, input_symbols)
        inputs = [
            s[0] if p.scalar else SXVector(s) for p, s in zip(kernel.inputs, input_symbols, strict=True)
        ]
        outputs = [o[0] if p.scalar else SXVector(o) for p, o in zip(kernel.outputs, outs, strict=True)]
        return cls(
            kernel.name,
            inputs,
            outputs,
            input_names=[p.name for p in kernel.inputs],
            output_names=[p.name for p in kernel.outputs],
        )

    @property
    def inputs(self) -> list[SX | SXVector]:
        return [s[0] if sc else SXVector(s) for s, sc in zip(self._in_symbols, self._in_scalar, strict=True)]

    @property
    def outputs(self) -> list[SX | SXVector]:
        return [e[0] if sc else SXVector(e) for e, sc in zip(self._out_exprs, self._out_scalar, strict=True)]

    @property
    def input_symbols(self) -> tuple[tuple[SX, ...], ...]:
        return self._in_symbols

    @property
    def input_sizes(self) -> tuple[int, ...]:
        return tuple(len(s) for s in self._in_symbols)

    @property
    def output_sizes(self) -> tuple[int, ...]:
        return tuple(len(e) for e in self._out_exprs)

    @property
    def output_expressions(self) -> tuple[tuple[SX, ...], ...]:
        return self._out_exprs

    def __repr__(self) -> str:
        ins = ", ".join(f"{n}[{s}]" for n, s in zip(self.input_names, self.input_sizes, strict=True))
        outs = ", ".join(f"{n}[{s}]" for n, s in zip(self.output_names, self.output_sizes, strict=True))
        return f"Function({self.name!r}: ({ins}) -> ({outs}))"

    # ---- numeric evaluation ---------------------------------------------------------------
    def _coerce_args(self, args: Sequence[Any]) -> list[list[float]]:
        if len(args) != len(self._in_symbols):
            raise EvaluationArgumentError(
                f"function {self.name!r} takes {len(self._in_symbols)} argument(s) "
                f"({', '.join(self.input_names)}), got {len(args)}"
            )
        values: list[list[float]] = []
        for name, symbols, scalar, arg in zip(
            self.input_names, self._in_symbols, self._in_scalar, args, strict=True
        ):
            n = len(symbols)
            expected = "a number" if scalar else f"a sequence of {n} numbers"
            try:
                if _is_text(arg) or getattr(arg, "ndim", 1) > 1:
                    raise TypeError
                if scalar and (not hasattr(arg, "__len__") or getattr(arg, "ndim", 1) == 0):
                    vals = [float(arg)]
                else:
                    items = list(arg)
                    if any(_is_text(v) or getattr(v, "ndim", 0) > 0 for v in items):
                        raise TypeError
                    vals = [float(v) for v in items]
            except (TypeError, ValueError, OverflowError):
                raise EvaluationArgumentError(
                    f"argument {name!r} of {self.name!r} must be {expected}, got {arg!r}"
                ) from None
            if len(vals) != n:
                raise EvaluationArgumentError(
                    f"argument {name!r} of {self.name!r} has length {len(vals)}, expected {n}"
                )
            values.append(vals)
        return values

    def __call__(self, *args: float | Iterable[float]) -> Any:
        """Evaluate numerically: one number per scalar input, a sequence per vector input.

        Returns a float per scalar output and a list per vector output; a tuple of them when the
        function has several outputs (the result is typed ``Any`` because its shape is only known
        at run time)."""
        results = run(self.kernel, self._coerce_args(args))
        outs = [r[0] if sc else r for r, sc in zip(results, self._out_scalar, strict=True)]
        return outs[0] if len(outs) == 1 else tuple(outs)

    # ---- simplification and CSE -----------------------------------------------------------
    def simplify(self, level: str | int = "medium") -> Function:
        """A new Function with the outputs simplified at ``level``."""
        from .api import simplify

        return simplify(self, level)

    def cse(self, min_uses: int = 2, prefix: str = "w") -> CSEPlan:
        """The common-subexpression plan of all outputs (see :func:`gradgen.cse`)."""
        from gradgen.passes.cse import cse_plan

        return cse_plan([e for exprs in self._out_exprs for e in exprs], min_uses, prefix)

    # ---- derivatives (gradgen.derivatives) ----------------------------------------------------
    def gradient(self, wrt: int = 0) -> Function:
        from . import derivatives

        return derivatives.gradient_function(self, wrt)

    def jacobian(self, wrt: int = 0) -> Function:
        from . import derivatives

        return derivatives.jacobian_function(self, wrt)

    def hessian(self, wrt: int = 0) -> Function:
        from . import derivatives

        return derivatives.hessian_function(self, wrt)

    def hvp(self, wrt: int = 0) -> Function:
        from . import derivatives

        return derivatives.hvp_function(self, wrt)

    # ---- sparse Hessian (gradgen.sparse; forwarding only) -----------------------------------
    def sparse_hessian(self, wrt: int = 0, triangle: str = "full") -> SparseHessian:
        """The structural nonzeros of the Hessian w.r.t. input ``wrt`` in CSC order, with their
        pattern (``triangle``: ``"full"``, ``"lower"`` or ``"upper"``); see :mod:`gradgen.sparse`."""
        from . import sparse

        return sparse.sparse_hessian(self, wrt, triangle)

    # ---- end of sparse Hessian ----------------------------------------------------------------

    def jvp(self, tangent: Any = None, wrt_index: int | Sequence[int] | None = None) -> Function:
        from . import derivatives

        return derivatives.jvp_function(self, tangent, wrt_index)

    def vjp(self, cotangent: Any = None, wrt_index: int | Sequence[int] | None = None) -> Function:
        from . import derivatives

        return derivatives.vjp_function(self, cotangent, wrt_index)

    def joint(self, kinds: Sequence[str], wrt: int | Sequence[int] = 0) -> Function:
        from . import derivatives

        return derivatives.joint_function(self, kinds, wrt)

    # ---- code generation (gradgen.codegen) ---------------------------------------------------
    def generate_rust(self, config: RustBackendConfig | None = None) -> RustGenerationResult:
        from . import codegen

        return codegen.generate_rust(self, config=config)

    def create_rust_project(
        self,
        path: str | os.PathLike[str],
        crate_name: str | None = None,
        function_name: str | None = None,
        config: RustBackendConfig | None = None,
        overwrite: bool = False,
    ) -> RustProjectResult:
        """Write a Cargo project for this function at ``path`` (see
        :func:`gradgen.create_rust_project`; ``overwrite=True`` allows a directory holding files
        gradgen did not generate)."""
        from . import codegen

        return codegen.create_rust_project(self, path, crate_name, function_name, config, overwrite)

    def create_rust_derivative_bundle(
        self,
        path: str | os.PathLike[str],
        simplify_derivatives: str | int | None = None,
        config: RustBackendConfig | None = None,
    ) -> DerivativeBundle:
        from . import bundle

        return bundle.create_rust_derivative_bundle(self, path, simplify_derivatives, config)
