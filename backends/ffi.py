"""The C ABI layer of a generated crate (cargo feature ``ffi``) and the shared-library wrapper crate.

:func:`render_ffi` prints ``src/ffi.rs``: one ``#[no_mangle] pub unsafe extern "C" fn NAME_ffi``
per generated function taking, in the order of the Rust function, a pointer and a length for
each input, each output and the workspace, and returning an ``i32`` status:

* ``0`` success;
* ``INPUT_LENGTH + k`` (100000 + k): input ``k`` has the wrong length;
* ``OUTPUT_LENGTH + k`` (200000 + k): output ``k`` has the wrong length;
* ``WORKSPACE_LENGTH`` (300000): the workspace is too short;
* ``NULL_POINTER + k`` (400000 + k): slice ``k`` (inputs, then outputs, then the workspace) is a
  null pointer with a nonzero length;
* ``ARGUMENT_COUNT`` (-1): the arrays of ``NAME_ffi_array`` are null or not of the function's
  slice count;
* ``UNKNOWN_ARGUMENT`` (-2): the Rust function named an argument the wrapper does not know (the
  generated code never does).

The families are :data:`STATUS_SPACING` apart and an index ``k`` is always below it: a function
has at most :data:`MAX_SLICES` slices (inputs, outputs and the workspace), and
:func:`check_encodable` refuses one with more (:class:`~backends.errors.CAbiLimitError`) before
anything is rendered or written, so every code names exactly one family and one slice.
:data:`STATUS_CODES` is the one table of the codes: ``ffi.rs`` declares its constants from it
and :func:`decode_status` (used by ``gradgen.compile``) reads it back.

Each function also gets ``NAME_ffi_array(ptrs, lens, count)``: the same call with the pointers and
lengths of its ``count`` slices (inputs, outputs, workspace) passed as two arrays, so a function
with any number of arguments can be called from C foreign-function interfaces that limit the
argument count (``ctypes`` takes at most 1024); ``gradgen.compile`` calls it.

Lengths are checked by the Rust function itself (its ``GradgenError`` is mapped to the code), so
nothing is written when a length is wrong and nothing can panic. The module is the only place
with unsafe code: the crate root keeps ``forbid(unsafe_code)`` when the feature is off (see
:data:`ROOT_ATTRIBUTES`).

:func:`wrapper_crate` renders the small ``cdylib`` crate that ``gradgen.compile`` builds: it
depends on the generated crate by path with ``features = ["ffi"]`` and re-exports its C ABI, so
the generated crate stays ``no_std`` (the wrapper links ``std``, which provides the panic
handler a ``no_std`` ``cdylib`` would otherwise need) and is never built as a shared library
itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import attrs

from .emitter import (
    Array,
    Call,
    Emitter,
    Match,
    emit_assign,
    emit_fn_header,
    emit_statement,
)
from .errors import CAbiLimitError
from .names import Namespace
from .signature import FunctionSignature

#: suffix of the exported C symbol of each generated function
SYMBOL_SUFFIX = "_ffi"
#: suffix of its variant taking the slices as arrays of pointers and lengths
ARRAY_SYMBOL_SUFFIX = "_ffi_array"
#: distance between two families of status codes: ``FAMILY + k`` for slice ``k < STATUS_SPACING``
STATUS_SPACING = 100_000
#: the most slices (inputs, outputs and the workspace) a function's C ABI can number
MAX_SLICES = STATUS_SPACING
#: the status codes, as in the generated ``ffi.rs``
OK = 0
INPUT_LENGTH = 1 * STATUS_SPACING
OUTPUT_LENGTH = 2 * STATUS_SPACING
WORKSPACE_LENGTH = 3 * STATUS_SPACING
NULL_POINTER = 4 * STATUS_SPACING
ARGUMENT_COUNT = -1
#: the status when the Rust error names an argument the wrapper does not know (cannot happen)
UNKNOWN_ARGUMENT = -2


@attrs.frozen
class StatusCode:
    """One constant of ``ffi.rs``: its name, value, documentation and, for a family
    ``value + k``, what its index ``k`` numbers (``None`` for a single code)."""

    name: str
    value: int
    doc: str
    family: str | None = None


#: every status code: ``ffi.rs`` declares these constants, :func:`decode_status` reads them
STATUS_CODES: tuple[StatusCode, ...] = (
    StatusCode("OK", OK, "Status of a successful call."),
    StatusCode(
        "INPUT_LENGTH",
        INPUT_LENGTH,
        "Input `k` has the wrong length: the status is `INPUT_LENGTH + k`.",
        "input",
    ),
    StatusCode(
        "OUTPUT_LENGTH",
        OUTPUT_LENGTH,
        "Output `k` has the wrong length: the status is `OUTPUT_LENGTH + k`.",
        "output",
    ),
    StatusCode("WORKSPACE_LENGTH", WORKSPACE_LENGTH, "The workspace is shorter than required."),
    StatusCode(
        "NULL_POINTER",
        NULL_POINTER,
        "Slice `k` is a null pointer with a nonzero length: the status is `NULL_POINTER + k`.",
        "slice",
    ),
    StatusCode(
        "ARGUMENT_COUNT",
        ARGUMENT_COUNT,
        "The arrays given to a `NAME_ffi_array` function are null or have the wrong length.",
    ),
    StatusCode(
        "UNKNOWN_ARGUMENT",
        UNKNOWN_ARGUMENT,
        "The function reported an argument this module does not know (generated code never does).",
    ),
)
#: attributes of the crate root: no unsafe code at all without the feature, only in ``ffi`` with it
ROOT_ATTRIBUTES = (
    '#![cfg_attr(not(feature = "ffi"), forbid(unsafe_code))]',
    '#![cfg_attr(feature = "ffi", deny(unsafe_code))]',
)
#: the declaration of the module in the crate root
MOD_DECLARATION = ('#[cfg(feature = "ffi")]', "#[allow(unsafe_code)]", "pub mod ffi;")
#: version of this ABI; part of the build cache key
ABI_VERSION = 3


#: a signature from Rust names and lengths (see ``FunctionSignature.from_sizes``)
FfiFunction = FunctionSignature.from_sizes


def symbol(f: FunctionSignature) -> str:
    """The exported C symbol of the generated function ``f``."""
    return f.function_name + SYMBOL_SUFFIX


def array_symbol(f: FunctionSignature) -> str:
    """The exported C symbol of ``f`` taking its slices as arrays (``NAME_ffi_array``)."""
    return f.function_name + ARRAY_SYMBOL_SUFFIX


def slice_count(f: FunctionSignature) -> int:
    """The number of slices of ``f``'s C functions: its inputs, its outputs and the workspace."""
    return len(f.inputs) + len(f.outputs) + 1


