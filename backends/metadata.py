"""Per-kernel sizes of a generated crate: Rust ``pub const`` items and ``metadata.json``.

For every generated function ``name`` the crate exposes (``NAME`` is ``name`` in upper case)::

    pub const NAME_WORK_SIZE: usize = ..;   // minimum length of the workspace slice
    pub const NAME_<ARG>_SIZE: usize = ..;  // exact length of each input and output slice

where ``<ARG>`` is the Rust argument name in upper case, and for each sparse output of its
signature (a sparse Hessian or Jacobian, see :mod:`passes.sparsity`) ``<P>NNZ: usize``, ``<P>COL_POINTERS:
[usize; n + 1]`` and ``<P>ROW_INDICES: [usize; NNZ]`` (``<P>`` is the output's constant prefix).
Everything is read from the functions' :class:`~backends.signature.FunctionSignature`. Two
constants that would get the same name are an :class:`~ir.errors.InvalidNameError` naming
both, raised before anything is written.
``metadata.json`` (written beside ``Cargo.toml``) records the crate name, the backend mode, the
scalar type and, per function, its signature (argument names, sizes and scalar flags, workspace
size, sparse output patterns).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from .config import RustTargetOptions
from .emitter import INDENT, MAX_WIDTH, Array, Emitter, emit_assign, emit_field, emit_fn_header
from .names import Namespace
from .signature import FunctionSignature, SparseOutput

#: version of the metadata.json layout
METADATA_FORMAT = 1
#: a constant: (name, doc comment, value); an int is a ``usize``, a sequence a ``[usize; N]``
Constant: TypeAlias = tuple[str, str, "int | Sequence[int]"]


def usize_item(name: str, value: int | Sequence[int]) -> str:
    """``pub const name: usize = value;`` or ``pub const name: [usize; N] = [...];`` laid out
    as ``rustfmt --edition 2021`` prints it: an array of at most 60 columns stays on one line
    (after ``=``, or on the next line when the declaration is too long), a longer one becomes a
    block with the elements four spaces in, as many per line as fit in 100 columns; the type
    goes to the next line when ``pub const NAME: T =`` is too long."""
    e = Emitter()
    rhs: str | Array
    if isinstance(value, int):
        ty, rhs = "usize", str(value)
    else:
        items = tuple(str(int(v)) for v in value)
        ty, rhs = f"[usize; {len(items)}]", Array(items, borrowed=False)
    if len(f"pub const {name}: {ty} =") <= MAX_WIDTH:
        emit_assign(e, f"pub const {name}: {ty} = ", rhs)
    else:  # rustfmt moves the type to the next line
        e.line(f"pub const {name}:")
        e.level += 1
        emit_assign(e, f"{ty} = ", rhs)
    return e.getvalue().rstrip("\n")


def _pattern_constants(fn: str, s: SparseOutput) -> list[Constant]:
    where = f"the sparse {s.pattern.matrix} `{s.output}` of [`{fn}`]"
    arg, p, names = s.output, s.pattern, s.constants()
    return [
        (names["nnz"], f"Number of structural nonzeros of {where} (the length of `{arg}`).", p.nnz),
        (
            names["col_pointers"],
            f"Compressed-column pointers of {where}: column `j` holds `{arg}[p[j]..p[j + 1]]`.",
            p.indptr,
        ),
        (names["row_indices"], f"Row index of each value of {where}, column by column.", p.indices),
    ]


def rust_constants(kernels: Sequence[FunctionSignature]) -> dict[str, str]:
    """Per Rust function name, the ``pub const`` items giving its sizes, then the pattern of each
    of its sparse outputs, each with a doc comment (rustfmt layout). Constant names are checked
    for collisions across all kernels."""
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
            lines += [f"/// {doc}", usize_item(name, value)]
        for name, doc, data in [c for sp in k.sparse_outputs for c in _pattern_constants(fn, sp)]:
            taken.claim(name, f"the constant {name} of {fn!r}")
            lines += [f"/// {doc}", usize_item(name, data)]
        blocks[fn] = "\n".join(lines) + "\n"
    return blocks


def metadata(
    crate_name: str,
    config: RustTargetOptions,
    kernels: Sequence[FunctionSignature],
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The content of ``metadata.json``; ``extra[function_name]`` adds the caller's facts per
    function (such as what the builder was asked for)."""
    functions = []
    for k in kernels:
        entry = k.as_json()
        functions.append({"name": k.function_name, **(extra or {}).get(k.function_name, {}), **entry})
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


#: the struct every ``<function>_meta()`` returns (emitted once per module when asked for)
METADATA_STRUCT = """/// Names and sizes of the arguments of a generated function (see its `_meta` function).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionMetadata {
    /// Rust name of the function.
    pub function_name: &'static str,
    /// Minimum length of the workspace slice.
    pub workspace_size: usize,
    /// Names of the input slices, in argument order.
    pub input_names: &'static [&'static str],
    /// Exact length of each input slice.
    pub input_sizes: &'static [usize],
    /// Names of the output slices, in argument order.
    pub output_names: &'static [&'static str],
    /// Exact length of each output slice.
    pub output_sizes: &'static [usize],
}
"""


def array_field(name: str, items: Sequence[str], indent: str = "        ") -> list[str]:
    """``name: &[a, b],`` inside a struct literal as rustfmt lays it out (``indent`` is the
    field's indentation)."""
    e = Emitter()
    e.level = len(indent) // len(INDENT)
    emit_field(e, name, Array(tuple(items)))
    return e.lines


def meta_function(k: FunctionSignature) -> str:
    """``pub fn <function>_meta() -> FunctionMetadata`` for one generated function."""
    fn = k.function_name
    e = Emitter()
    e.line(f"/// Names and sizes of the arguments of [`{fn}`].")
    emit_fn_header(e, "pub ", f"{fn}_meta", (), " -> FunctionMetadata")
    e.line("FunctionMetadata {")
    emit_field(e, "function_name", f'"{fn}"')
    e.line(f"workspace_size: {k.workspace_size},")
    e.lines += array_field("input_names", [json.dumps(a.name) for a in k.inputs])
    e.lines += array_field("input_sizes", [str(a.size) for a in k.inputs])
    e.lines += array_field("output_names", [json.dumps(a.name) for a in k.outputs])
    e.lines += array_field("output_sizes", [str(a.size) for a in k.outputs])
    e.line("}")
    e.line("}")
    return e.getvalue()
