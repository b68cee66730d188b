"""Rust for user-defined elementary functions (the ``CUSTOM`` operation).

A definition (``ir.custom.ElementaryDefinition``) brings Rust snippets that define module-scope
functions named after it (``T`` is the scalar type)::

    fn NAME(x: &[T], w: &[T]) -> T                      // rust_primal
    fn NAME_jacobian(x: &[T], w: &[T], out: &mut [T])   // rust_jacobian: out[i] = df/dx_i
    fn NAME_hessian(x: &[T], w: &[T], out: &mut [T])    // rust_hessian: out[i * n + j], row major
    fn NAME_hvp(x: &[T], w: &[T], v: &[T], out: &mut [T])  // rust_hvp: H v

Snippets are templates with these placeholders (spaces inside the braces are optional):
``{{ scalar_type }}`` (``f64`` or ``f32``), ``{{ backend_mode }}`` (``std`` or ``no_std``),
``{{ math_library }}`` (``libm`` in ``no_std`` crates, the scalar type in ``std`` crates) and
``{{ math_suffix }}`` (``f`` for ``no_std`` f32, else empty), so that
``{{ math_library }}::exp{{ math_suffix }}(t)`` is ``f64::exp(t)``, ``f32::exp(t)``,
``libm::exp(t)`` or ``libm::expf(t)``: the same snippet builds for every target (for functions
whose std and libm names agree). A kernel calls ``NAME(&[..], &[..])`` for the value. Derivative
entries are read from blocks (``ir.custom.derivative_block``), one call per point and block in
each function body, through wrappers emitted here that return fixed-size arrays (the kernel reads
them at constant indices, which cannot panic): ``NAME_jacobian_values(x, w) -> [T; n]``,
``NAME_hessian_values(x, w) -> [T; n * n]`` and, without a Hessian snippet,
``NAME_hessian_column(x, w, j) -> [T; n]`` (``NAME_hvp`` with the unit vector ``e_j``).
Every item is emitted once per crate, only when a kernel uses it, with an
``#[allow(..)]`` placed by gradgen on the user's functions (they are the user's code; the crate
stays clippy-clean whatever their style). :func:`check_definition` validates the name and every
snippet before anything is generated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from gradgen.ir.custom import (
    HESSIAN,
    HESSIAN_COLUMN,
    JACOBIAN,
    CustomCall,
    DerivativeBlock,
    ElementaryDefinition,
    derivative_block,
)
from gradgen.ir.kernel import Kernel
from gradgen.ir.ops import Op

from .emitter import Array, Call, Emitter, emit_call_statement, emit_fn_header
from .errors import BuildError, InvalidNameError, SnippetError
from .names import validate_explicit
from .rust_ops import helper_names

#: snippet kind -> suffix of the function it must define
SNIPPETS: dict[str, str] = {
    "rust_primal": "",
    "rust_jacobian": "_jacobian",
    "rust_hessian": "_hessian",
    "rust_hvp": "_hvp",
}
#: the key of module-scope Rust items the snippets share (emitted once, before them)
SUPPORT = "rust_support"
#: snippet kind -> the derivative order it provides
ORDERS: dict[str, int] = {"rust_primal": 0, "rust_jacobian": 1, "rust_hessian": 2, "rust_hvp": 2}


def code_of(snippets: dict[str, str | None]) -> tuple[tuple[tuple[str, str], ...], frozenset[int]]:
    """The ``code`` and ``code_orders`` of a definition from its snippets (``None``: absent)."""
    code = tuple((k, v) for k, v in snippets.items() if v is not None)
    return code, frozenset(ORDERS[k] for k, _ in code if k in ORDERS)


#: block kind -> suffix of the wrapper gradgen emits around the user's derivative function
BLOCK_WRAPPERS: dict[str, str] = {
    JACOBIAN: "_jacobian_values",
    HESSIAN: "_hessian_values",
    HESSIAN_COLUMN: "_hessian_column",
}
WRAPPERS: tuple[str, ...] = tuple(BLOCK_WRAPPERS.values())
PLACEHOLDERS: tuple[str, ...] = ("scalar_type", "backend_mode", "math_library", "math_suffix")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_ANY_TEMPLATE = re.compile(r"\{%|\{#")
_CHAR = re.compile(r"'(?:\\(?:u\{[0-9a-fA-F]{1,6}\}|x[0-9a-fA-F]{2}|.)|[^\\'\n])'")
#: what user functions are allowed to do that gradgen's own lints would reject
USER_ALLOW = "#[allow(unused_variables, clippy::all)]"


def item_names(name: str) -> tuple[str, ...]:
    """Every module-scope function a definition called ``name`` may add to a crate."""
    return tuple(name + suffix for suffix in (*SNIPPETS.values(), *WRAPPERS))


def render(text: str, scalar: str, no_std: bool) -> str:
    """A snippet or header with its placeholders replaced."""
    values = {
        "scalar_type": scalar,
        "backend_mode": "no_std" if no_std else "std",
        "math_library": "libm" if no_std else scalar,
        "math_suffix": "f" if no_std and scalar == "f32" else "",
    }
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def check_template(what: str, text: object) -> str:
    """A snippet or header: a string whose ``{{ .. }}`` are known placeholders and whose
    delimiters balance (outside comments, strings and character literals)."""
    if not isinstance(text, str):
        raise SnippetError(f"{what} must be a string of Rust code, got {type(text).__name__}")
    for m in _PLACEHOLDER.finditer(text):
        if m.group(1) not in PLACEHOLDERS:
            raise SnippetError(
                f"{what}: unknown placeholder {m.group(0)!r}; use one of "
                + ", ".join("{{ " + p + " }}" for p in PLACEHOLDERS)
            )
    if _ANY_TEMPLATE.search(_PLACEHOLDER.sub("", text)):
        raise SnippetError(
            f"{what}: Jinja statements and comments are not supported (only {{{{ placeholder }}}})"
        )
    _check_balanced(what, render(text, "f64", False))
    return text


def _check_balanced(what: str, text: str) -> None:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[tuple[str, int]] = []
    line, i, n = 1, 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    line += text[i] == "\n"
                    i += 1
            if depth:
                raise SnippetError(f"{what}: unterminated block comment")
            continue
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                line += text[i] == "\n"
                i += 2 if text[i] == "\\" else 1
            if i >= n:
                raise SnippetError(f"{what}: unterminated string literal")
        elif c == "'":
            m = _CHAR.match(text, i)
            if m:
                i = m.end()
                continue
        elif c in "([{":
            stack.append((c, line))
        elif c in ")]}":
            if not stack or stack[-1][0] != pairs[c]:
                raise SnippetError(f"{what}: unbalanced delimiters: unexpected {c!r} on line {line}")
            stack.pop()
        i += 1
    if stack:
        c, at = stack[-1]
        raise SnippetError(f"{what}: unbalanced delimiters: {c!r} opened on line {at} is never closed")


def _defines(text: str, fn: str) -> bool:
    return re.search(r"(?<![A-Za-z0-9_])fn\s+" + re.escape(fn) + r"\s*[(<]", text) is not None


def check_definition(d: ElementaryDefinition) -> None:
    """The definition's name is a Rust function name that no gradgen helper uses, and each of
    its snippets is a balanced template defining the function it must define."""
    validate_explicit("custom function name", d.name)
    helpers = set(helper_names())
    for item in item_names(d.name):
        if item in helpers:
            raise InvalidNameError(
                f"custom function name {d.name!r}: {item!r} is a gradgen helper function; choose another name"
            )
    for kind, suffix in SNIPPETS.items():
        text = d.snippet(kind)
        if text is None:
            continue
        what = f"custom function {d.name!r}: {kind}"
        check_template(what, text)
        if not _defines(text, d.name + suffix):
            raise SnippetError(f"{what} must define `fn {d.name + suffix}(...)`")
    support = d.snippet(SUPPORT)
    if support is not None:
        check_template(f"custom function {d.name!r}: support code", support)


def kernel_calls(kernel: Kernel) -> list[CustomCall]:
    """The distinct custom calls of a kernel, in instruction order."""
    seen: dict[CustomCall, None] = {}
    for op, attr in zip(kernel.ops, kernel.attrs, strict=True):
        if op is Op.CUSTOM:
            seen.setdefault(attr, None)
    return list(seen)


def kernel_item_names(kernel: Kernel) -> tuple[str, ...]:
    """The module-scope names the custom functions of ``kernel`` may define."""
    names: dict[str, None] = {}
    for call in kernel_calls(kernel):
        names.update(dict.fromkeys(item_names(call.definition.name)))
    return tuple(names)


def rust_block(call: CustomCall) -> tuple[DerivativeBlock, int]:
    """The block a derivative entry is read from in Rust and its index there: second partials
    come from the Hessian snippet when there is one, else from Hessian columns (``NAME_hvp``)."""
    return derivative_block(call, call.definition.snippet("rust_hessian") is not None)


def call_expr(call: CustomCall, x: str | Array, w: Sequence[str]) -> Call:
    """The Rust call computing the value ``call`` (part ``()``) on its printed ``x`` (a slice or
    an array literal) and ``w`` operands."""
    if call.part:
        raise BuildError(f"{call.label} is a derivative entry: read it from its block (block_expr)")
    return Call(call.definition.name, (x, Array(tuple(w))))


def block_expr(d: ElementaryDefinition, block: DerivativeBlock, x: str | Array, w: Sequence[str]) -> Call:
    """The Rust call returning the array of ``block`` of ``d`` on the printed ``x`` and ``w``."""
    args: tuple[str | Array, ...] = (x, Array(tuple(w)))
    if block.kind == HESSIAN_COLUMN:
        args += (str(block.column),)
    return Call(d.name + BLOCK_WRAPPERS[block.kind], args)


def _user_item(text: str, fns: Iterable[str], scalar: str, no_std: bool) -> str:
    """A user snippet, rendered, with gradgen's allow attribute before each of ``fns``."""
    out = render(text, scalar, no_std).strip("\n")
    for fn in fns:
        pattern = re.compile(r"^([ \t]*)((?:pub(?:\([^)]*\))?\s+)?fn\s+" + re.escape(fn) + r"\s*[(<])", re.M)
        out = pattern.sub(lambda m: f"{m.group(1)}{USER_ALLOW}\n{m.group(1)}{m.group(2)}", out, count=1)
    return out + "\n"


