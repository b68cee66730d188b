"""``CodeGenerationBuilder``: one Cargo crate holding several kernels of one or more Functions.

This module is the request model (what to generate, checked as it is asked for); planning the
kernels, naming and generating them is :mod:`gradgen.kernel_plans`. Usage::

    project = (
        CodeGenerationBuilder()
        .with_backend_config(RustBackendConfig().with_backend_mode("no_std"))
        .for_function(f)            # a scoped builder for the kernels of ``f``
        .add_primal()
        .add_gradient()
        .add_joint(FunctionBundle().add_f().add_jf(wrt=0))
        .with_simplification("medium")
        .done()                     # commit the block back to the parent builder
        .build("/tmp/my_kernel")
    )

``CodeGenerationBuilder(f)`` is the single-function shorthand: the ``add_*`` methods and
``with_simplification`` can then be called on the builder itself.

**Names.** Every generated Rust function is ``<crate>_<f>_<what>`` where ``<crate>`` is the
crate name (leading/trailing underscores dropped) and ``<f>`` the sanitized source-function
name. ``<what>`` is ``f`` (primal), ``grad``, ``jf`` (Jacobian), ``vjp``, ``hessian``,
``hessian_sparse`` (``add_hessian(sparse=True)``), ``hvp``, or, for a joint kernel, the
artifacts of the bundle joined by ``_`` in the order they were added (``f_jf``, ``f_jf_hvp``,
...). When the source function has **more than one input**, every
derivative is taken with respect to named input blocks and the sanitized input names are
appended: ``<crate>_<f>_grad_<input>``, and in a joint kernel each derivative artifact is
followed by its blocks (``<crate>_<f>_f_jf_x_u_hessian_x``). Functions with one input never get
the suffix. The separate requests (``add_gradient(wrt=...)`` ...) build one kernel per block;
``wrt=None`` (the default) means every input block.

**Joint kernels.** ``FunctionBundle`` lists artifacts with their blocks; the builder builds one
kernel whose graph is shared by all of them (one copy of the primal, one reverse sweep per
gradient reused by the Hessian and the HVP), then simplifies it. Argument layout: the inputs of
the function, then one direction ``v_<in>`` per HVP block (in the HVP's ``wrt`` order); outputs
in the order the artifacts were added, each artifact contributing, per ``wrt`` block in order,
``grad_<in>`` / ``jacobian_<out>_<in>`` (one per output of the function) / ``hessian_<in>`` /
``hvp_<in>``, and ``f`` contributing the outputs of the function. A name that collides with an
earlier port gets a ``_1``, ``_2``... suffix.

**Validation.** ``wrt`` indices and scalar outputs are checked when a request is added
(:class:`~ir.errors.DifferentiationError`); everything else (crate name, collisions between
generated names, an empty builder, an uncommitted block) is checked by :meth:`build` before
any file is written. The crate exposes per-kernel size constants and writes ``metadata.json``
(see :mod:`backends.metadata`).

**Sparse Hessians.** ``add_hessian(sparse=True, triangle=...)`` (and the bundle artifact
``FunctionBundle().add_hessian(sparse=True)``) output only the structural nonzeros of the Hessian
in compressed-column order (:mod:`passes.sparsity` defines "structural" and the triangles). The
pattern is exposed beside the function as ``pub const <P>NNZ: usize``, ``<P>COL_POINTERS:
[usize; n + 1]`` and ``<P>ROW_INDICES: [usize; NNZ]``, where ``<P>`` is ``<NAME>_`` for a
separate kernel and ``<NAME>_<ARG>_`` (the output's Rust name) in a joint kernel, and in
``metadata.json`` under ``sparse_outputs`` (format, shape, triangle, nnz, col_pointers,
row_indices and the constant names). One sparse layout per request: asking for two triangles of
the same block in one crate would generate the same name twice and is refused by :meth:`build`.

**Sparse Jacobians.** ``add_jacobian(sparse=True)`` (``<crate>_<f>_jf_sparse[_<in>]``) and the
bundle artifact ``FunctionBundle().add_jf(sparse=True)`` (``jf_sparse``) output, per output of
the function, the structural nonzeros of its Jacobian block in compressed-column order (see
:mod:`gradgen.sparse`), with the same constants (``<P>NNZ``, ``<P>COL_POINTERS: [usize; n +
1]``, ``<P>ROW_INDICES: [usize; NNZ]``; ``<P>`` is ``<NAME>_`` when the kernel has one output,
else ``<NAME>_<ARG>_``) and the same ``sparse_outputs`` entries in ``metadata.json`` (format,
shape ``[m, n]``, nnz, col_pointers, row_indices, constants).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Sequence
from typing import Any, overload

import attrs

from gradgen.backends.crate import crate_files, resolve_crate_name
from gradgen.backends.paths import user_path
from gradgen.backends.writes import plan_write, write_project
from gradgen.config import RustBackendConfig
from gradgen.errors import ConfigError, DifferentiationError, GradgenTypeError, ProjectWriteError
from gradgen.passes import autodiff as ad
from gradgen.passes.pipelines import level_index
from gradgen.passes.sparsity import check_triangle

from .cargo_build import cargo_build
from .composed import ComposedFunction
from .function import Function
from .kernel_plans import GeneratedCrate, GeneratedFunction, Request, generate_crate
from .python_interface import (
    RustPythonInterfaceProjectResult,
    builder_python_name,
    built_python_interface,
    check_python_interface,
    plan_python_interface,
    write_python_interface,
)
from .shooting import SingleShootingBundle, SingleShootingProblem, _ShootingFunction
from .staged import StagedFunction, has_staged_joint

__all__ = [
    "BuildResult",
    "CodeGenerationBuilder",
    "FunctionBuilder",
    "FunctionBundle",
    "GeneratedCrate",
    "GeneratedFunction",
]

_SCALAR_KINDS = {"gradient", "hessian", "hessian_sparse", "hvp", "grad"}
#: the dense request or artifact of each ``sparse=True`` one
_SPARSE_OF = {"jacobian": "jacobian_sparse", "jf": "jf_sparse"}
_DESCRIPTION = {
    "primal": "primal",
    "gradient": "gradient",
    "jacobian": "Jacobian",
    "jacobian_sparse": "sparse Jacobian",
    "vjp": "vector-Jacobian product",
    "hessian": "Hessian",
    "hessian_sparse": "sparse Hessian",
    "hvp": "Hessian-vector product",
    "f": "primal",
    "grad": "gradient",
    "jf": "Jacobian",
    "jf_sparse": "sparse Jacobian",
}


def _check_wrt_value(wrt: Any) -> tuple[int, ...] | None:
    """``None``, an int or a non-empty list of ints (ranges are checked against the function)."""
    if wrt is None:
        return None
    items = [wrt] if isinstance(wrt, int) and not isinstance(wrt, bool) else wrt
    if isinstance(items, (str, bytes)) or not isinstance(items, (list, tuple)):
        raise DifferentiationError(f"wrt must be an input index or a list of them, got {wrt!r}")
    for w in items:
        if isinstance(w, bool) or not isinstance(w, int):
            raise DifferentiationError(f"wrt must be an input index or a list of them, got {wrt!r}")
    if not items:
        raise DifferentiationError("wrt is an empty list; give at least one input index")
    return tuple(items)


def _by_name(f: Function, wrt: Any) -> Any:
    """``wrt`` with input names (gradgen 0.5.2 accepts them) replaced by their indices."""

    def index(w: Any) -> Any:
        if not isinstance(w, str):
            return w
        if w not in f.input_names:
            raise DifferentiationError(
                f"{f.name!r} has no input named {w!r}; its inputs are {', '.join(f.input_names)}"
            )
        return f.input_names.index(w)

    if isinstance(wrt, (list, tuple)):
        return [index(w) for w in wrt]
    return index(wrt)


def _check_sparse(sparse: object) -> bool:
    if not isinstance(sparse, bool):
        raise ConfigError(f"sparse must be True or False, got {sparse!r}")
    return sparse


def _resolve_wrt(f: Function, wrt: tuple[int, ...] | None) -> tuple[int, ...]:
    """Indices checked against ``f`` (``None``: every input); duplicates rejected."""
    return ad.check_wrt_list(f.kernel, None if wrt is None else list(wrt))


def _check_scalar(f: Function, what: str) -> None:
    if len(f.output_sizes) != 1 or f.output_sizes[0] != 1:
        shape = ", ".join(f"{n!r} of size {s}" for n, s in zip(f.output_names, f.output_sizes, strict=True))
        raise DifferentiationError(
            f"cannot add the {what} of {f.name!r}: it needs exactly one scalar output, but the "
            f"function has {shape}; use add_jacobian() or add_vjp() for vector-valued functions"
        )


# ---- bundles ------------------------------------------------------------------------------------


class FunctionBundle:
    """The artifacts of one joint kernel: ``add_f()``, ``add_gradient``, ``add_jf``,
    ``add_hessian``, ``add_hvp`` (each with ``wrt`` an input index, a list of them, or ``None``
    for every input). Artifacts keep the order of their first ``add_*`` call; adding the same
    artifact again appends blocks to it."""

    def __init__(self) -> None:
        self._parts: dict[str, list[tuple[int, ...] | None]] = {}
        #: the layout of the ``hessian_sparse`` artifact (one per bundle)
        self.triangle: str | None = None

    def _add(self, kind: str, wrt: Any) -> FunctionBundle:
        named = isinstance(wrt, str) or (
            isinstance(wrt, (list, tuple)) and any(isinstance(w, str) for w in wrt)
        )
        # input names are resolved against the function in resolve(); indices are checked now
        self._parts.setdefault(kind, []).append(wrt if named else _check_wrt_value(wrt))
        return self

    def add_f(self) -> FunctionBundle:
        """Include the primal outputs."""
        if "f" in self._parts:
            raise ConfigError("add_f() was called twice on the same FunctionBundle")
        self._parts["f"] = []
        return self

    def add_gradient(self, wrt: int | Sequence[int] | None = None) -> FunctionBundle:
        """Include the gradient (scalar functions) w.r.t. the ``wrt`` blocks."""
        return self._add("grad", wrt)

    def add_jf(self, wrt: int | Sequence[int] | None = None, sparse: bool = False) -> FunctionBundle:
        """Include the Jacobian of every output w.r.t. the ``wrt`` blocks: row-major, or with
        ``sparse=True`` the artifact ``jf_sparse``: each block's structural nonzeros in
        compressed-column order (see :mod:`gradgen.sparse`)."""
        return self._add(_SPARSE_OF["jf"] if _check_sparse(sparse) else "jf", wrt)

    def add_hessian(
        self, wrt: int | Sequence[int] | None = None, sparse: bool = False, triangle: str = "full"
    ) -> FunctionBundle:
        """Include the Hessian (scalar functions) w.r.t. each ``wrt`` block: row-major ``n*n``,
        or with ``sparse=True`` the artifact ``hessian_sparse``: its structural nonzeros in
        compressed-column order (``triangle``: ``"full"``, ``"lower"`` or ``"upper"``, one
        layout per bundle; see :mod:`gradgen.sparse`)."""
        if not _check_sparse(sparse):
            return self._add("hessian", wrt)
        check_triangle(triangle)
        if self.triangle is not None and self.triangle != triangle:
            raise ConfigError(
                f"the FunctionBundle already has a sparse Hessian with triangle={self.triangle!r}; "
                f"one bundle cannot also use triangle={triangle!r}"
            )
        self.triangle = triangle
        return self._add("hessian_sparse", wrt)

    def add_hvp(self, wrt: int | Sequence[int] | None = None) -> FunctionBundle:
        """Include the Hessian-vector product w.r.t. each ``wrt`` block (adds a direction input)."""
        return self._add("hvp", wrt)

    def resolve(self, f: Function) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """``(artifact, blocks)`` pairs checked against ``f``."""
        if not self._parts:
            raise ConfigError(f"the FunctionBundle for {f.name!r} is empty; call add_f(), add_jf(), ...")
        out: list[tuple[str, tuple[int, ...]]] = []
        for kind, specs in self._parts.items():
            if kind == "f":
                out.append((kind, ()))
                continue
            if kind in _SCALAR_KINDS:
                _check_scalar(f, _DESCRIPTION[kind])
            blocks: list[int] = []
            for spec in specs:
                blocks.extend(_resolve_wrt(f, _check_wrt_value(_by_name(f, spec))))
            dupes = sorted({f.input_names[w] for w in blocks if blocks.count(w) > 1})
            if dupes:
                raise DifferentiationError(
                    f"the bundle asks for the {_DESCRIPTION[kind]} w.r.t. input(s) "
                    f"{', '.join(map(repr, dupes))} of {f.name!r} more than once"
                )
            out.append((kind, tuple(blocks)))
        return tuple(out)

    def __repr__(self) -> str:
        return f"FunctionBundle({self._parts!r})"


@attrs.frozen
class BuildResult:
    """A crate written by :meth:`CodeGenerationBuilder.build`."""

    project_dir: pathlib.Path
    crate: GeneratedCrate = attrs.field(repr=False)
    #: ``src/lib.rs`` as written: the generated module with the crate-root attributes of the
    #: optional ``ffi`` feature (``backends.ffi``)
    source: str = attrs.field(repr=False)
    #: the PyO3 extension crate written beside it (``with_enable_python_interface()``)
    python_interface: RustPythonInterfaceProjectResult | None = attrs.field(default=None, repr=False)

    @property
    def crate_name(self) -> str:
        return self.crate.crate_name

    @property
    def notes(self) -> tuple[str, ...]:
        """Warnings about the generated code (constants lost in ``f32``)."""
        return self.crate.notes

    @property
    def functions(self) -> tuple[GeneratedFunction, ...]:
        return self.crate.functions

    @property
    def function_names(self) -> tuple[str, ...]:
        return self.crate.function_names

    @property
    def metadata(self) -> dict[str, Any]:
        return self.crate.metadata

    def function(self, name: str) -> GeneratedFunction:
        return self.crate.function(name)


class FunctionBuilder:
    """The scoped builder of one source function (returned by ``for_function``)."""

    def __init__(self, parent: CodeGenerationBuilder, f: Function) -> None:
        #: the problem of a single-shooting source (its joint kernels take a SingleShootingBundle)
        self.problem: SingleShootingProblem | None = None
        if isinstance(f, SingleShootingProblem):
            self.problem = f
        elif isinstance(f, _ShootingFunction) and has_staged_joint(f.function):
            self.problem = f.problem  # the problem's total cost
        if isinstance(f, (StagedFunction, SingleShootingProblem, ComposedFunction)):
            f = f.function  # a staged kernel; its derivatives are its staged ones
        if not isinstance(f, Function):
            raise GradgenTypeError(f"for_function expects a gradgen Function, got {type(f).__name__}")
        self._parent = parent
        self.function = f
        self.level: str | int | None = None
        self.requests: list[Request] = []
        self.committed = False

    def _live(self) -> None:
        if self.committed:
            raise ConfigError(f"the block of {self.function.name!r} was already committed with done()")

    def _separate(self, kind: str, wrt: Any, call: str, triangle: str = "full") -> FunctionBuilder:
        self._live()
        f = self.function
        if kind in _SCALAR_KINDS:
            _check_scalar(f, _DESCRIPTION[kind])
        blocks = (0,) if kind == "primal" else _resolve_wrt(f, _check_wrt_value(_by_name(f, wrt)))
        for w in blocks:
            self.requests.append((kind, ((kind, () if kind == "primal" else (w,)),), call, triangle))
        return self

    def add_primal(self) -> FunctionBuilder:
        """The function itself: ``<crate>_<f>_f``."""
        return self._separate("primal", None, "add_primal()")

    def add_gradient(self, wrt: int | Sequence[int] | None = None) -> FunctionBuilder:
        """Gradient kernels ``<crate>_<f>_grad[_<in>]`` (one scalar output needed)."""
        return self._separate("gradient", wrt, "add_gradient()")

    def add_jacobian(self, wrt: int | Sequence[int] | None = None, sparse: bool = False) -> FunctionBuilder:
        """Jacobian kernels ``<crate>_<f>_jf[_<in>]``: one row-major block per output, or with
        ``sparse=True`` ``<crate>_<f>_jf_sparse[_<in>]``: each block's structural nonzeros in
        compressed-column order, with the pattern as ``pub const`` arrays (``<P>NNZ``,
        ``<P>COL_POINTERS``, ``<P>ROW_INDICES``) and in ``metadata.json`` (see
        :mod:`gradgen.sparse`)."""
        if _check_sparse(sparse):
            return self._separate("jacobian_sparse", wrt, "add_jacobian(sparse=True)")
        return self._separate("jacobian", wrt, "add_jacobian()")

    def add_vjp(self, wrt: int | Sequence[int] | None = None) -> FunctionBuilder:
        """Vector-Jacobian products ``<crate>_<f>_vjp[_<in>]`` (inputs ``cotangent_<out>``)."""
        return self._separate("vjp", wrt, "add_vjp()")

    def add_hessian(
        self, wrt: int | Sequence[int] | None = None, sparse: bool = False, triangle: str = "full"
    ) -> FunctionBuilder:
        """Hessian kernels ``<crate>_<f>_hessian[_<in>]`` (row-major ``n*n``), or with
        ``sparse=True`` ``<crate>_<f>_hessian_sparse[_<in>]``: the structural nonzeros in
        compressed-column order (``triangle``: ``"full"``, ``"lower"`` or ``"upper"``), with the
        pattern as ``pub const`` arrays ``<NAME>_COL_POINTERS``, ``<NAME>_ROW_INDICES`` and
        ``<NAME>_NNZ`` and in ``metadata.json`` (see :mod:`gradgen.sparse`)."""
        if not _check_sparse(sparse):
            return self._separate("hessian", wrt, "add_hessian()")
        return self._separate("hessian_sparse", wrt, "add_hessian(sparse=True)", check_triangle(triangle))

    def add_hvp(self, wrt: int | Sequence[int] | None = None) -> FunctionBuilder:
        """Hessian-vector products ``<crate>_<f>_hvp[_<in>]`` (direction input ``v_<in>``)."""
        return self._separate("hvp", wrt, "add_hvp()")

    def add_joint(self, bundle: FunctionBundle | SingleShootingBundle) -> FunctionBuilder:
        """One kernel computing every artifact of ``bundle`` from a shared graph; for a
        single-shooting problem, a :class:`SingleShootingBundle`: one staged kernel
        ``<crate>_<f>_<f|grad_<u_seq>|hvp_<u_seq>|states joined>`` sharing one rollout."""
        self._live()
        if self.problem is not None or isinstance(bundle, SingleShootingBundle):
            if self.problem is None:
                raise GradgenTypeError(
                    f"a SingleShootingBundle needs a SingleShootingProblem source, not {self.function.name!r}"
                )
            self.requests.append(("joint", self.problem.builder_artifacts(bundle), "add_joint(...)", "full"))
            return self
        if self.function.kernel.steps and not has_staged_joint(self.function):
            raise DifferentiationError(
                f"{self.function.name!r} is staged and offers no joint kernel; add its kernels one by one"
            )
        if not isinstance(bundle, FunctionBundle):
            raise GradgenTypeError(f"add_joint expects a FunctionBundle, got {type(bundle).__name__}")
        self.requests.append(
            ("joint", bundle.resolve(self.function), "add_joint(...)", bundle.triangle or "full")
        )
        return self

    def with_simplification(self, level: str | int) -> FunctionBuilder:
        """The simplification level of every kernel of this function (overrides the config's)."""
        self._live()
        level_index(level)
        self.level = level
        return self

    def done(self) -> CodeGenerationBuilder:
        """Commit this block to the parent builder and return the parent."""
        self._live()
        self.committed = True
        self._parent._commit(self)
        return self._parent


class CodeGenerationBuilder:
    """Collects kernels of one or more Functions and writes them as one crate.

    ``CodeGenerationBuilder(f)`` is the single-function shorthand: ``add_*`` and
    ``with_simplification`` then apply to ``f`` directly.
    """

    def __init__(self, function: Function | None = None) -> None:
        self.config = RustBackendConfig()
        self._blocks: list[FunctionBuilder] = []
        self._open: list[FunctionBuilder] = []
        self._implicit: FunctionBuilder | None = None
        if function is not None:
            self._implicit = FunctionBuilder(self, function)
            self._blocks.append(self._implicit)

    def with_backend_config(self, config: RustBackendConfig) -> CodeGenerationBuilder:
        """Backend mode, scalar type, crate name and default simplification of every kernel."""
        if not isinstance(config, RustBackendConfig):
            raise ConfigError(f"with_backend_config expects a RustBackendConfig, got {type(config).__name__}")
        if config.function_name is not None:
            raise ConfigError(
                f"the builder names every function <crate>_<f>_<kind>, so function_name "
                f"{config.function_name!r} cannot apply; drop with_function_name(...) from the config"
            )
        self.config = config
        return self

    @overload
    def for_function(self, f: Function) -> FunctionBuilder: ...
    @overload
    def for_function(
        self, f: Function, configure: Callable[[FunctionBuilder], Any]
    ) -> CodeGenerationBuilder: ...
    def for_function(
        self, f: Function, configure: Callable[[FunctionBuilder], Any] | None = None
    ) -> FunctionBuilder | CodeGenerationBuilder:
        """A scoped builder for the kernels of ``f``; call ``.done()`` to commit it. With
        ``configure`` (gradgen 0.5.2's form ``for_function(f, lambda b: b.add_primal())``), the
        block is configured by that callable, committed, and the builder returned."""
        block = FunctionBuilder(self, f)
        self._open.append(block)
        if configure is None:
            return block
        if not callable(configure):
            raise GradgenTypeError(
                f"for_function's configure must be callable, got {type(configure).__name__}"
            )
        configure(block)
        if not block.committed:
            block.done()
        return self

    def _commit(self, block: FunctionBuilder) -> None:
        self._open.remove(block)
        self._blocks.append(block)

    def _shorthand(self, method: str) -> FunctionBuilder:
        if self._implicit is None:
            raise ConfigError(
                f"{method} needs a function: use CodeGenerationBuilder(f).{method} or "
                f"CodeGenerationBuilder().for_function(f).{method}...done()"
            )
        return self._implicit

    # the single-function shorthand
    def add_primal(self) -> CodeGenerationBuilder:
        self._shorthand("add_primal()").add_primal()
        return self

    def add_gradient(self, wrt: int | Sequence[int] | None = None) -> CodeGenerationBuilder:
        self._shorthand("add_gradient()").add_gradient(wrt)
        return self

    def add_jacobian(
        self, wrt: int | Sequence[int] | None = None, sparse: bool = False
    ) -> CodeGenerationBuilder:
        self._shorthand("add_jacobian()").add_jacobian(wrt, sparse)
        return self

    def add_vjp(self, wrt: int | Sequence[int] | None = None) -> CodeGenerationBuilder:
        self._shorthand("add_vjp()").add_vjp(wrt)
        return self

    def add_hessian(
        self, wrt: int | Sequence[int] | None = None, sparse: bool = False, triangle: str = "full"
    ) -> CodeGenerationBuilder:
        self._shorthand("add_hessian()").add_hessian(wrt, sparse, triangle)
        return self

    def add_hvp(self, wrt: int | Sequence[int] | None = None) -> CodeGenerationBuilder:
        self._shorthand("add_hvp()").add_hvp(wrt)
        return self

    def add_joint(self, bundle: FunctionBundle | SingleShootingBundle) -> CodeGenerationBuilder:
        self._shorthand("add_joint()").add_joint(bundle)
        return self

    def with_simplification(self, level: str | int) -> CodeGenerationBuilder:
        self._shorthand("with_simplification()").with_simplification(level)
        return self

    # ---- generation ---------------------------------------------------------------------------------
    def _blocks_to_generate(self) -> list[FunctionBuilder]:
        if self._open:
            names = ", ".join(repr(b.function.name) for b in self._open)
            raise ConfigError(
                f"the for_function block(s) of {names} were not committed; call .done() on them"
            )
        blocks = [b for b in self._blocks if b.requests]
        if not blocks:
            raise ConfigError(
                "the builder has no kernels to generate; add some with "
                "for_function(f).add_primal()...done() (or CodeGenerationBuilder(f).add_primal())"
            )
        return blocks

    def crate_name_for(self, path: str | os.PathLike[str] | None) -> str:
        """The crate name: the config's (validated strictly) else the sanitized directory name
        (the rule of ``backends.crate.crate_name``)."""
        if self.config.crate_name is None and path is None:
            raise ConfigError("no crate name: set RustBackendConfig().with_crate_name(...) or give a path")
        return resolve_crate_name(self.config.crate_name, path if path is not None else "")

    def generate(self, crate_name: str | None = None) -> GeneratedCrate:
        """Compile every kernel and print the crate in memory (nothing is written)."""
        name = crate_name if crate_name is not None else self.crate_name_for(None)
        blocks = [(b.function, b.requests, b.level) for b in self._blocks_to_generate()]
        return generate_crate(blocks, self.config, name)

    def build(self, path: str | os.PathLike[str], overwrite: bool = False) -> BuildResult:
        """Write the crate (``Cargo.toml``, ``README.md``, ``metadata.json``, ``src/lib.rs``,
        ``src/ffi.rs`` and, unless the config turns them off with ``with_self_tests(False)``, the
        self-tests ``tests/reference.rs`` that ``cargo test`` runs) at ``path`` after every check
        passed; return the project directory, crate name and the generated functions. The write
        is all or nothing and keeps user files added to a generated crate; a directory holding
        files gradgen did not generate is refused unless ``overwrite=True`` (see
        ``backends.writes``).
        """
        project_dir = user_path(path, "the project path")
        crate = self.generate(self.crate_name_for(project_dir))
        if project_dir.exists() and not project_dir.is_dir():
            raise ProjectWriteError(f"cannot create a Rust project at {str(project_dir)!r}: it is a file")
        files = crate_files(
            crate.crate_name,
            crate.source,
            crate.signatures,
            self.config,
            ffi=True,
            metadata_file=True,
            facts={f.name: f.as_json() for f in crate.functions},
            kernels=crate.kernels,
        )
        interface = None
        if self.config.enable_python_interface:  # both crates checked before either is written
            named = [
                (builder_python_name(crate.crate_name, f.name, f.kind), f.signature) for f in crate.functions
            ]
            interface = plan_python_interface(project_dir, crate.crate_name, named, self.config)
            plan_write(project_dir, list(files), overwrite)
            check_python_interface(interface, overwrite)
        write_project(project_dir, files, overwrite=overwrite)
        if interface is not None:
            write_python_interface(interface, overwrite)
        if self.config.build_crate:
            cargo_build(project_dir, self.config.build_profile)
        if interface is not None:
            interface = built_python_interface(interface, self.config)
        return BuildResult(project_dir, crate, files["src/lib.rs"], interface)


def create_multi_function_rust_project(
    functions: Sequence[Function], path: str | os.PathLike[str], config: RustBackendConfig | None = None
) -> BuildResult:
    """One crate at ``path`` with one primal kernel per Function of ``functions`` (gradgen
    0.5.2's entry point; the same as ``CodeGenerationBuilder`` with ``add_primal()`` for each,
    so the kernels are named ``<crate>_<function>_f``)."""
    if isinstance(functions, Function) or not isinstance(functions, (list, tuple)):
        raise GradgenTypeError("create_multi_function_rust_project expects a list or tuple of Functions")
    builder = CodeGenerationBuilder()
    if config is not None:
        builder.with_backend_config(config)
    for f in functions:
        builder.for_function(f).add_primal().done()
    return builder.build(path)