_HEADER = f"""//! C ABI of the generated functions (cargo feature `ffi`). Generated by gradgen; do not edit.
//!
//! Each `NAME_ffi` function takes, in the order of the Rust function `NAME`, a pointer and a
//! length for every input, every output and the workspace, and returns a status code: `0` on
//! success, [`INPUT_LENGTH`]` + k` or [`OUTPUT_LENGTH`]` + k` when input or output `k` has the
//! wrong length, [`WORKSPACE_LENGTH`] when the workspace is too short, and [`NULL_POINTER`]` + k`
//! when slice `k` (inputs, then outputs, then the workspace) is null with a nonzero length. The
//! families are [`STATUS_SPACING`] apart and `k` is always below it (gradgen refuses a function
//! with more slices), so a positive status is the family `status - status % STATUS_SPACING` and
//! the index `status % STATUS_SPACING`. Nothing is written when the status is not `0`. Each
//! `NAME_ffi_array` function makes the same call with the pointers and lengths of the slices
//! passed as two arrays of `count` values (for callers that limit the number of arguments); it
//! returns [`ARGUMENT_COUNT`] when an array is null or `count` is not the function's number of
//! slices.

use crate::GradgenError;

CONSTANTS
/// Distance between two families of codes: the index `k` in `FAMILY + k` is below it.
pub const STATUS_SPACING: i32 = {STATUS_SPACING:_};

/// The status of a call that returned `result`; `inputs` and `outputs` are the argument names.
fn status(result: Result<(), GradgenError>, inputs: &[&str], outputs: &[&str]) -> i32 {{
    match result {{
        Ok(()) => OK,
        Err(GradgenError::InputLength {{ argument, .. }}) => coded(INPUT_LENGTH, inputs, argument),
        Err(GradgenError::OutputLength {{ argument, .. }}) => coded(OUTPUT_LENGTH, outputs, argument),
        Err(GradgenError::WorkspaceLength {{ .. }}) => WORKSPACE_LENGTH,
    }}
}}

/// `family + k` for the index `k` of `name` in `names`, or [`UNKNOWN_ARGUMENT`] when `name` is
/// absent (which the generated code never causes).
fn coded(family: i32, names: &[&str], name: &str) -> i32 {{
    names
        .iter()
        .position(|candidate| *candidate == name)
        .and_then(|index| i32::try_from(index).ok())
        .filter(|index| *index < STATUS_SPACING)
        .map_or(UNKNOWN_ARGUMENT, |index| family + index)
}}
"""
_HEADER = _HEADER.replace(
    "CONSTANTS\n",
    "".join(f"/// {c.doc}\npub const {c.name}: i32 = {c.value:_};\n" for c in STATUS_CODES),
)