def _wrapper(doc: str, fn: str, params: Sequence[str], ret: str, body: Sequence[str | Call]) -> str:
    """A private wrapper function laid out as rustfmt prints it (``body``: lines and calls)."""
    e = Emitter()
    e.line(doc)
    emit_fn_header(e, "", fn, params, f" -> {ret}")
    for item in body:
        if isinstance(item, Call):
            emit_call_statement(e, item)
        else:
            e.line(item)
    e.line("}")
    return e.getvalue()


#: block kind -> the doc line of its values wrapper (``{name}``, ``{n}``), the snippet it calls
#: (``{name}_<part>``, the wrapper being ``{name}_<part>_values``) and its order: the block
#: holds ``n ** order`` values for ``n`` inputs
_BLOCK_VALUES: dict[str, tuple[str, str, int]] = {
    JACOBIAN: ("Every `d {name} / d x[i]`", "jacobian", 1),
    HESSIAN: ("Every `d2 {name} / d x[i] d x[j]` (at `i * {n} + j`)", "hessian", 2),
}


def _block_wrapper(name: str, n: int, scalar: str, kind: str) -> str:
    """The wrapper returning block ``kind`` of the function ``name`` (``n`` inputs) as an array."""
    params = (f"x: &[{scalar}]", f"w: &[{scalar}]")
    values = _BLOCK_VALUES.get(kind)
    if values is not None:
        doc, part, order = values
        size = n**order
        return _wrapper(
            f"/// {doc.format(name=name, n=n)}, from `{name}_{part}`.",
            f"{name}_{part}_values",
            params,
            f"[{scalar}; {size}]",
            (f"let mut out = [0.0; {size}];", Call(f"{name}_{part}", ("x", "w", "&mut out")), "out"),
        )
    return _wrapper(
        f"/// Column `j` of the Hessian of `{name}` (`H e_j`), from `{name}_hvp`.",
        f"{name}_hessian_column",
        (*params, "j: usize"),
        f"[{scalar}; {n}]",
        (
            f"let mut v = [0.0; {n}];",
            "if let Some(entry) = v.get_mut(j) {",
            "*entry = 1.0;",
            "}",
            f"let mut out = [0.0; {n}];",
            Call(f"{name}_hvp", ("x", "w", "&v", "&mut out")),
            "out",
        ),
    )


