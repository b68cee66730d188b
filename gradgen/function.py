"""``Function``: a named kernel with named, sized input and output ports, evaluated numerically,
differentiated, simplified and compiled to Rust.

The kernel (:class:`~ir.kernel.Kernel`) is the one truth of a Function. The constructor lowers the
user's expressions once; derivatives, simplification and sparse Hessians run passes on the kernel
and wrap the kernel they return (:meth:`Function.from_kernel` does no symbolic work). Expressions
(:attr:`Function.outputs`) are raised from the kernel only when asked for. Code generation lives
in :mod:`gradgen.codegen`, which only ever reads ``f.kernel``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from gradgen.errors import EvaluationArgumentError, FunctionDefinitionError, GradgenTypeError
from gradgen.ir.expr import SX, as_sx
from gradgen.ir.interp import run
from gradgen.ir.kernel import Kernel, Port
from gradgen.ir.lower import lower, raise_kernel
from gradgen.ir.nogc import paused_gc
from gradgen.ir.ordered import is_unordered, refuse_unordered
from gradgen.passes import autodiff as ad
from gradgen.passes.cse import CSEPlan, cse_plan
from gradgen.passes.manager import PassManager
from gradgen.passes.pipelines import simplification_passes
from gradgen.passes.sparsity import HessianPattern, SparseHessianPass, check_triangle

from .input_symbols import InputSymbols, checked_blocks
from .vector import SXVector

if TYPE_CHECKING:  # pragma: no cover
    from gradgen.backends.rust import RustGenerationResult
    from gradgen.config import RustBackendConfig

    from .bundle import DerivativeBundle
    from .codegen import RustProjectResult


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
    expressions, numbers or vectors of them, lowered once to :attr:`kernel`. Calling the function
    evaluates the kernel numerically with the same IEEE rules as the generated Rust.
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
        in_symbols = tuple(tuple(b[0]) for b in in_blocks)
        in_ports = tuple(Port(n, len(b[0]), b[1]) for n, b in zip(input_names, in_blocks, strict=True))
        out_ports = [Port(n, len(b[0]), b[1]) for n, b in zip(output_names, out_blocks, strict=True)]
        kernel = lower(
            self.name,
            list(zip(in_ports, in_symbols, strict=True)),
            [(port, b[0]) for port, b in zip(out_ports, out_blocks, strict=True)],
        )
        self._adopt(kernel, InputSymbols(in_ports, blocks=in_symbols))

    def _adopt(self, kernel: Kernel, symbols: InputSymbols) -> None:
        self.name = kernel.name
        self.kernel: Kernel = kernel
        self.input_names: tuple[str, ...] = tuple(p.name for p in kernel.inputs)
        self.output_names: tuple[str, ...] = tuple(p.name for p in kernel.outputs)
        self._symbols = symbols
        self._raised: tuple[tuple[SX, ...], ...] | None = None

    # ---- structure ----------------------------------------------------------------------
    @classmethod
    def from_kernel(cls, kernel: Kernel, input_symbols: Sequence[Sequence[SX]] | None = None) -> Function:
        """The Function computing ``kernel``: nothing is lowered or raised.

        ``input_symbols`` (one sequence of symbols per input port) are the symbols that
        :attr:`inputs` and :attr:`outputs` are expressed in; without them, symbols are made on
        first use: ``<port>`` for a scalar port, ``<port>_0, <port>_1, ...`` for a vector port."""
        if not isinstance(kernel, Kernel):
            raise GradgenTypeError(f"from_kernel expects a Kernel, got {type(kernel).__name__}")
        blocks = None if input_symbols is None else checked_blocks(kernel, input_symbols)
        return cls._wrap(kernel, InputSymbols(kernel.inputs, blocks=blocks))

    @classmethod
    def _wrap(cls, kernel: Kernel, symbols: InputSymbols) -> Function:
        f = cls.__new__(cls)
        f._adopt(kernel, symbols)
        return f

    def _derived(self, kernel: Kernel) -> Function:
        """The Function of a kernel made from this one's: its first input ports are this
        function's (same symbols), the ports a derivative appends get fresh symbols."""
        return Function._wrap(kernel, InputSymbols(kernel.inputs, base=self._symbols))

    @property
    def inputs(self) -> list[SX | SXVector]:
        return [
            s[0] if p.scalar else SXVector(s)
            for s, p in zip(self.input_symbols, self.kernel.inputs, strict=True)
        ]

    @property
    def outputs(self) -> list[SX | SXVector]:
        """The output expressions, raised from the kernel on first use."""
        return [
            e[0] if p.scalar else SXVector(e)
            for e, p in zip(self.output_expressions, self.kernel.outputs, strict=True)
        ]

    @property
    def input_symbols(self) -> tuple[tuple[SX, ...], ...]:
        return self._symbols.get()

    @property
    def input_sizes(self) -> tuple[int, ...]:
        return tuple(p.size for p in self.kernel.inputs)

    @property
    def output_sizes(self) -> tuple[int, ...]:
        return tuple(p.size for p in self.kernel.outputs)

    @property
    def output_expressions(self) -> tuple[tuple[SX, ...], ...]:
        """The outputs as ``SX`` over :attr:`input_symbols`, raised from the kernel on first use."""
        if self._raised is None:
            raised = raise_kernel(self.kernel, self.input_symbols)
            self._raised = tuple(tuple(exprs) for exprs in raised)
        return self._raised

    def __repr__(self) -> str:
        ins = ", ".join(f"{n}[{s}]" for n, s in zip(self.input_names, self.input_sizes, strict=True))
        outs = ", ".join(f"{n}[{s}]" for n, s in zip(self.output_names, self.output_sizes, strict=True))
        return f"Function({self.name!r}: ({ins}) -> ({outs}))"

    # ---- numeric evaluation ---------------------------------------------------------------
    def _coerce_args(self, args: Sequence[Any]) -> list[list[float]]:
        ports = self.kernel.inputs
        if len(args) != len(ports):
            raise EvaluationArgumentError(
                f"function {self.name!r} takes {len(ports)} argument(s) "
                f"({', '.join(self.input_names)}), got {len(args)}"
            )
        values: list[list[float]] = []
        for port, arg in zip(ports, args, strict=True):
            name, n, scalar = port.name, port.size, port.scalar
            expected = "a number" if scalar else f"a sequence of {n} numbers"
            if is_unordered(arg):
                raise EvaluationArgumentError(
                    f"argument {name!r} of {self.name!r} must be {expected} in your order, "
                    f"not a {type(arg).__name__} (its iteration order is not one you chose)"
                )
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
        outs = [r[0] if p.scalar else r for r, p in zip(results, self.kernel.outputs, strict=True)]
        return outs[0] if len(outs) == 1 else tuple(outs)

    # ---- simplification and CSE -----------------------------------------------------------
    def simplify(self, level: str | int = "medium") -> Function:
        """A new Function with the outputs simplified at ``level`` (``"none" "basic" "medium"
        "high" "max"`` or ``0``-``4``)."""
        return self._derived(PassManager(simplification_passes(level)).run(self.kernel))

    def cse(self, min_uses: int = 2, prefix: str = "w") -> CSEPlan:
        """The common-subexpression plan of all outputs (see :func:`gradgen.cse`)."""
        return cse_plan([e for exprs in self.output_expressions for e in exprs], min_uses, prefix)

    # ---- derivatives (the kernels of passes.autodiff) -----------------------------------------
    @paused_gc()
    def _derive(self, p: ad.AutodiffPass) -> Function:
        return self._derived(PassManager([p]).run(self.kernel))

    def gradient(self, wrt: int = 0) -> Function:
        """``<f>_gradient_<in>`` with output ``grad_<in>``; ``f`` must have one scalar output."""
        return self._derive(ad.AutodiffPass("gradient", wrt))

    def jacobian(self, wrt: int = 0) -> Function:
        """``<f>_jacobian_<in>`` with one row-major output ``jacobian_<out>_<in>`` per output."""
        return self._derive(ad.AutodiffPass("jacobian", wrt))

    def hessian(self, wrt: int = 0) -> Function:
        """``<f>_hessian_<in>`` with the row-major ``n*n`` output ``hessian_<in>``."""
        return self._derive(ad.AutodiffPass("hessian", wrt))

    def hvp(self, wrt: int = 0) -> Function:
        """``<f>_hvp_<in>``: the inputs of ``f`` plus the direction ``v_<in>``; output ``hvp_<in>``."""
        return self._derive(ad.AutodiffPass("hvp", wrt))

    def jvp(self, tangent: Any = None, wrt_index: int | Sequence[int] | None = None) -> Function:
        """Forward-mode directional derivative ``<f>_jvp_<ins>``: outputs ``jvp_<out>``.

        ``wrt_index`` selects the inputs (an index, a list, or ``None`` for all). ``tangent`` gives
        constant seeds (one entry per selected input, or a flat list for a single input); when it
        is ``None``, runtime inputs ``tangent_<in>`` are appended instead.
        """
        return self._derive(ad.AutodiffPass("jvp", _wrt_arg(wrt_index), tangent))

    def vjp(self, cotangent: Any = None, wrt_index: int | Sequence[int] | None = None) -> Function:
        """Reverse-mode product ``cotangent^T J`` (``<f>_vjp_<ins>``): outputs ``vjp_<in>``.

        ``wrt_index`` selects the inputs (an index, a list, or ``None`` for all). ``cotangent``
        gives constant seeds (one entry per output, or a flat list for a single output); when it
        is ``None``, runtime inputs ``cotangent_<out>`` are appended instead.
        """
        return self._derive(ad.AutodiffPass("vjp", _wrt_arg(wrt_index), cotangent))

    def joint(self, kinds: Sequence[str], wrt: int | Sequence[int] = 0) -> Function:
        """``<f>_<kinds>_<ins>``: the outputs ``kinds`` (among f, grad, jf, hessian, hvp) of one
        graph."""
        refuse_unordered(kinds, "the joint kinds")
        return self._derive(ad.AutodiffPass(ad.check_kinds(kinds), _wrt_arg(wrt)))

    def sparse_hessian(self, wrt: int = 0, triangle: str = "full") -> SparseHessian:
        """The structural nonzeros of the Hessian w.r.t. input ``wrt`` in CSC order, with their
        pattern (``triangle``: ``"full"``, ``"lower"`` or ``"upper"``); see :mod:`gradgen.sparse`."""
        kernel = PassManager([SparseHessianPass(wrt, check_triangle(triangle))]).run(self.kernel)
        return SparseHessian(self._derived(kernel), kernel.note("sparse_patterns")[0])

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


