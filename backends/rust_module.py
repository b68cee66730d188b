"""One Rust module from allocated, named kernels: the error type, the helpers and the user
functions each emitted once, then every kernel (:class:`~backends.rust.KernelPrinter` for a
straight-line kernel, :class:`~backends.rust_loops.StagedPrinter` for a staged one), and the record
of one generated kernel (:class:`RustGenerationResult`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import attrs

from gradgen.ir.custom import CustomCall
from gradgen.ir.errors import VerificationError
from gradgen.ir.kernel import Kernel
from gradgen.ir.nogc import paused_gc
from gradgen.ir.ops import Op
from gradgen.ir.staged import module_of

from .config import RustTargetOptions
from .emitter import Emitter
from .errors import InvalidNameError
from .metadata import METADATA_STRUCT, meta_function
from .names import find_rust_names, rust_names
from .rust import KernelPrinter
from .rust_custom import custom_items, kernel_item_names, render
from .rust_error import ERROR_TYPE, STD_ERROR_IMPL
from .rust_literals import conversion_loss
from .rust_loops import LoopCallee, StagedPrinter, loop_callees
from .rust_ops import helpers_source
from .scalars import scalar_type
from .signature import FunctionSignature, SignatureView

log = logging.getLogger("gradgen.codegen")


@attrs.frozen
class RustGenerationResult(SignatureView):
    """One generated kernel: the module source and its signature (the facts a caller needs)."""

    source: str = attrs.field(repr=False)
    signature: FunctionSignature
    kernel: Kernel = attrs.field(repr=False)
    config: RustTargetOptions
    #: warnings about the generated code: constants that do not survive conversion to the
    #: scalar type (``1e300`` is infinite in ``f32``), see :func:`constant_notes`
    notes: tuple[str, ...] = ()

    @property
    def function_name(self) -> str:
        return self.signature.function_name

    @property
    def python_name(self) -> str:
        """The name of the generated kernel's source function (gradgen 0.5.2's field)."""
        return self.kernel.name

    @property
    def backend_mode(self) -> str:
        return self.config.backend_mode

    @property
    def scalar_type(self) -> str:
        return self.config.scalar_type

    @property
    def math_library(self) -> str | None:
        """``"libm"`` for ``no_std`` crates, ``None`` for std (its methods)."""
        return "libm" if self.config.backend_mode == "no_std" else None


def _check_custom_names(kernels: Sequence[Kernel]) -> None:
    """No function of the module has the name of a user function's item."""
    functions = {rust_names(k).function: k.name for k in kernels}
    for k in kernels:
        for item in kernel_item_names(k):
            if item in functions:
                raise InvalidNameError(
                    f"the generated function {item!r} (of {functions[item]!r}) has the name of an item "
                    f"of a custom function used by {k.name!r}; rename one of them"
                )


def _check_meta_names(kernels: Sequence[Kernel]) -> None:
    """Each ``<function>_meta`` is a name no function of the module has."""
    taken = {rust_names(k).function: k.name for k in kernels}
    for k in kernels:
        taken.update(dict.fromkeys(kernel_item_names(k), k.name))
    for k in kernels:
        meta = f"{rust_names(k).function}_meta"
        if meta in taken:
            raise InvalidNameError(
                f"the metadata helper {meta!r} of function {k.name!r} has the name of a function of "
                f"{taken[meta]!r}; rename one or turn the metadata helpers off"
            )