def custom_items(calls: Iterable[CustomCall], scalar: str, no_std: bool) -> list[str]:
    """The module-scope items for the custom calls of a crate: per definition (by name), its
    support code, the snippets of the parts used and the wrappers, each once."""
    by_name: dict[str, tuple[ElementaryDefinition, set[int]]] = {}
    for call in calls:
        d = call.definition
        entry = by_name.setdefault(d.name, (d, set()))
        if entry[0] is not d:
            raise InvalidNameError(
                f"two different custom functions are both named {d.name!r} in one crate "
                "(registering a name again replaced an earlier definition still in use)"
            )
        entry[1].add(call.order)
    items: list[str] = []
    for name in sorted(by_name):
        d, orders = by_name[name]
        n = d.input_dimension
        support = d.snippet(SUPPORT)
        if support is not None:
            items.append(_user_item(support, [name + "_projection"], scalar, no_std))
        if 0 in orders:
            items.append(_user_item(_need(d, "rust_primal"), [name], scalar, no_std))
        if 1 in orders:
            items.append(_user_item(_need(d, "rust_jacobian"), [name + "_jacobian"], scalar, no_std))
            items.append(_block_wrapper(name, n, scalar, JACOBIAN))
        if 2 in orders:
            from_hessian = d.snippet("rust_hessian") is not None
            kind = "rust_hessian" if from_hessian else "rust_hvp"
            text = _need(d, kind, "rust_hessian or rust_hvp")
            items.append(_user_item(text, [name + SNIPPETS[kind]], scalar, no_std))
            items.append(_block_wrapper(name, n, scalar, HESSIAN if from_hessian else HESSIAN_COLUMN))
    return items


def _need(d: ElementaryDefinition, kind: str, label: str | None = None) -> str:
    text = d.snippet(kind)
    if text is None:
        raise BuildError(
            f"custom function {d.name!r} is used in generated code but has no {label or kind} Rust snippet"
        )
    return str(text)