def decode_status(status: int) -> tuple[StatusCode, int | None] | None:
    """The :data:`STATUS_CODES` entry a status stands for and, for a family, the slice index
    ``k`` it names; ``None`` for a status the C ABI never returns."""
    for code in STATUS_CODES:
        if code.family is None and status == code.value:
            return code, None
    family, index = divmod(status, STATUS_SPACING)
    for code in STATUS_CODES:
        if code.family is not None and code.value == family * STATUS_SPACING:
            return code, index
    return None


def check_slice_count(name: str, n_inputs: int, n_outputs: int) -> None:
    """Refuse (:class:`~backends.errors.CAbiLimitError`) a function ``name`` whose slices (its
    inputs, outputs and the workspace) the status codes cannot number: more than
    :data:`MAX_SLICES`."""
    n = n_inputs + n_outputs + 1
    if n > MAX_SLICES:
        raise CAbiLimitError(
            f"function {name!r} has {n:,} slices ({n_inputs:,} input(s), {n_outputs:,} output(s) and "
            f"the workspace); its C ABI numbers at most {MAX_SLICES:,} in its status codes "
            f"(FAMILY + k with k < {STATUS_SPACING:,}): group scalar arguments into vector inputs "
            "and outputs"
        )


def check_encodable(functions: Sequence[FunctionSignature]) -> None:
    """:func:`check_slice_count` of each of ``functions``."""
    for f in functions:
        check_slice_count(f.function_name, len(f.inputs), len(f.outputs))


_INPUT_HELPER = """
/// The slice behind `ptr`, or `None` for a null pointer with a nonzero length.
///
/// # Safety
///
/// A non-null `ptr` must be valid for reading `len` values that are not written during the call.
unsafe fn input<'a>(ptr: *const SCALAR, len: usize) -> Option<&'a [SCALAR]> {
    if ptr.is_null() {
        return if len == 0 { Some(&[]) } else { None };
    }
    Some(core::slice::from_raw_parts(ptr, len))
}
"""

_OUTPUT_HELPER = """
/// The mutable slice behind `ptr`, or `None` for a null pointer with a nonzero length.
///
/// # Safety
///
/// A non-null `ptr` must be valid for writing `len` values that nothing else accesses during the
/// call.
unsafe fn output<'a>(ptr: *mut SCALAR, len: usize) -> Option<&'a mut [SCALAR]> {
    if ptr.is_null() {
        return if len == 0 { Some(&mut []) } else { None };
    }
    Some(core::slice::from_raw_parts_mut(ptr, len))
}
"""


