"""The code generation pipeline, assembled in one place for ``generate_rust``, the builder and the
dump tool: the simplification passes of a level (``passes.pipelines``), then scheduling and
workspace allocation, then the Rust backend's sanitize pass, which names the kernel.

A staged kernel (:mod:`ir.staged`) is compiled as a module: each kernel it calls goes through
the pipeline above (named ``<function>_<callee>``, private helpers of the crate), then the staged
kernel itself through the layout pass (``passes.staging``) and the sanitize pass."""

from __future__ import annotations

from collections.abc import Sequence

from gradgen.backends.names import sanitize
from gradgen.backends.rust_ops import helper_names
from gradgen.backends.sanitize import SanitizePass
from gradgen.ir.kernel import Kernel
from gradgen.ir.staged import module_of
from gradgen.passes.allocate import DEFAULT_MAX_CHUNK
from gradgen.passes.manager import Pass, PassCallback, PassManager, run_module
from gradgen.passes.pipelines import codegen_passes, simplification_passes
from gradgen.passes.staging import StageLayoutPass

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
    if kernel.steps:
        return _compile_staged(kernel, config, function_name, other_kernels, callback, max_chunk)
    passes = codegen_pipeline(config.simplification, function_name, other_kernels, max_chunk)
    return PassManager(passes, callback=callback).run(kernel)


def helper_function_names(kernel: Kernel, function_name: str, taken: Sequence[str] = ()) -> dict[int, str]:
    """The Rust name of every kernel a staged ``kernel`` calls (by identity):
    ``<function_name>_<callee>``, numbered when two callees would share it."""
    used = set(taken) | {function_name}
    names: dict[int, str] = {}
    for callee in module_of([kernel])[:-1]:
        base = f"{function_name}_{sanitize(callee.name)}"
        name, i = base, 1
        while name in used:
            name, i = f"{base}_{i}", i + 1
        used.add(name)
        names[id(callee)] = name
    return names


def _compile_staged(
    kernel: Kernel,
    config: RustBackendConfig,
    function_name: str | None,
    other_kernels: Sequence[str],
    callback: PassCallback | None,
    max_chunk: int,
) -> Kernel:
    entry = function_name if function_name is not None else sanitize(kernel.name)
    helpers = helper_function_names(kernel, entry, other_kernels)
    reserved = (*other_kernels, entry, *helpers.values())

    def pipeline(k: Kernel) -> list[Pass]:
        if k is kernel:
            others = tuple(n for n in reserved if n != entry)
            return [StageLayoutPass(), sanitize_pass(function_name, others)]
        name = helpers[id(k)]
        others = tuple(n for n in reserved if n != name)
        if k.steps:
            return [StageLayoutPass(), sanitize_pass(name, others)]
        return codegen_pipeline(config.simplification, name, others, max_chunk)

    return run_module([kernel], pipeline, callback=callback)[0]
