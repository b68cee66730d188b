"""Kernel planning of ``CodeGenerationBuilder``: requests -> named plans -> compiled kernels -> crate.

:func:`plan_kernels` turns the committed requests of each source function into one
:class:`_Plan` per Rust function (its name, how to make its kernel, its doc summary) and checks
the generated names; :func:`generate_crate` makes every kernel, compiles it, prints the module and
returns a :class:`GeneratedCrate` whose functions are views over their
:class:`~backends.signature.FunctionSignature`. Naming rules are documented in
:mod:`gradgen.builder`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import attrs

from gradgen.backends.crate import check_crate_name
from gradgen.backends.metadata import metadata, rust_constants
from gradgen.backends.names import name_part, sanitize, validate_explicit
from gradgen.backends.rust_module import constant_notes, emit_module
from gradgen.backends.signature import FunctionSignature, SignatureView
from gradgen.ir.kernel import Kernel
from gradgen.passes import autodiff as ad
from gradgen.passes.manager import PassManager
from gradgen.passes.sparsity import SPARSE_PATTERNS, CSCPattern, SparseHessianPass, SparseJacobianPass

from .config import RustBackendConfig
from .errors import ConfigError, InvalidNameError
from .function import Function
from .pipeline import ModuleHelpers, compile_kernel
from .staged import staged_derivative, staged_joint

#: name part of each separate request
SUFFIX: dict[str, str] = {
    "primal": "f",
    "gradient": "grad",
    "jacobian": "jf",
    "jacobian_sparse": "jf_sparse",
    "vjp": "vjp",
    "hessian": "hessian",
    "hessian_sparse": "hessian_sparse",
    "hvp": "hvp",
}


#: one request: (kind, (artifact, input indices) pairs, the call that made it, sparse triangle)
Request = tuple[str, tuple[tuple[str, tuple[int, ...]], ...], str, str]


@attrs.frozen
class _Plan:
    """One kernel to generate: its Rust name, what it is and how to build it."""

    rust_name: str
    source: Function
    kind: str
    parts: tuple[tuple[str, tuple[str, ...]], ...]  # (artifact, wrt input names)
    level: str | int
    make: Callable[[], tuple[Kernel, dict[int, CSCPattern]]]
    origin: str
    #: layout of the sparse Hessian outputs, if any
    triangle: str = "full"


@attrs.frozen
class GeneratedFunction(SignatureView):
    """One generated Rust function: what it computes and its signature."""

    signature: FunctionSignature
    source_function: str
    kind: str
    artifacts: tuple[tuple[str, tuple[str, ...]], ...]
    simplification: str | int
    op_count: int

    @property
    def name(self) -> str:
        return self.signature.function_name

    @property
    def sparse_outputs(self) -> tuple[tuple[str, CSCPattern, str], ...]:
        """Per sparse Hessian or Jacobian output: (Rust argument name, pattern, prefix of its
        Rust constants)."""
        # the builder only ever records passes.sparsity's patterns in the signature
        return tuple((s.output, cast(CSCPattern, s.pattern), s.prefix) for s in self.signature.sparse_outputs)

    def pattern(self, output: str | None = None) -> CSCPattern:
        """The pattern of the sparse output ``output`` (the first one when ``None``)."""
        for name, pattern, _ in self.sparse_outputs:
            if output is None or output == name:
                return pattern
        raise ConfigError(f"{self.name!r} has no sparse output {output!r}")

    def as_json(self) -> dict[str, Any]:
        """What the builder was asked for (``metadata.json`` adds the signature)."""
        return {
            "source_function": self.source_function,
            "kind": self.kind,
            "artifacts": [{"artifact": a, "wrt": list(w)} for a, w in self.artifacts],
            "simplification": self.simplification,
        }


@attrs.frozen
class GeneratedCrate:
    """A crate generated in memory: ``lib.rs``, the compiled kernels and the metadata."""

    crate_name: str
    config: RustBackendConfig
    source: str
    functions: tuple[GeneratedFunction, ...]
    kernels: tuple[Kernel, ...]
    metadata: dict[str, Any]
    #: constants that do not survive conversion to the scalar type (``backends.rust_module.constant_notes``)
    notes: tuple[str, ...] = ()

    @property
    def function_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.functions)

    @property
    def signatures(self) -> tuple[FunctionSignature, ...]:
        return tuple(f.signature for f in self.functions)

    def function(self, name: str) -> GeneratedFunction:
        for f in self.functions:
            if f.name == name:
                return f
        raise ConfigError(f"the crate has no function {name!r}; it has {', '.join(self.function_names)}")

    def kernel(self, name: str) -> Kernel:
        return self.kernels[self.function_names.index(self.function(name).name)]


def function_plans(f: Function, requests: Sequence[Request], prefix: str, level: str | int) -> list[_Plan]:
    """The plans of the requests of one source function (Rust names ``<prefix>_<f>_<what>``)."""
    multi = len(f.input_names) > 1
    base = f"{prefix}_{name_part(f.name)}"
    out = []
    for kind, parts, call, triangle in requests:
        words = []
        for artifact, blocks in parts:
            words.append(SUFFIX.get(artifact, artifact))
            if multi:
                words.extend(name_part(f.input_names[w]) for w in blocks)
        rust_name = "_".join([base, *words])
        named = tuple((a, tuple(f.input_names[w] for w in b)) for a, b in parts)
        out.append(
            _Plan(
                rust_name,
                f,
                kind,
                named,
                level,
                _maker(f, kind, parts, triangle),
                f"{call} of {f.name!r}",
                triangle,
            )
        )
    return out


_ARTIFACT_TEXT = {
    "f": "the value of `{f}`",
    "grad": "the gradient of `{f}` with respect to {wrt}",
    "jf": "the Jacobian of `{f}` with respect to {wrt} (row-major)",
    "jf_sparse": "the structural nonzeros of the Jacobian of `{f}` with respect to {wrt} "
    "(compressed-column order)",
    "hessian": "the Hessian of `{f}` with respect to {wrt} (row-major)",
    "hessian_sparse": "the structural nonzeros of the Hessian of `{f}` with respect to {wrt} "
    "({tri}, compressed-column order)",
    "hvp": "the Hessian of `{f}` with respect to {wrt} times a direction",
    "vjp": "the vector-Jacobian product of `{f}` with respect to {wrt}",
    "states": "the rollout states of `{f}`",
}


def _summary(plan: _Plan) -> str:
    """First doc-comment line of a generated kernel, e.g. "Computes the gradient of `f` with
    respect to `x`." """
    texts = []
    for artifact, wrt in plan.parts:
        names = " and ".join(f"`{w}`" for w in wrt) or "its input"
        text = _ARTIFACT_TEXT[SUFFIX.get(artifact, artifact)]
        tri = "full matrix" if plan.triangle == "full" else f"{plan.triangle} triangle"
        texts.append(text.format(f=plan.source.name, wrt=names, tri=tri))
    if len(texts) > 1:
        texts[-1] = "and " + texts[-1]
    return "Computes " + (", " if len(texts) > 2 else " ").join(texts) + "."


