"""The signature of a generated function: the one record every consumer of it reads.

:class:`FunctionSignature` is built from a finished kernel (scheduled, allocated and named) by
:meth:`FunctionSignature.of`, or read back from a crate's ``metadata.json`` by
:meth:`FunctionSignature.from_json`. The Rust printer's doc comment, the size constants and
``metadata.json`` / ``Cargo.toml`` metadata (:mod:`backends.metadata`), the C ABI wrapper
(:mod:`backends.ffi`), the crate README (:mod:`backends.crate`) and the façade's result objects
all read it, so they cannot disagree about a name, a length or the workspace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs

from gradgen.ir.errors import VerificationError
from gradgen.ir.kernel import Kernel

from .names import find_rust_names

#: suffixes of the Rust constants describing a sparse output (after its prefix)
PATTERN_CONSTANTS: tuple[str, ...] = ("NNZ", "COL_POINTERS", "ROW_INDICES")


class SparsityPattern(Protocol):
    """What the backend reads of a compressed-column pattern (``passes.sparsity.CSCPattern``:
    a Hessian's or a Jacobian's)."""

    @property
    def matrix(self) -> str: ...

    @property
    def nnz(self) -> int: ...

    @property
    def indptr(self) -> tuple[int, ...]: ...

    @property
    def indices(self) -> tuple[int, ...]: ...

    def as_json(self) -> dict[str, Any]: ...


@attrs.frozen
class Argument:
    """One slice argument: Rust name, user-facing name, length, and whether it was declared a
    scalar (a Python caller passes and gets a bare float for it)."""

    name: str
    source_name: str
    size: int
    scalar: bool = False

    def as_json(self, constant: str) -> dict[str, Any]:
        return {"name": self.name, "source_name": self.source_name, "size": self.size, "constant": constant}


@attrs.frozen
class SparseOutput:
    """An output holding only the structural nonzeros of a matrix, in compressed-column order."""

    #: Rust name of the output argument
    output: str
    pattern: SparsityPattern
    #: prefix of its Rust constants (``<prefix>NNZ``, ``<prefix>COL_POINTERS``, ...)
    prefix: str

    def constants(self) -> dict[str, str]:
        return {k.lower(): f"{self.prefix}{k}" for k in PATTERN_CONSTANTS}


@attrs.frozen
class FunctionSignature:
    """A generated Rust function: its name, its slices in order and its workspace."""

    function_name: str
    inputs: tuple[Argument, ...]
    outputs: tuple[Argument, ...]
    workspace_size: int
    scalar_type: str = "f64"
    sparse_outputs: tuple[SparseOutput, ...] = ()

    @classmethod
    def of(
        cls,
        kernel: Kernel,
        scalar_type: str = "f64",
        sparse: Mapping[int, SparsityPattern] | None = None,
    ) -> FunctionSignature:
        """The signature of a kernel that went through allocation and sanitization;
        ``sparse`` maps output indices to their patterns. One sparse output gets the constants
        ``<NAME>_NNZ``...; among several outputs, ``<NAME>_<ARG>_NNZ``..."""
        n = find_rust_names(kernel)
        if n is None or kernel.allocation is None:
            raise VerificationError(f"kernel {kernel.name!r} must be allocated and named first")
        outputs = tuple(
            Argument(r, p.name, p.size, p.scalar) for r, p in zip(n.outputs, kernel.outputs, strict=True)
        )
        stem = n.function.upper() + "_"
        return cls(
            function_name=n.function,
            inputs=tuple(
                Argument(r, p.name, p.size, p.scalar) for r, p in zip(n.inputs, kernel.inputs, strict=True)
            ),
            outputs=outputs,
            workspace_size=kernel.allocation.workspace_size,
            scalar_type=scalar_type,
            sparse_outputs=tuple(
                SparseOutput(
                    outputs[k].name,
                    pattern,
                    stem + ("" if len(outputs) == 1 else outputs[k].name.upper() + "_"),
                )
                for k, pattern in sorted((sparse or {}).items())
            ),
        )

    @classmethod
    def from_sizes(
        cls,
        name: str,
        input_names: Sequence[str],
        input_sizes: Sequence[int],
        output_names: Sequence[str],
        output_sizes: Sequence[int],
        workspace_size: int,
        scalar_type: str = "f64",
    ) -> FunctionSignature:
        """A signature from its Rust names and lengths (user-facing names equal the Rust ones)."""
        return cls(
            name,
            tuple(Argument(a, a, s) for a, s in zip(input_names, input_sizes, strict=True)),
            tuple(Argument(a, a, s) for a, s in zip(output_names, output_sizes, strict=True)),
            workspace_size,
            scalar_type,
        )

    @classmethod
    def from_json(cls, entry: Mapping[str, Any], scalar_type: str) -> FunctionSignature:
        """A function entry of ``metadata.json`` (see :meth:`as_json`). Without the scalar flags
        (crates written before they were recorded) every length-1 argument counts as a scalar.
        Raises ``KeyError``, ``TypeError`` or ``ValueError`` on a malformed entry."""
        ports = []
        for kind in ("inputs", "outputs"):
            args = entry[kind]
            marks = entry.get(f"scalar_{kind}") or [int(a["size"]) == 1 for a in args]
            ports.append(
                tuple(
                    Argument(str(a["name"]), str(a.get("source_name", a["name"])), int(a["size"]), bool(m))
                    for a, m in zip(args, marks, strict=False)
                )
            )
        return cls(str(entry["name"]), ports[0], ports[1], int(entry["workspace_size"]), scalar_type)

    # ---- views --------------------------------------------------------------------------------
    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.inputs)

    @property
    def input_sizes(self) -> tuple[int, ...]:
        return tuple(a.size for a in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.outputs)

    @property
    def output_sizes(self) -> tuple[int, ...]:
        return tuple(a.size for a in self.outputs)

    # ---- the crate's constants and metadata -----------------------------------------------------
    def work_constant(self) -> str:
        return f"{self.function_name.upper()}_WORK_SIZE"

    def argument_constant(self, arg: Argument) -> str:
        return f"{self.function_name.upper()}_{arg.name.upper()}_SIZE"

    def as_json(self) -> dict[str, Any]:
        """The function's entry in ``metadata.json`` (without the caller's own facts)."""
        out: dict[str, Any] = {
            "name": self.function_name,
            "inputs": [a.as_json(self.argument_constant(a)) for a in self.inputs],
            "outputs": [a.as_json(self.argument_constant(a)) for a in self.outputs],
            "scalar_inputs": [a.scalar for a in self.inputs],
            "scalar_outputs": [a.scalar for a in self.outputs],
            "workspace_size": self.workspace_size,
            "workspace_constant": self.work_constant(),
        }
        if self.sparse_outputs:
            out["sparse_outputs"] = [
                {"output": s.output, **s.pattern.as_json(), "constants": s.constants()}
                for s in self.sparse_outputs
            ]
        return out


class SignatureView:
    """Names and sizes of a generated function, read from its :class:`FunctionSignature`: the
    one place the result records (generation result, builder function, compiled function) get
    them from."""

    signature: FunctionSignature

    @property
    def input_names(self) -> tuple[str, ...]:
        return self.signature.input_names

    @property
    def input_sizes(self) -> tuple[int, ...]:
        return self.signature.input_sizes

    @property
    def output_names(self) -> tuple[str, ...]:
        return self.signature.output_names

    @property
    def output_sizes(self) -> tuple[int, ...]:
        return self.signature.output_sizes

    @property
    def workspace_size(self) -> int:
        return self.signature.workspace_size
