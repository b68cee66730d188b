"""Name sanitization: choose the Rust identifiers of a kernel (its ``rust_names`` note).

The function name is the explicit override (validated strictly) or the sanitized kernel name.
Input and output argument names are sanitized through one :class:`backends.names.Namespace` per
function that reserves the ABI names (``work``, ``_work``), the module-scope helper functions,
``GradgenError``, the crate roots ``core``/``std``/``libm``, the scalar types and the other
kernels of the crate, so two Python names collapsing to one identifier, or an argument named
like an ABI name, is an :class:`~backends.errors.InvalidNameError` naming both original strings.
The local-variable prefix and the chunk-function prefix are chosen so that no generated name can
collide with an argument or another module-scope function. The workspace argument is named
``_work`` when the kernel needs no workspace (it is unused then).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

from gradgen.ir.errors import VerificationError
from gradgen.ir.kernel import Kernel

from .names import Namespace, NameTable, sanitize, validate_explicit, with_rust_names
from .rust_custom import kernel_item_names
from .scalars import SCALAR_TYPES

#: names in every generated module besides the kernels and the helpers
MODULE_NAMES: dict[str, str] = {
    "GradgenError": "the error type 'GradgenError'",
    "FunctionMetadata": "the struct 'FunctionMetadata'",
    "core": "the crate root 'core'",
    "std": "the crate root 'std'",
    "libm": "the crate 'libm'",
    **{s: f"the scalar type {s!r}" for s in SCALAR_TYPES},
}

LOCAL_PREFIXES: tuple[str, ...] = ("w", "w_", "t", "tmp", "local")


def _numbered(prefix: str, names: Iterable[str]) -> bool:
    """True when some name is ``prefix`` followed by digits."""
    pattern = re.compile(re.escape(prefix) + r"[0-9]+")
    return any(pattern.fullmatch(n) for n in names)


@attrs.frozen
class SanitizePass:
    """Note the kernel's :class:`NameTable`; ``other_kernels`` are the Rust names of the crate's
    other kernels. A backend pass: it satisfies the pass protocol structurally."""

    function_name: str | None = None
    helper_names: tuple[str, ...] = ()
    other_kernels: tuple[str, ...] = ()
    name: str = "sanitize"
    #: names a staged kernel (ir.staged) as well as a straight-line one
    accepts_staged: bool = True

    def run(self, kernel: Kernel) -> Kernel:
        return with_rust_names(kernel, self.names_for(kernel))

    def names_for(self, kernel: Kernel) -> NameTable:
        explicit = self.function_name is not None
        if explicit:
            function = validate_explicit("function name", self.function_name)
            fn_source = f"the explicit function name {function!r}"
        else:
            function = sanitize(kernel.name)
            fn_source = f"function name {kernel.name!r}"
        helpers = (*self.helper_names, *kernel_item_names(kernel))
        module = Namespace(dict(MODULE_NAMES))
        for h in helpers:
            if h not in module:
                module.claim(h, f"the helper function {h!r}")
        for k in self.other_kernels:
            if k not in module:
                module.claim(k, f"the generated function {k!r}")
        module.claim(function, fn_source)

        scope = Namespace(
            {
                "work": "the workspace argument 'work'",
                "_work": "the workspace argument '_work'",
                **MODULE_NAMES,
                **{h: f"the helper function {h!r}" for h in helpers},
                **{k: f"the generated function {k!r}" for k in self.other_kernels},
            }
        )
        inputs = [scope.claim(sanitize(p.name), f"input {p.name!r}") for p in kernel.inputs]
        outputs = [scope.claim(sanitize(p.name), f"output {p.name!r}") for p in kernel.outputs]
        args = inputs + outputs
        local_prefix = next(p for p in LOCAL_PREFIXES if not _numbered(p, args))
        # chunk functions are called from the public function, where arguments are in scope
        module_names = [*helpers, *self.other_kernels, *MODULE_NAMES, *args]
        chunk_prefix = f"{function}_chunk"
        while _numbered(chunk_prefix, module_names) or chunk_prefix in module_names:
            chunk_prefix += "_"
        alloc = kernel.allocation
        if alloc is None:
            raise VerificationError(
                f"kernel {kernel.name!r}: the sanitize pass must run after workspace allocation"
            )
        return NameTable(
            function=function,
            inputs=inputs,
            outputs=outputs,
            work="work" if alloc.workspace_size > 0 else "_work",
            local_prefix=local_prefix,
            chunk_prefix=chunk_prefix,
            explicit_function=explicit,
        )