_Made = tuple[Kernel, dict[int, CSCPattern]]


def _maker(
    f: Function, kind: str, parts: tuple[tuple[str, tuple[int, ...]], ...], triangle: str
) -> Callable[[], _Made]:
    """The kernel of a request (verified by the pass manager) and its sparse output patterns."""
    if kind == "primal":
        return lambda: (f.kernel, {})
    if f.kernel.steps and kind == "joint":  # a staged function's own joint kernel
        return lambda: (staged_joint(f, parts), {})
    if f.kernel.steps and kind != "joint":  # a staged function's own staged derivatives
        return lambda: (staged_derivative(f, kind, parts[0][1][0]), {})
    if kind == "joint":

        def joint() -> _Made:
            kernel = PassManager([ad.JointPass(parts, triangle)]).run(f.kernel)
            return kernel, kernel.note(SPARSE_PATTERNS, {})

        return joint
    (w,) = parts[0][1]
    if kind == "hessian_sparse":

        def sparse() -> _Made:
            kernel = PassManager([SparseHessianPass(w, triangle)]).run(f.kernel)
            return kernel, kernel.note(SPARSE_PATTERNS)

        return sparse
    if kind == "jacobian_sparse":

        def sparse_jacobian() -> _Made:
            kernel = PassManager([SparseJacobianPass(w)]).run(f.kernel)
            return kernel, kernel.note(SPARSE_PATTERNS)

        return sparse_jacobian
    return lambda: (PassManager([ad.AutodiffPass(kind, w)]).run(f.kernel), {})


#: one source function's committed requests and its simplification level (``None``: the config's)
Block = tuple[Function, Sequence[Request], "str | int | None"]


def plan_kernels(blocks: Sequence[Block], crate_name: str, default_level: str | int) -> list[_Plan]:
    """Every plan of ``blocks``, with the generated names checked (valid, distinct, no two
    source functions sanitized to the same name)."""
    sources: dict[str, Function] = {}
    for f, _, _ in blocks:
        key = sanitize(f.name)
        other = sources.setdefault(key, f)
        if other is not f:
            raise InvalidNameError(
                f"source functions {other.name!r} and {f.name!r} both become {key!r} in "
                "the generated names; give them distinct names"
            )
    prefix = crate_name.strip("_")
    plans = [
        p
        for f, requests, level in blocks
        for p in function_plans(f, requests, prefix, default_level if level is None else level)
    ]
    seen: dict[str, _Plan] = {}
    for p in plans:
        validate_explicit("generated function name", p.rust_name)
        if p.rust_name in seen:
            raise InvalidNameError(
                f"{p.origin} and {seen[p.rust_name].origin} both generate the Rust function "
                f"{p.rust_name!r}; request each kernel once"
            )
        seen[p.rust_name] = p
    return plans


def generate_crate(blocks: Sequence[Block], config: RustBackendConfig, crate_name: str) -> GeneratedCrate:
    """Compile every kernel of ``blocks`` and print the crate ``crate_name`` in memory."""
    name = check_crate_name(crate_name)
    plans = plan_kernels(blocks, name, config.simplification)
    all_names = [p.rust_name for p in plans]
    kernels: list[Kernel] = []
    signatures: list[FunctionSignature] = []
    helpers = ModuleHelpers(all_names)  # a stage kernel several plans call is compiled once
    for p in plans:
        others = [n for n in all_names if n != p.rust_name]
        made, patterns = p.make()
        kernel = compile_kernel(
            made, config.with_simplification(p.level), p.rust_name, others, helpers=helpers
        )
        kernels.append(kernel)
        signatures.append(FunctionSignature.of(kernel, config.scalar_type, patterns))
    source = emit_module(
        kernels,
        config,
        summaries={p.rust_name: _summary(p) for p in plans},
        trailers=rust_constants(signatures),
    )
    functions = tuple(
        GeneratedFunction(
            signature=s,
            source_function=p.source.name,
            kind=p.kind,
            artifacts=p.parts,
            simplification=p.level,
            op_count=k.op_count(),
        )
        for p, s, k in zip(plans, signatures, kernels, strict=True)
    )
    meta = metadata(name, config, signatures, {f.name: f.as_json() for f in functions})
    notes = constant_notes(kernels, config.scalar_type)
    return GeneratedCrate(name, config, source, functions, tuple(kernels), meta, notes)
