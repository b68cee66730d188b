"""The ports of a ``Function`` as the user declares them: validation of its inputs (symbols or
vectors of symbols), outputs (expressions, numbers or vectors of them) and their names, with the
default names (a vector's own name, ``in0``, ``y``/``out0`` ...) and the error messages of
:class:`~gradgen.errors.FunctionDefinitionError`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gradgen.errors import FunctionDefinitionError, GradgenTypeError
from gradgen.ir.expr import SX, as_sx

from .vector import SXVector

#: one declared block: its elements, declared as a scalar, the block's own name (inputs)
InputBlock = tuple[list[SX], bool, str | None]
OutputBlock = tuple[list[SX], bool]


def check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise FunctionDefinitionError(f"{kind} must be a non-empty string, got {name!r}")
    return name


def _fresh(base: str, taken: set[str]) -> str:
    """``base``, or ``base_1``, ``base_2``, ... whichever is not taken yet (and take it)."""
    name, i = base, 1
    while name in taken:
        name = f"{base}_{i}"
        i += 1
    taken.add(name)
    return name


def _name_list(kind: str, names: Any) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)):
        raise FunctionDefinitionError(f"{kind} must be a list of strings, got {names!r}")
    return list(names)


def is_text(v: object) -> bool:
    return isinstance(v, (str, bytes, bytearray))


def _input_block(k: int, item: Any) -> tuple[list[SX], bool, str | None]:
    if isinstance(item, SX):
        symbols, scalar, default = [item], True, item.name if item.is_symbol else None
    elif isinstance(item, SXVector):
        symbols, scalar, default = list(item), False, item.name
    elif isinstance(item, (list, tuple)):
        symbols, scalar, default = list(item), False, None
    else:
        raise FunctionDefinitionError(
            f"input {k} must be a symbol (SX.sym) or a vector of symbols (SXVector.sym), "
            f"got {type(item).__name__}"
        )
    if not symbols:
        raise FunctionDefinitionError(f"input {k} is an empty vector")
    for s in symbols:
        if not isinstance(s, SX):
            raise FunctionDefinitionError(
                f"input {k} contains {s!r} ({type(s).__name__}), which is not a symbol; "
                "inputs must be SX.sym(...) or SXVector.sym(...)"
            )
        if not s.is_symbol:
            raise FunctionDefinitionError(
                f"input {k} contains the expression {s}, which is not a symbol; "
                "inputs must be SX.sym(...) or SXVector.sym(...)"
            )
    return symbols, scalar, default


def _output_block(k: int, item: Any) -> tuple[list[SX], bool]:
    try:
        if isinstance(item, SXVector):
            exprs, scalar = list(item), False
        elif isinstance(item, (list, tuple)):
            exprs, scalar = [as_sx(v) for v in item], False
        else:
            exprs, scalar = [as_sx(item)], True
    except GradgenTypeError as exc:
        raise FunctionDefinitionError(
            f"output {k} must be an expression, a number or a vector of them ({exc})"
        ) from None
    if not exprs:
        raise FunctionDefinitionError(f"output {k} is an empty vector")
    return exprs, scalar


def define_ports(
    name: str,
    inputs: Any,
    outputs: Any,
    input_names: Sequence[str] | None,
    output_names: Sequence[str] | None,
) -> tuple[list[InputBlock], list[OutputBlock], list[str], list[str]]:
    """The checked input and output blocks of ``Function(name, inputs, outputs, ...)`` and their
    names (the given ones, checked, or the defaults)."""
    if isinstance(inputs, (SX, SXVector)) or not isinstance(inputs, (list, tuple)):
        raise FunctionDefinitionError("inputs must be a list of symbols or symbol vectors")
    if isinstance(outputs, (SX, SXVector)) or not isinstance(outputs, (list, tuple)):
        raise FunctionDefinitionError("outputs must be a list of expressions or vectors")
    in_blocks = [_input_block(k, item) for k, item in enumerate(inputs)]
    out_blocks = [_output_block(k, item) for k, item in enumerate(outputs)]
    seen: dict[int, int] = {}
    for k, (symbols, _, _) in enumerate(in_blocks):
        for s in symbols:
            if id(s) in seen:
                raise FunctionDefinitionError(
                    f"function {name!r}: symbol {s.name!r} appears more than once among the "
                    f"inputs (inputs {seen[id(s)]} and {k})"
                )
            seen[id(s)] = k
    input_names = _name_list("input_names", input_names)
    output_names = _name_list("output_names", output_names)
    if input_names is not None and len(input_names) != len(in_blocks):
        raise FunctionDefinitionError(
            f"function {name!r} has {len(in_blocks)} inputs but {len(input_names)} input names"
        )
    if output_names is not None and len(output_names) != len(out_blocks):
        raise FunctionDefinitionError(
            f"function {name!r} has {len(out_blocks)} outputs but {len(output_names)} output names"
        )
    if input_names is None:
        # a vector's or symbol's own name; unnamed blocks get in0, in1, ... (kept distinct)
        taken = {d for _, _, d in in_blocks if d is not None} | set(output_names or ())
        input_names = [
            d if d is not None else _fresh(f"in{k}", taken) for k, (_, _, d) in enumerate(in_blocks)
        ]
    if output_names is None:
        taken = set(input_names)
        bases = ["y"] if len(out_blocks) == 1 else [f"out{k}" for k in range(len(out_blocks))]
        output_names = [_fresh(b, taken) for b in bases]
    for n in input_names:
        check_name("an input name", n)
    for n in output_names:
        check_name("an output name", n)
    all_names = input_names + output_names
    counts: dict[str, int] = {}
    for n in all_names:
        counts[n] = counts.get(n, 0) + 1
    dupes = sorted(n for n, c in counts.items() if c > 1)
    if dupes:
        raise FunctionDefinitionError(
            f"function {name!r}: argument name(s) {', '.join(map(repr, dupes))} used more than once; "
            "give distinct input_names=/output_names="
        )
    return in_blocks, out_blocks, input_names, output_names