def _wrt_arg(wrt: int | Sequence[int] | None) -> int | tuple[int, ...] | None:
    refuse_unordered(wrt, "wrt")
    if isinstance(wrt, list):
        return tuple(wrt)
    return wrt  # type: ignore[return-value]  # AutodiffPass rejects any other sequence by name


@attrs.frozen
class SparseHessian:
    """A sparse Hessian: ``function`` computes the nonzeros (CSC order) of the Hessian of a scalar
    Function w.r.t. one input; the pattern is ``indptr``/``indices`` (or ``rows``/``cols``). See
    :mod:`gradgen.sparse`."""

    function: Function
    pattern: HessianPattern

    @property
    def shape(self) -> tuple[int, int]:
        return self.pattern.shape

    @property
    def nnz(self) -> int:
        return self.pattern.nnz

    @property
    def triangle(self) -> str:
        return self.pattern.triangle

    @property
    def indptr(self) -> tuple[int, ...]:
        return self.pattern.indptr

    @property
    def indices(self) -> tuple[int, ...]:
        return self.pattern.indices

    @property
    def rows(self) -> tuple[int, ...]:
        return self.pattern.rows

    @property
    def cols(self) -> tuple[int, ...]:
        return self.pattern.cols

    def to_dense(self, values: Sequence[float], mirror: bool = False) -> list[list[float]]:
        """See :meth:`HessianPattern.to_dense`."""
        return self.pattern.to_dense(values, mirror)

    def __repr__(self) -> str:
        n = self.pattern.n
        return f"SparseHessian({self.function.name!r}: {n}x{n}, {self.triangle}, nnz={self.nnz})"