def _sizes(names: Sequence[str], sizes: Sequence[int]) -> str:
    return ", ".join(f"`{n}` ({s})" for n, s in zip(names, sizes, strict=True)) or "none"


def _wrapper(e: Emitter, f: FunctionSignature, scalar: str) -> None:
    ns = Namespace()
    slices = list(f.input_names) + list(f.output_names) + ["work"]
    for n in slices:
        ns.claim(n, f"argument {n!r}")
    lengths = []
    for n in slices:
        cand, i = f"{n}_len", 1
        while cand in ns:
            cand, i = f"{n}_len_{i}", i + 1
        lengths.append(ns.claim(cand, f"length of {n!r}"))
    n_in = len(f.input_names)
    work = f"at least {f.workspace_size}" if f.workspace_size else "any (unused)"
    e.line(f"/// C ABI of [`crate::{f.function_name}`].")
    e.line("///")
    e.line(f"/// Inputs (lengths): {_sizes(f.input_names, f.input_sizes)}.")
    e.line(f"/// Outputs (lengths): {_sizes(f.output_names, f.output_sizes)}.")
    e.line(f"/// Workspace length: {work}.")
    e.line("///")
    e.line("/// Returns the status code described in the module documentation.")
    e.line("///")
    e.line("/// # Safety")
    e.line("///")
    e.line("/// Every pointer is either null with length 0 or valid for its length: for reading (inputs)")
    e.line("/// or writing (outputs, workspace). Outputs and the workspace must not overlap any other")
    e.line("/// argument.")
    params = []
    for k, (n, ln) in enumerate(zip(slices, lengths, strict=True)):
        ptr = "*const" if k < n_in else "*mut"
        params += [f"{n}: {ptr} {scalar}", f"{ln}: usize"]
    e.line("#[no_mangle]")
    if len(params) > 7:
        e.line("#[allow(clippy::too_many_arguments)]")
    emit_fn_header(e, 'pub unsafe extern "C" ', symbol(f), params, " -> i32")
    for k, (n, ln) in enumerate(zip(slices, lengths, strict=True)):
        code = "NULL_POINTER" if k == 0 else f"NULL_POINTER + {k}"
        helper = "self::input" if k < n_in else "self::output"
        arms = ("Some(slice) => slice,", f"None => return {code},")
        emit_assign(e, f"let {n} = ", Match(Call(helper, (n, ln)), arms))
    emit_assign(e, "let result = ", Call(f"crate::{f.function_name}", tuple(slices)))
    ins = Array(tuple(f'"{n}"' for n in f.input_names))
    outs = Array(tuple(f'"{n}"' for n in f.output_names))
    emit_statement(e, Call("self::status", ("result", ins, outs)), "")  # the tail expression
    e.line("}")


def _array_wrapper(e: Emitter, f: FunctionSignature, scalar: str) -> None:
    n = slice_count(f)
    e.line(f"/// [`{symbol(f)}`] with the pointers and lengths of its {n} slices (inputs, outputs,")
    e.line("/// workspace) passed as the arrays `ptrs` and `lens` of `count` values each.")
    e.line("///")
    e.line("/// Returns [`ARGUMENT_COUNT`] when `ptrs` or `lens` is null or `count` is not")
    e.line(f"/// {n}, else the status of [`{symbol(f)}`].")
    e.line("///")
    e.line("/// # Safety")
    e.line("///")
    e.line("/// Non-null `ptrs` and `lens` are valid, aligned arrays of `count` values, and the slices")
    e.line(f"/// they describe satisfy the requirements of [`{symbol(f)}`].")
    e.line("#[no_mangle]")
    params = [f"ptrs: *const *mut {scalar}", "lens: *const usize", "count: usize"]
    emit_fn_header(e, 'pub unsafe extern "C" ', array_symbol(f), params, " -> i32")
    e.line(f"if ptrs.is_null() || lens.is_null() || count != {n} {{")
    e.line("return ARGUMENT_COUNT;")
    e.line("}")
    emit_assign(e, "let ptr = ", f"&*ptrs.cast::<[*mut {scalar}; {n}]>()")
    emit_assign(e, "let len = ", f"&*lens.cast::<[usize; {n}]>()")
    args: list[str] = []
    for k in range(n):
        args += [f"ptr[{k}]", f"len[{k}]"]
    emit_statement(e, Call(symbol(f), tuple(args)), "")  # the tail expression
    e.line("}")


