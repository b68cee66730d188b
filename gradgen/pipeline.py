"""The code generation pipeline, assembled in one place for ``generate_rust``, the builder and the
dump tool: the simplification passes of a level (``passes.pipelines``), then scheduling and
workspace allocation, then the Rust backend's sanitize pass, which names the kernel."""

from __future__ import annotations

from collections.abc import Sequence

from gradgen.backends.rust_ops import helper_names
from gradgen.backends.sanitize import SanitizePass
from gradgen.ir.kernel import Kernel
from gradgen.passes.allocate import DEFAULT_MAX_CHUNK
from gradgen.passes.manager import Pass, PassCallback, PassManager
from gradgen.passes.pipelines import codegen_passes, simplification_passes

from .config import RustBackendConfig


def sanitize_pass(function_name: str | None = None, other_kernels: Sequence[str] = ()) -> Pass:
    """The backend's naming pass, with the module's helper functions and ``other_kernels`` (the
    crate's other generated functions) reserved."""
    return SanitizePass(function_name, helper_names(), tuple(other_kernels))


def codegen_pipeline(
    level: str | int,
    function_name: str | None = None,
    other_kernels: Sequence[str] = (),
    max_chunk: int = DEFAULT_MAX_CHUNK,
) -> list[Pass]:
    """Every pass from a lowered kernel to one the Rust printer accepts (``max_chunk``
    statements at most per generated function)."""
    naming = sanitize_pass(function_name, other_kernels)
    return simplification_passes(level) + codegen_passes(naming, max_chunk)


def compile_kernel(
    kernel: Kernel,
    config: RustBackendConfig,
    function_name: str | None = None,
    other_kernels: Sequence[str] = (),
    callback: PassCallback | None = None,
    max_chunk: int = DEFAULT_MAX_CHUNK,
) -> Kernel:
    """Run the code generation pipeline of ``config``'s simplification level on ``kernel``."""
    passes = codegen_pipeline(config.simplification, function_name, other_kernels, max_chunk)
    return PassManager(passes, callback=callback).run(kernel)
