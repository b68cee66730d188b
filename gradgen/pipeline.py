"""The code generation pipeline, assembled in one place for ``generate_rust``, the builder and the
dump tool: the simplification passes of a level (``passes.pipelines``), then scheduling and
workspace allocation, then the Rust backend's sanitize pass, which names the kernel.

A staged kernel (:mod:`ir.staged`) is compiled as a module: each kernel it calls goes through
the pipeline above (named ``<function>_<callee>``, private helpers of the crate, each compiled
once per crate: :class:`ModuleHelpers`), then the staged kernel itself through the layout pass
(``passes.staging``) and the sanitize pass."""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence

from gradgen.backends.names import find_rust_names, name_part, sanitize
from gradgen.backends.rust_ops import helper_names
from gradgen.backends.sanitize import SanitizePass
from gradgen.ir.kernel import Kernel
from gradgen.ir.kernel_key import content_key
from gradgen.ir.staged import module_of, replace_callees
from gradgen.passes.allocate import DEFAULT_MAX_CHUNK
from gradgen.passes.manager import Pass, PassCallback, PassManager
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
    helpers: ModuleHelpers | None = None,
) -> Kernel:
    """Run the code generation pipeline of ``config``'s simplification level on ``kernel``.
    The kernels a staged ``kernel`` calls are compiled into ``helpers``, the helper table of
    the module being generated (one of its own when ``None``): pass the same table for every
    kernel of one crate so each shared helper is compiled and printed once."""
    if kernel.steps:
        return _compile_staged(kernel, config, function_name, other_kernels, callback, max_chunk, helpers)
    passes = codegen_pipeline(config.simplification, function_name, other_kernels, max_chunk)
    return PassManager(passes, callback=callback).run(kernel)


class ModuleHelpers:
    """The private helpers of one module (one crate): every kernel a staged kernel calls is
    compiled once per content (:func:`ir.kernel_key.content_key`, with the simplification level
    and chunk size), however many staged kernels of the module call it, and named once.

    A helper is named ``<function>_<callee>`` after the first staged function of the module that
    calls it, numbered (``_1``, ``_2``, ...) when that name is taken: by a generated function,
    another helper (two different stage kernels sharing a name), or a chunk function of one.
    The names depend only on the order in which the module's kernels are compiled."""

    def __init__(self, reserved: Sequence[str] = ()) -> None:
        self._taken: set[str] = set(reserved)
        self._chunk_prefixes: list[str] = []
        self._compiled: dict[Hashable, Kernel] = {}
        self._keys: dict[int, tuple[Kernel, Hashable]] = {}

    def reserve(self, names: Sequence[str]) -> None:
        self._taken.update(names)

    def key(self, kernel: Kernel, level: str | int, max_chunk: int) -> Hashable:
        return (content_key(kernel, self._keys), str(level), max_chunk)

    def get(self, key: Hashable) -> Kernel | None:
        return self._compiled.get(key)

    def name(self, function_name: str, callee: Kernel) -> str:
        """A fresh name for a helper of ``function_name`` compiling ``callee``."""
        base = f"{function_name}_{name_part(callee.name)}"
        name, i = base, 1
        while name in self._taken or any(
            re.fullmatch(re.escape(p) + "[0-9]+", name) for p in self._chunk_prefixes
        ):
            name, i = f"{base}_{i}", i + 1
        self._taken.add(name)
        return name

    def add(self, key: Hashable, compiled: Kernel) -> None:
        self._compiled[key] = compiled
        named = find_rust_names(compiled)
        if named is not None and compiled.allocation is not None and len(compiled.allocation.chunks) > 1:
            self._chunk_prefixes.append(named.chunk_prefix)

    @property
    def taken(self) -> tuple[str, ...]:
        return tuple(sorted(self._taken))


def _compile_staged(
    kernel: Kernel,
    config: RustBackendConfig,
    function_name: str | None,
    other_kernels: Sequence[str],
    callback: PassCallback | None,
    max_chunk: int,
    helpers: ModuleHelpers | None,
) -> Kernel:
    entry = function_name if function_name is not None else sanitize(kernel.name)
    table = helpers if helpers is not None else ModuleHelpers()
    table.reserve((*other_kernels, entry))
    level = config.simplification
    compiled: dict[int, Kernel] = {}
    # the callees this kernel compiles (not in the table yet) are named first, together
    fresh: dict[int, tuple[Hashable, str]] = {}
    for callee in module_of([kernel])[:-1]:
        key = table.key(callee, level, max_chunk)
        hit = table.get(key)
        if hit is not None:
            compiled[id(callee)] = hit
        elif not any(k == key for k, _ in fresh.values()):
            fresh[id(callee)] = (key, table.name(entry, callee))
        else:  # the same content as another callee of this kernel
            fresh[id(callee)] = next(v for v in fresh.values() if v[0] == key)
    for callee in module_of([kernel])[:-1]:
        if id(callee) in compiled:
            continue
        key, name = fresh[id(callee)]
        hit = table.get(key)
        if hit is None:
            others = tuple(n for n in table.taken if n != name)
            ready = replace_callees(callee, compiled)
            passes = (
                [StageLayoutPass(), sanitize_pass(name, others)]
                if callee.steps
                else codegen_pipeline(level, name, others, max_chunk)
            )
            hit = PassManager(passes, callback=callback).run(ready)
            table.add(key, hit)
        compiled[id(callee)] = hit
    others = tuple(n for n in table.taken if n != entry)
    ready = replace_callees(kernel, compiled)
    return PassManager([StageLayoutPass(), sanitize_pass(function_name, others)], callback=callback).run(
        ready
    )