@paused_gc()
def emit_module(
    kernels: Sequence[Kernel],
    config: RustTargetOptions | None = None,
    *,
    summaries: Mapping[str, str] | None = None,
    trailers: Mapping[str, str] | None = None,
) -> str:
    """One Rust module with every kernel (each scheduled, allocated and named), the error type
    and the helpers they use, each emitted once.

    ``summaries`` maps a Rust function name to the first line of its doc comment;
    ``trailers`` maps it to module-level items printed right after the function (such as its
    size constants)."""
    config = config or RustTargetOptions()
    scalar, no_std = config.scalar_type, config.no_std
    for note in constant_notes(kernels, scalar):
        log.warning("%s", note)
    used: set[str] = set()
    custom: set[CustomCall] = set()
    bodies: list[Emitter] = []
    summaries = summaries or {}
    trailers = trailers or {}
    _check_custom_names(kernels)
    if config.emit_metadata_helpers:
        _check_meta_names(kernels)
    public = {id(k) for k in kernels}
    printed: dict[str, list[str]] = {}
    callees = loop_callees(kernels)
    for kernel in module_of(kernels):  # the kernels the staged ones call come first, private
        e = Emitter()
        named = find_rust_names(kernel)
        fn = named.function if named is not None else ""
        summary, trailer, pub = summaries.get(fn), trailers.get(fn), id(kernel) in public
        if config.emit_metadata_helpers and pub:
            meta = meta_function(FunctionSignature.of(kernel, scalar))
            trailer = meta if trailer is None else trailer.rstrip("\n") + "\n\n" + meta
        if kernel.steps:
            StagedPrinter(kernel, scalar, summary, trailer, pub).emit(e)
        else:
            callee = callees.get(fn, LoopCallee())
            printer = KernelPrinter(
                kernel,
                scalar,
                no_std,
                used,
                summary,
                trailer,
                pub,
                fenced_results=callee.fenced,
                inline=callee.inline,
            )
            printer.emit(e)
            custom |= printer.custom
        if fn in printed and not pub:
            if printed[fn] != e.lines:
                raise VerificationError(f"two different kernels are both named {fn!r} in one module")
            continue  # a helper several staged kernels call is printed once
        printed[fn] = e.lines
        bodies.append(e)
    names = ", ".join(f"`{rust_names(k).function}`" for k in kernels)
    out = Emitter()
    out.line(f"//! Generated by gradgen ({names}); do not edit by hand.")
    out.line("#![forbid(unsafe_code)]")
    if no_std:
        out.line("#![no_std]")
    if config.header is not None:
        out.line()
        out.block(render(config.header, scalar, no_std).strip("\n"))
    out.line()
    out.block(ERROR_TYPE)
    if not no_std:
        out.line()
        out.block(STD_ERROR_IMPL)
    for item in helpers_source(used, scalar, no_std):
        out.line()
        out.block(item)
    for item in custom_items(custom, scalar, no_std):
        out.line()
        out.block(item)
    if config.emit_metadata_helpers:
        out.line()
        out.block(METADATA_STRUCT)
    for e in bodies:
        out.line()
        out.lines.extend(e.lines)
    return out.getvalue()


def generation_result(kernel: Kernel, source: str, config: RustTargetOptions) -> RustGenerationResult:
    """Bundle a named, allocated kernel and its module source."""
    return RustGenerationResult(
        source=source,
        signature=FunctionSignature.of(kernel, config.scalar_type),
        kernel=kernel,
        config=config,
        notes=constant_notes([kernel], config.scalar_type),
    )


def constant_notes(kernels: Sequence[Kernel], scalar: str) -> tuple[str, ...]:
    """One line per distinct constant (and norm order) of each kernel that does not survive
    conversion to ``scalar``: it overflows to infinity, underflows to zero or loses precision
    as a subnormal. Empty for ``f64``."""
    notes: list[str] = []
    if scalar_type(scalar).bits == 64:
        return ()  # every constant is an f64 already
    for kernel in kernels:
        named = find_rust_names(kernel)
        fn = named.function if named is not None else kernel.name
        seen: set[float] = set()
        for op, attr in zip(kernel.ops, kernel.attrs, strict=True):
            if op is Op.CONST or op is Op.NORM_P or op is Op.NORM_P_TO_P:
                value = float(attr)
                loss = conversion_loss(value, scalar) if value not in seen else None
                seen.add(value)
                if loss is not None:
                    notes.append(f"the constant {value!r} in {fn!r} {loss}")
    return tuple(notes)
