"""Rust identifier rules: keywords, sanitization of user-facing names, strict validation of
explicit names, a per-function namespace that detects collisions, and the table of a kernel's
Rust identifiers (carried by the kernel as its ``rust_names`` note)."""

from __future__ import annotations

import re

import attrs

from gradgen.ir.errors import VerificationError
from gradgen.ir.kernel import Kernel

from .errors import InvalidNameError

#: strict, reserved and weak-but-problematic Rust keywords (2021 edition, plus 2024's ``gen``)
RUST_KEYWORDS = frozenset(
    """as break const continue crate else enum extern false fn for if impl in let loop match mod
    move mut pub ref return self Self static struct super trait true type unsafe use where while
    async await dyn abstract become box do final macro override priv typeof unsized virtual yield
    try gen union""".split()
)

IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_snake_case(name: str) -> bool:
    """rustc's ``non_snake_case`` test: no uppercase letters and no inner double underscore."""
    core = name.strip("_")
    return not any(c.isupper() for c in core) and "__" not in core


def sanitize(name: str) -> str:
    """Turn a user-facing name ("my function", "Out-Value", "2x") into a snake_case identifier."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    text = re.sub(r"[^A-Za-z0-9_]+", "_", text).lower()
    text = re.sub(r"_+", "_", text).strip("_")
    if not text:
        text = "arg"
    if text[0].isdigit():
        text = "n" + text
    if text in RUST_KEYWORDS:
        text += "_"
    return text


def name_part(name: str) -> str:
    """:func:`sanitize` for a part of a longer identifier (``<crate>_<name>_f``): without the
    trailing underscore that keeps a whole name off a keyword, which inside a longer name would
    make a double underscore (not snake_case) and is not needed there."""
    return sanitize(name).removesuffix("_")


def validate_explicit(kind: str, name: object) -> str:
    """Check an explicit crate/function name: must already be a snake_case Rust identifier."""
    if not isinstance(name, str):
        raise InvalidNameError(f"{kind} must be a string, got {type(name).__name__}")
    if not IDENT_RE.match(name):
        raise InvalidNameError(
            f"{kind} {name!r} is not a valid Rust identifier (it must match [A-Za-z_][A-Za-z0-9_]*; "
            f"a valid alternative is {sanitize(name)!r})"
        )
    if name in RUST_KEYWORDS:
        raise InvalidNameError(f"{kind} {name!r} is a Rust keyword")
    if name.strip("_") == "":
        raise InvalidNameError(f"{kind} {name!r} must contain a letter or digit")
    if not is_snake_case(name):
        raise InvalidNameError(
            f"{kind} {name!r} is not snake_case and would make rustc warn; use {sanitize(name)!r}"
        )
    return name


class Namespace:
    """Names taken in one Rust scope; :meth:`claim` fails on a collision, naming both sources."""

    def __init__(self, reserved: dict[str, str] | None = None) -> None:
        self._owner: dict[str, str] = dict(reserved or {})

    def claim(self, ident: str, source: str) -> str:
        owner = self._owner.get(ident)
        if owner is not None:
            raise InvalidNameError(
                f"{source} becomes the Rust identifier {ident!r}, which is already used by {owner}"
            )
        self._owner[ident] = source
        return ident

    def __contains__(self, ident: str) -> bool:
        return ident in self._owner


@attrs.frozen
class NameTable:
    """The Rust identifiers of one kernel, chosen by :class:`backends.sanitize.SanitizePass`."""

    function: str
    inputs: list[str]
    outputs: list[str]
    work: str  # "work" or "_work"
    local_prefix: str
    chunk_prefix: str
    explicit_function: bool = False


#: the kernel note holding a kernel's :class:`NameTable`
RUST_NAMES = "rust_names"


def with_rust_names(kernel: Kernel, names: NameTable) -> Kernel:
    return kernel.with_note(RUST_NAMES, names)


def find_rust_names(kernel: Kernel) -> NameTable | None:
    """The Rust identifiers of ``kernel``, or ``None`` before the sanitize pass ran."""
    names: NameTable | None = kernel.note(RUST_NAMES)
    return names


def rust_names(kernel: Kernel) -> NameTable:
    """The Rust identifiers of ``kernel`` (a :class:`VerificationError` if it was not named)."""
    names = find_rust_names(kernel)
    if names is None:
        raise VerificationError(f"kernel {kernel.name!r} has no Rust names: run the sanitize pass first")
    return names


def rust_signature_lines(kernel: Kernel) -> list[str]:
    """The IR dump's comment on a named kernel: its Rust function and argument names."""
    n = find_rust_names(kernel)
    if n is None:
        return []
    return [f"rust fn {n.function}({', '.join([*n.inputs, *n.outputs, n.work])})"]
