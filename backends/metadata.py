"""Per-kernel sizes of a generated crate: Rust ``pub const`` items and ``metadata.json``.

For every generated function ``name`` the crate exposes (``NAME`` is ``name`` in upper case)::

    pub const NAME_WORK_SIZE: usize = ..;   // minimum length of the workspace slice
    pub const NAME_<ARG>_SIZE: usize = ..;  // exact length of each input and output slice

where ``<ARG>`` is the Rust argument name in upper case. Callers may add further constants per
function (``extra`` of :func:`rust_constants`: a ``usize`` or a ``[usize; N]`` array, such as the
sparsity pattern of a sparse Hessian, see :mod:`passes.sparsity`). Two constants that would get the same
name are an :class:`~ir.errors.InvalidNameError` naming both, raised before anything is written.
``metadata.json`` (written beside ``Cargo.toml``) records the crate name, the backend mode, the
scalar type and, per function, its argument names and sizes and its workspace size.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import attrs

from gradgen.backends.names import Namespace, find_rust_names
from gradgen.ir.errors import VerificationError
from gradgen.ir.kernel import Kernel

from .config import RustTargetOptions

#: version of the metadata.json layout
METADATA_FORMAT = 1
#: rustfmt's default ``max_width`` and ``array_width`` (the widest array kept on one line)
_MAX_WIDTH = 100
_ARRAY_WIDTH = 60
#: an extra constant: (name, doc comment, value); an int is a ``usize``, a sequence a ``[usize; N]``
ExtraConstant: TypeAlias = tuple[str, str, "int | Sequence[int]"]


@attrs.frozen
class Argument:
    """One slice argument of a generated function: Rust name, user-facing name and length."""

    name: str
    source_name: str
    size: int

    def as_json(self, constant: str) -> dict[str, Any]:
        return {"name": self.name, "source_name": self.source_name, "size": self.size, "constant": constant}


@attrs.frozen
class KernelSizes:
    """The sizes of one compiled kernel, as exposed by the crate."""

    function_name: str
    inputs: tuple[Argument, ...]
    outputs: tuple[Argument, ...]
    workspace_size: int

    @classmethod
    def of(cls, kernel: Kernel) -> KernelSizes:
        """The sizes of a kernel that went through allocation and sanitization."""
        n = find_rust_names(kernel)
        if n is None or kernel.allocation is None:
            raise VerificationError(f"kernel {kernel.name!r} must be allocated and named first")
        return cls(
            function_name=n.function,
            inputs=tuple(Argument(r, p.name, p.size) for r, p in zip(n.inputs, kernel.inputs, strict=True)),
            outputs=tuple(
                Argument(r, p.name, p.size) for r, p in zip(n.outputs, kernel.outputs, strict=True)
            ),
            workspace_size=kernel.allocation.workspace_size,
        )

    def work_constant(self) -> str:
        return f"{self.function_name.upper()}_WORK_SIZE"

    def argument_constant(self, arg: Argument) -> str:
        return f"{self.function_name.upper()}_{arg.name.upper()}_SIZE"


def usize_item(name: str, value: int | Sequence[int]) -> str:
    """``pub const name: usize = value;`` or ``pub const name: [usize; N] = [...];`` laid out
    as ``rustfmt --edition 2021`` prints it: an array of at most 60 columns stays on one line
    (after ``=``, or on the next line when the declaration is too long), a longer one becomes a
    block with the elements four spaces in, as many per line as fit in 100 columns. Exact as long
    as ``pub const NAME: [usize; N] = [`` fits in 100 columns (names up to about 70 characters);
    beyond that rustfmt breaks inside the type and this layout differs from it."""
    if isinstance(value, int):
        return f"pub const {name}: usize = {value};"
    items = [str(int(v)) for v in value]
    head = f"pub const {name}: [usize; {len(items)}] = "
    array = f"[{', '.join(items)}]"
    if len(array) - 2 <= _ARRAY_WIDTH:  # the width of the elements, brackets excluded
        if len(head) + len(array) + 1 <= _MAX_WIDTH:
            return f"{head}{array};"
        return f"{head.rstrip()}\n    {array};"
    lines = [head + "["]
    single = f"    {', '.join(items)},"
    if len(single) <= _MAX_WIDTH:
        return "\n".join([*lines, single, "];"])
    line = "   "
    for item in items:
        # several lines: rustfmt keeps a column free on each of them
        if len(line) + len(item) + 2 >= _MAX_WIDTH:
            lines.append(line)
            line = "   "
        line += f" {item},"
    lines += [line, "];"]
    return "\n".join(lines)


def rust_constants(
    kernels: Sequence[KernelSizes], extra: Mapping[str, Sequence[ExtraConstant]] | None = None
) -> dict[str, str]:
    """Per Rust function name, the ``pub const`` items giving its sizes, each with a doc comment
    (rustfmt layout), followed by the ``extra`` constants of that function. Constant names are
    checked for collisions across all kernels."""
    taken = Namespace()
    blocks: dict[str, str] = {}
    for k in kernels:
        lines: list[str] = []
        fn = k.function_name
        items = [
            (
                k.work_constant(),
                f"Minimum length of the workspace slice of [`{fn}`].",
                k.workspace_size,
                f"the workspace size of {fn!r}",
            ),
        ]
        for role, args in (("input", k.inputs), ("output", k.outputs)):
            for a in args:
                items.append(
                    (
                        k.argument_constant(a),
                        f"Length of the {role} slice `{a.name}` of [`{fn}`].",
                        a.size,
                        f"the size of {role} {a.name!r} of {fn!r}",
                    )
                )
        for name, doc, value, source in items:
            taken.claim(name, f"the constant for {source}")
            lines += [f"/// {doc}", f"pub const {name}: usize = {value};"]
        for name, doc, data in (extra or {}).get(fn, ()):
            taken.claim(name, f"the constant {name} of {fn!r}")
            lines += [f"/// {doc}", usize_item(name, data)]
        blocks[fn] = "\n".join(lines) + "\n"
    return blocks


def scalar_flags(kernel: Kernel) -> dict[str, Any]:
    """Which arguments were declared scalars (a Python caller gets floats for them), as the
    ``scalar_inputs``/``scalar_outputs`` entries of a function in the metadata document."""
    return {
        "scalar_inputs": [p.scalar for p in kernel.inputs],
        "scalar_outputs": [p.scalar for p in kernel.outputs],
    }


def metadata(
    crate_name: str,
    config: RustTargetOptions,
    kernels: Sequence[KernelSizes],
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The content of ``metadata.json``; ``extra[function_name]`` adds builder facts per function."""
    functions = []
    for k in kernels:
        entry: dict[str, Any] = {"name": k.function_name}
        entry.update((extra or {}).get(k.function_name, {}))
        entry.update(
            {
                "inputs": [a.as_json(k.argument_constant(a)) for a in k.inputs],
                "outputs": [a.as_json(k.argument_constant(a)) for a in k.outputs],
                "workspace_size": k.workspace_size,
                "workspace_constant": k.work_constant(),
            }
        )
        functions.append(entry)
    return {
        "format": METADATA_FORMAT,
        "generator": "gradgen",
        "crate": crate_name,
        "backend_mode": config.backend_mode,
        "scalar_type": config.scalar_type,
        "functions": functions,
    }


def metadata_json(content: Mapping[str, Any]) -> str:
    """``content`` as deterministic, indented JSON with a final newline."""
    return json.dumps(content, indent=2, ensure_ascii=False) + "\n"
