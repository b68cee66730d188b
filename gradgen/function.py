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
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from gradgen.errors import (
    EvaluationArgumentError,
    GradgenTypeError,
)
from gradgen.ir.expr import SX, as_sx, iter_dag
from gradgen.ir.interp import run
from gradgen.ir.kernel import Kernel, Port
from gradgen.ir.lower import lower, raise_kernel
from gradgen.ir.nogc import paused_gc
from gradgen.ir.ordered import is_unordered, refuse_unordered
from gradgen.passes import autodiff as ad
from gradgen.passes.cse import CSEPlan, cse_plan
from gradgen.passes.manager import PassManager
from gradgen.passes.pipelines import simplification_passes
from gradgen.passes.sparsity import (
    SPARSE_PATTERNS,
    SPARSE_SWEEPS,
    SparseHessianPass,
    SparseJacobianPass,
    check_triangle,
)

from . import compat
from .function_ports import check_name, define_ports, is_text
from .input_symbols import InputSymbols, checked_blocks
from .sparse_results import SparseHessian, SparseJacobian
from .vector import SXVector

if TYPE_CHECKING:  # pragma: no cover
    from gradgen.backends.rust_module import RustGenerationResult
    from gradgen.config import RustBackendConfig

    from .bundle import DerivativeBundle
    from .codegen import RustProjectResult


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
        self.name = check_name("a function name", name)
        in_blocks, out_blocks, input_names, output_names = define_ports(
            name, inputs, outputs, input_names, output_names
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
        #: when this is the Function of a staged kernel: ``derive(kind, wrt)`` -> the kernel of a
        #: staged derivative and ``joint(parts)`` -> a staged joint kernel (set by ``gradgen.staged``;
        #: held here, not in a module table, so both go away with the Function)
        self.staged_derive: Callable[[str, int], Kernel] | None = None
        self.staged_joint: Callable[[Sequence[tuple[str, tuple[int, ...]]]], Kernel] | None = None

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

    def _derived(
        self, kernel: Kernel, name: str | None = None, appended_inputs: Sequence[str] | None = None
    ) -> Function:
        """The Function of a kernel made from this one's: its first input ports are this
        function's (same symbols), the ports a derivative appends get fresh symbols (named
        ``appended_inputs`` when given); ``name`` renames the kernel."""
        if name is not None or appended_inputs is not None:
            kernel = compat.renamed(kernel, name, appended_inputs, len(self.kernel.inputs))
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
                if is_text(arg) or getattr(arg, "ndim", 1) > 1:
                    raise TypeError
                if scalar and (not hasattr(arg, "__len__") or getattr(arg, "ndim", 1) == 0):
                    vals = [float(arg)]
                else:
                    items = list(arg)
                    if any(is_text(v) or getattr(v, "ndim", 0) > 0 for v in items):
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

    def _bind(self, args: tuple[Any, ...], named: dict[str, Any]) -> tuple[Any, ...]:
        """Positional arguments, with keyword arguments placed by input name."""
        if not named:
            return args
        names = self.input_names
        bound: list[Any] = list(args) + [_MISSING] * (len(names) - len(args))
        if len(args) > len(names):
            raise EvaluationArgumentError(
                f"function {self.name!r} takes {len(names)} argument(s) ({', '.join(names)}), got {len(args)}"
            )
        for key, value in named.items():
            if key not in names:
                raise EvaluationArgumentError(
                    f"function {self.name!r} has no input named {key!r}; its inputs are {', '.join(names)}"
                )
            k = names.index(key)
            if bound[k] is not _MISSING:
                raise EvaluationArgumentError(f"function {self.name!r} got two values for input {key!r}")
            bound[k] = value
        missing = [n for n, v in zip(names, bound, strict=True) if v is _MISSING]
        if missing:
            raise EvaluationArgumentError(
                f"function {self.name!r} is missing a value for input(s) {', '.join(map(repr, missing))}"
            )
        return tuple(bound)

    def _substitute(self, args: tuple[Any, ...]) -> Any:
        """The outputs as expressions of the given (symbolic) arguments: composition."""
        ports = self.kernel.inputs
        if len(args) != len(ports):
            raise EvaluationArgumentError(
                f"function {self.name!r} takes {len(ports)} argument(s) "
                f"({', '.join(self.input_names)}), got {len(args)}"
            )
        blocks: list[list[SX]] = []
        for port, arg in zip(ports, args, strict=True):
            try:
                if isinstance(arg, (SX, int, float)) and not isinstance(arg, bool):
                    items = [as_sx(arg)]
                elif is_text(arg):
                    raise GradgenTypeError
                else:
                    items = [as_sx(v) for v in arg]
            except (GradgenTypeError, TypeError):
                raise EvaluationArgumentError(
                    f"argument {port.name!r} of {self.name!r} must be an expression, a number or a "
                    f"vector of them, got {arg!r}"
                ) from None
            if len(items) != port.size:
                raise EvaluationArgumentError(
                    f"argument {port.name!r} of {self.name!r} has length {len(items)}, expected {port.size}"
                )
            blocks.append(items)
        raised = raise_kernel(self.kernel, blocks)
        outs = [e[0] if p.scalar else SXVector(e) for e, p in zip(raised, self.kernel.outputs, strict=True)]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def __call__(self, *args: Any, **named: Any) -> Any:
        """Evaluate: one value per input, positionally or by input name (``f(x=[...], u=2.0)``).

        With numbers (a number per scalar input, a sequence per vector input) the result is a
        float per scalar output and a list per vector output; a tuple of them when the function
        has several outputs. When an argument holds an expression (``SX``/``SXVector``), the
        result is the outputs as expressions of the arguments (``SX`` / ``SXVector``), so
        Functions compose: ``g(f(x)[0], y)``. (Typed ``Any``: the shape is known at run time.)"""
        args = self._bind(args, named)
        if any(_is_symbolic(a) for a in args):
            return self._substitute(args)
        results = run(self.kernel, self._coerce_args(args))
        outs = [r[0] if p.scalar else r for r, p in zip(results, self.kernel.outputs, strict=True)]
        return outs[0] if len(outs) == 1 else tuple(outs)

    # ---- structure as 0.5.2 exposes it ----------------------------------------------------------
    @property
    def flat_inputs(self) -> tuple[SX, ...]:
        """Every input symbol, input after input."""
        return tuple(s for block in self.input_symbols for s in block)

    @property
    def flat_outputs(self) -> tuple[SX, ...]:
        """Every output expression, output after output."""
        return tuple(e for exprs in self.output_expressions for e in exprs)

    @property
    def nodes(self) -> tuple[SX, ...]:
        """Every distinct node of the outputs, children before parents."""
        return tuple(iter_dag(self.flat_outputs))

    # ---- simplification and CSE -----------------------------------------------------------
    def simplify(
        self, level: str | int = "medium", name: str | None = None, *, max_effort: str | int | None = None
    ) -> Function:
        """A new Function with the outputs simplified at ``level`` (``"none" "basic" "medium"
        "high" "max"`` or ``0``-``4``); ``max_effort=`` takes 0.5.2's efforts (a level name or a
        pass count, see :func:`gradgen.compat.level_from_effort`); ``name=`` renames the result."""
        if max_effort is not None:
            level = compat.level_from_effort(max_effort)
        return self._derived(PassManager(simplification_passes(level)).run(self.kernel), name)

    def cse(self, min_uses: int = 2, prefix: str = "w") -> CSEPlan:
        """The common-subexpression plan of all outputs (see :func:`gradgen.cse`)."""
        return cse_plan([e for exprs in self.output_expressions for e in exprs], min_uses, prefix)

    # ---- derivatives (the kernels of passes.autodiff) -----------------------------------------
    @paused_gc()
    def _derive(
        self, p: ad.AutodiffPass, name: str | None = None, appended_inputs: Sequence[str] | None = None
    ) -> Function:
        return self._derived(PassManager([p]).run(self.kernel), name, appended_inputs)

    def gradient(
        self, wrt: int | None = None, name: str | None = None, *, wrt_index: int | None = None
    ) -> Function:
        """``<f>_gradient_<in>`` with output ``grad_<in>``; ``f`` must have one scalar output."""
        return self._derive(ad.AutodiffPass("gradient", compat.resolve_wrt(wrt, wrt_index)), name)

    def jacobian(
        self, wrt: int | None = None, name: str | None = None, *, wrt_index: int | None = None
    ) -> Function:
        """``<f>_jacobian_<in>`` with one row-major output ``jacobian_<out>_<in>`` per output."""
        return self._derive(ad.AutodiffPass("jacobian", compat.resolve_wrt(wrt, wrt_index)), name)

    def hessian(
        self, wrt: int | None = None, name: str | None = None, *, wrt_index: int | None = None
    ) -> Function:
        """``<f>_hessian_<in>`` with the row-major ``n*n`` output ``hessian_<in>``."""
        return self._derive(ad.AutodiffPass("hessian", compat.resolve_wrt(wrt, wrt_index)), name)

    def hvp(
        self,
        wrt: int | None = None,
        name: str | None = None,
        tangent_name: str | None = None,
        *,
        wrt_index: int | None = None,
    ) -> Function:
        """``<f>_hvp_<in>``: the inputs of ``f`` plus the direction ``v_<in>`` (or
        ``tangent_name``); output ``hvp_<in>``."""
        p = ad.AutodiffPass("hvp", compat.resolve_wrt(wrt, wrt_index))
        return self._derive(p, name, None if tangent_name is None else [tangent_name])

    def jvp(
        self,
        *tangents: Any,
        wrt_index: int | Sequence[int] | None = None,
        tangent: Any = None,
        name: str | None = None,
    ) -> Function:
        """Forward-mode directional derivative ``<f>_jvp_<ins>``: outputs ``jvp_<out>``.

        ``f.jvp(tangent, wrt_index)``: ``wrt_index`` selects the inputs (an index, a list, or
        ``None`` for all); ``tangent`` gives constant seeds (one entry per selected input, or a
        flat list for a single input); when it is ``None``, runtime inputs ``tangent_<in>`` are
        appended instead. ``f.jvp(t0, t1, ...)`` (gradgen 0.5.2) gives one tangent per input.
        """
        seed, wrt = compat.split_seeds("jvp", tangents, len(self.input_names), len(self.input_names))
        seed = tangent if seed is None else seed
        wrt = compat.resolve_wrt(wrt, wrt_index, None)
        return self._derive(ad.AutodiffPass("jvp", _wrt_arg(wrt), seed), name)

    def vjp(
        self,
        *cotangents: Any,
        wrt_index: int | Sequence[int] | None = None,
        cotangent: Any = None,
        name: str | None = None,
        cotangent_names: Sequence[str] | None = None,
    ) -> Function:
        """Reverse-mode product ``cotangent^T J`` (``<f>_vjp_<ins>``): outputs ``vjp_<in>``.

        ``f.vjp(cotangent, wrt_index)``: ``wrt_index`` selects the inputs (an index, a list, or
        ``None`` for all); ``cotangent`` gives constant seeds (one entry per output, or a flat
        list for a single output); when it is ``None``, runtime inputs ``cotangent_<out>`` (or
        ``cotangent_names``) are appended instead. ``f.vjp(c0, c1, ...)`` (gradgen 0.5.2) gives
        one cotangent per output.
        """
        seed, wrt = compat.split_seeds("vjp", cotangents, len(self.output_names), len(self.input_names))
        seed = cotangent if seed is None else seed
        wrt = compat.resolve_wrt(wrt, wrt_index, None)
        if cotangent_names is not None and seed is not None:
            raise GradgenTypeError(
                "cotangent_names= names runtime cotangent inputs: give no constant cotangents"
            )
        appended = None if cotangent_names is None else list(cotangent_names)
        return self._derive(ad.AutodiffPass("vjp", _wrt_arg(wrt), seed), name, appended)

    def joint(
        self,
        kinds: Sequence[str],
        wrt: int | Sequence[int] | None = None,
        name: str | None = None,
        simplify_joint: str | int | None = None,
        *,
        wrt_index: int | Sequence[int] | None = None,
    ) -> Function:
        """``<f>_<kinds>_<ins>``: the outputs ``kinds`` (among f, grad, jf, hessian, hvp) of one
        graph; ``simplify_joint`` simplifies it at that (0.5.2) effort."""
        refuse_unordered(kinds, "the joint kinds")
        p = ad.AutodiffPass(ad.check_kinds(kinds), _wrt_arg(compat.resolve_wrt(wrt, wrt_index)))
        joint = self._derive(p, name)
        return joint if simplify_joint is None else joint.simplify(max_effort=simplify_joint)

    def _blocks(self, make: Any, wrt_indices: Iterable[int] | None) -> tuple[Function, ...]:
        indices = range(len(self.input_names)) if wrt_indices is None else list(wrt_indices)
        return tuple(make(i) for i in indices)

    def jacobian_blocks(self, wrt_indices: Iterable[int] | None = None) -> tuple[Function, ...]:
        """``jacobian(i)`` for every input ``i`` (or those of ``wrt_indices``)."""
        return self._blocks(lambda i: self.jacobian(i), wrt_indices)

    def vjp_blocks(self, wrt_indices: Iterable[int] | None = None) -> tuple[Function, ...]:
        """``vjp(wrt_index=i)`` (runtime cotangents) for every input ``i`` (or ``wrt_indices``)."""
        return self._blocks(lambda i: self.vjp(wrt_index=i), wrt_indices)

    def hessian_blocks(self, wrt_indices: Iterable[int] | None = None) -> tuple[Function, ...]:
        """``hessian(i)`` for every input ``i`` (or those of ``wrt_indices``)."""
        return self._blocks(lambda i: self.hessian(i), wrt_indices)

    def hvp_blocks(self, wrt_indices: Iterable[int] | None = None) -> tuple[Function, ...]:
        """``hvp(i)`` for every input ``i`` (or those of ``wrt_indices``)."""
        return self._blocks(lambda i: self.hvp(i), wrt_indices)

    def sparse_hessian(self, wrt: int = 0, triangle: str = "full") -> SparseHessian:
        """The structural nonzeros of the Hessian w.r.t. input ``wrt`` in CSC order, with their
        pattern (``triangle``: ``"full"``, ``"lower"`` or ``"upper"``); see :mod:`gradgen.sparse`."""
        kernel = PassManager([SparseHessianPass(wrt, check_triangle(triangle))]).run(self.kernel)
        return SparseHessian(self._derived(kernel), kernel.note("sparse_patterns")[0])

    def sparse_jacobian(self, wrt_index: int = 0) -> SparseJacobian:
        """The structural nonzeros of the Jacobian of every output w.r.t. input ``wrt_index`` in
        CSC order, one pattern per output, computed with as few compressed sweeps as the pattern
        allows; see :mod:`gradgen.sparse`."""
        kernel = PassManager([SparseJacobianPass(wrt_index)]).run(self.kernel)
        sweeps = kernel.note(SPARSE_SWEEPS)
        return SparseJacobian(
            self._derived(kernel),
            tuple(kernel.note(SPARSE_PATTERNS)[k] for k in range(len(kernel.outputs))),
            sweeps[0],
        )

    # ---- code generation (gradgen.codegen) ---------------------------------------------------
    def generate_rust(
        self,
        config: RustBackendConfig | None = None,
        *,
        function_name: str | None = None,
        backend_mode: str | None = None,
        scalar_type: str | None = None,
        math_library: str | None = None,
    ) -> RustGenerationResult:
        """See :func:`gradgen.generate_rust`."""
        from . import codegen

        return codegen.generate_rust(
            self,
            config=config,
            function_name=function_name,
            backend_mode=backend_mode,
            scalar_type=scalar_type,
            math_library=math_library,
        )

    def create_rust_project(
        self,
        path: str | os.PathLike[str],
        crate_name: str | None = None,
        function_name: str | None = None,
        config: RustBackendConfig | None = None,
        overwrite: bool = False,
        *,
        backend_mode: str | None = None,
        scalar_type: str | None = None,
        math_library: str | None = None,
    ) -> RustProjectResult:
        """Write a Cargo project for this function at ``path`` (see
        :func:`gradgen.create_rust_project`; ``overwrite=True`` allows a directory holding files
        gradgen did not generate)."""
        from . import codegen

        return codegen.create_rust_project(
            self,
            path,
            crate_name,
            function_name,
            config,
            overwrite,
            backend_mode=backend_mode,
            scalar_type=scalar_type,
            math_library=math_library,
        )

    def create_rust_derivative_bundle(
        self,
        path: str | os.PathLike[str],
        simplify_derivatives: str | int | None = None,
        config: RustBackendConfig | None = None,
        *,
        include_primal: bool = True,
        include_jacobians: bool = True,
        include_hessians: bool = True,
    ) -> DerivativeBundle:
        from . import bundle

        return bundle.create_rust_derivative_bundle(
            self,
            path,
            simplify_derivatives,
            config,
            include_primal=include_primal,
            include_jacobians=include_jacobians,
            include_hessians=include_hessians,
        )


_MISSING: Any = object()


def _is_symbolic(arg: object) -> bool:
    """An argument holding a non-constant expression: an ``SX``, or an ``SXVector`` / list /
    tuple with one (constant ``SX`` are numbers)."""
    if isinstance(arg, SX):
        return not arg.is_constant
    if isinstance(arg, (SXVector, list, tuple)):
        return any(isinstance(v, SX) and not v.is_constant for v in arg)
    return False


def _wrt_arg(wrt: int | Sequence[int] | None) -> int | tuple[int, ...] | None:
    refuse_unordered(wrt, "wrt")
    if isinstance(wrt, list):
        return tuple(wrt)
    return wrt  # type: ignore[return-value]  # AutodiffPass rejects any other sequence by name