def render_ffi(functions: Sequence[FunctionSignature], scalar: str) -> str:
    """The source of ``src/ffi.rs`` for ``functions`` (all of one crate, scalar ``f64``/``f32``);
    :func:`check_encodable` first."""
    check_encodable(functions)
    out = Emitter()
    out.block(_HEADER)
    if any(f.input_names for f in functions):
        out.block(_INPUT_HELPER.replace("SCALAR", scalar))
    out.block(_OUTPUT_HELPER.replace("SCALAR", scalar))
    for f in functions:
        out.line()
        _wrapper(out, f, scalar)
        out.line()
        _array_wrapper(out, f, scalar)
    return out.getvalue()


def _toml_string(text: str) -> str:
    """A TOML basic string (JSON escaping is valid TOML for the characters paths contain)."""
    return json.dumps(text, ensure_ascii=False)


def wrapper_crate(name: str, crate_name: str, crate_path: str) -> dict[str, str]:
    """The files (relative path -> text) of the ``cdylib`` crate ``name`` that re-exports the C
    ABI of the generated crate ``crate_name`` found at ``crate_path``."""
    cargo = (
        f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\npublish = false\n\n'
        '[lib]\ncrate-type = ["cdylib"]\npath = "src/lib.rs"\n\n'
        f'[dependencies]\n{crate_name} = {{ path = {_toml_string(crate_path)}, features = ["ffi"] }}\n\n'
        '[profile.release]\npanic = "abort"\n\n'
        "# not part of any enclosing workspace\n[workspace]\n"
    )
    lib = (
        f"//! Shared library exporting the C ABI of `{crate_name}` (built by `gradgen.compile`).\n"
        f"pub use {crate_name}::ffi::*;\n"
    )
    return {"Cargo.toml": cargo, "src/lib.rs": lib}


#: the ``[features]`` table declaring the C ABI feature
FEATURES_TOML = "\n[features]\nffi = []\n"
_FORBID = "#![forbid(unsafe_code)]"


def enable_ffi_root(source: str) -> str:
    """The crate root ``source`` (as printed by ``backends.rust_module.emit_module``) with the feature's
    attributes: ``forbid(unsafe_code)`` becomes :data:`ROOT_ATTRIBUTES` and the module
    declaration follows the inner attributes. A root that already declares the module is returned
    unchanged; a root without the ``forbid`` line is refused (``ValueError``)."""
    lines = source.split("\n")
    if MOD_DECLARATION[-1] in lines:
        return source
    if lines.count(_FORBID) != 1:
        raise ValueError("the crate root does not start with the gradgen header")
    at = lines.index(_FORBID)
    lines[at : at + 1] = list(ROOT_ATTRIBUTES)
    end = at + len(ROOT_ATTRIBUTES)
    while end < len(lines) and lines[end].startswith("#!["):
        end += 1
    lines[end:end] = ["", *MOD_DECLARATION]
    return "\n".join(lines)


def enable_ffi_manifest(cargo_toml: str) -> str:
    """``Cargo.toml`` with the ``ffi`` feature declared (unchanged if it already is); a manifest
    with another ``[features]`` table is refused (``ValueError``)."""
    if "\nffi = []\n" in cargo_toml:
        return cargo_toml
    if "[features]" in cargo_toml:
        raise ValueError("Cargo.toml already has a [features] table without the ffi feature")
    return cargo_toml.rstrip("\n") + "\n" + FEATURES_TOML
