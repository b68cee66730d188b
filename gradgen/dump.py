"""``gradgen-dump``: show what every compiler pass does to one kernel of a ``Function``.

Usage::

    gradgen-dump TARGET [--kernel KIND] [--wrt N] [--level LEVEL | --passes a,b,c]
                 [--print-ir-after-all] [--print-ir-after PASS]... [--print-ir-before PASS]...
                 [--diff] [--time-passes] [--stats] [--emit ir|rust|dot|none] [--max-nodes N]
                 [--backend-mode std|no_std] [--scalar-type f64|f32]

``KIND`` is ``primal`` (default), ``gradient``, ``jacobian``, ``sparse_jacobian``, ``hessian``,
``hvp``, ``jvp`` or ``vjp``; ``--wrt`` (default 0) picks the input block of a derivative kernel.
For ``sparse_jacobian`` (:class:`passes.sparsity.SparseJacobianPass`), ``--stats`` also reports
the sweeps the compressed Jacobian uses against the dense one (``sparse sweeps``).

``TARGET`` is ``path/to/file.py:NAME`` or ``package.module:NAME`` (the current directory is
searched for modules; ``NAME`` may be dotted). ``NAME`` must be a ``gradgen.Function`` or a
staged function (``map_function``, ...), or a callable taking no arguments that returns one.
A staged function runs the module pipeline (each kernel it calls, then its own layout and
naming passes); ``--emit ir`` prints every kernel of the module, callees first.
``python -m gradgen.dump`` is the same command.

The pipeline is the one code generation uses (``gradgen.pipeline.codegen_pipeline``): for a
derivative ``--kernel`` the ``autodiff`` pass first, then the simplification passes of
``--level`` (default: the level of a default ``RustBackendConfig``, ``basic``), ``schedule``,
``allocate`` and ``sanitize`` (with the backend's helper names reserved). ``--passes a,b,c`` replaces
everything after ``autodiff`` by the listed passes of ``passes.pipelines.REGISTRY`` (and
``sanitize``). Every pass is verified by :class:`passes.manager.PassManager`. ``--emit rust``
prints ``backends.rust_module.emit_module`` of the final kernel with ``--backend-mode`` and
``--scalar-type``: the same module ``Function.generate_rust`` returns for that configuration.

Output goes to stdout in pipeline order: for each pass the requested ``IR before``, ``IR after``
and ``diff`` sections, then the final kernel in the ``--emit`` form (``ir`` by default; ``none``
prints nothing), then ``--stats``, then the ``--time-passes`` table. Section headers are IR
comments (``;; ---- ... ----``); when ``--emit`` output is the only section it is printed
without a header, so ``--emit dot`` and ``--emit rust`` can be piped. All IR text comes from
:func:`ir.printer.format_kernel`; everything but the timing column is deterministic.

``--emit dot`` builds a ``networkx.MultiDiGraph`` (one node per value and per output element,
one edge per argument, labelled with the argument position for non-commutative operations) and
writes it as Graphviz DOT text. A graph with more than ``--max-nodes`` nodes (default 500) is an
error (exit 5) rather than a silently truncated picture.

With ``GRADGEN_DUMP_IR_TO=DIR`` set, ``DIR/00-input.ir`` (the kernel before the first pass) and
``DIR/NN-<pass>.ir`` (the kernel after pass ``NN``) are written; stale ``NN-*.ir`` files of an
earlier run are removed first, and nothing else in ``DIR`` is touched.

Exit codes (each error is one line ``gradgen-dump: error: ...`` on stderr):

* 0 success;
* 2 usage: unknown option, unknown ``--kernel``, ``--level``, ``--emit``, ``--backend-mode`` or
  ``--scalar-type`` value, malformed ``--passes``,
  bad ``--wrt`` (not an integer, out of range, or given for ``--kernel primal``), bad
  ``--max-nodes``;
* 3 target: malformed target, missing file or module, an exception while loading it, missing
  ``NAME``, ``NAME`` neither a ``Function`` nor a zero-argument callable returning one;
* 4 pipeline: unknown pass name (in ``--passes``, ``--print-ir-after``, ``--print-ir-before``),
  a derivative request the function does not admit, IR that fails verification (the target's
  own kernel or after a pass), ``--emit rust`` without the allocate and sanitize passes, code
  generation refusing the kernel (e.g. names that collide once sanitized);
* 5 output: the DOT graph exceeds ``--max-nodes``, ``GRADGEN_DUMP_IR_TO`` cannot be written,
  standard output cannot be written (a full disk, ``> /dev/full``).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import sys
from collections.abc import Iterable, Sequence
from typing import NoReturn, cast

from gradgen.backends.config import BACKEND_MODES, SCALAR_TYPES
from gradgen.backends.names import find_rust_names
from gradgen.backends.rust_module import emit_module
from gradgen.config import RustBackendConfig
from gradgen.errors import GradgenError
from gradgen.ir.expr import SX
from gradgen.ir.kernel import Kernel
from gradgen.ir.staged import module_of
from gradgen.passes.autodiff import AutodiffPass
from gradgen.passes.manager import Pass, PassEvent, PassManager
from gradgen.passes.pipelines import LEVELS, passes_by_name
from gradgen.passes.sparsity import SparseJacobianPass

from .dump_format import (
    format_diff,
    format_dot,
    format_kernel,
    format_stats,
    format_time_table,
    kernel_graph,
)
from .dump_load import TargetError, load_target
from .function import Function
from .pipeline import codegen_pipeline, compile_kernel, sanitize_pass

PROG = "gradgen-dump"
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_TARGET = 3
EXIT_PIPELINE = 4
EXIT_OUTPUT = 5
KINDS: tuple[str, ...] = (
    "primal",
    "gradient",
    "jacobian",
    "sparse_jacobian",
    "hessian",
    "hvp",
    "jvp",
    "vjp",
)
EMITS: tuple[str, ...] = ("ir", "rust", "dot", "none")
DEFAULT_MAX_NODES = 500
#: the level ``generate_rust`` uses by default, so the dump shows what code generation compiles
DEFAULT_LEVEL = str(RustBackendConfig().simplification)
#: largest product of changed-region lengths given to difflib (larger regions become one hunk)
ENV_DUMP_DIR = "GRADGEN_DUMP_IR_TO"
_STALE_IR = re.compile(r"^\d{2,}-[^/]*\.ir$")

EPILOG = """\
exit codes: 0 ok; 2 usage (options, --kernel, --level, --wrt, --max-nodes); 3 target (file,
module, NAME, loading errors); 4 pipeline (unknown pass, invalid derivative request, IR that
fails verification, code generation errors); 5 output (DOT graph over --max-nodes, cannot write
$GRADGEN_DUMP_IR_TO or standard output). Errors are one line 'gradgen-dump: error: ...' on stderr.

environment: GRADGEN_DUMP_IR_TO=DIR writes DIR/00-input.ir and DIR/NN-<pass>.ir for every pass.

example: gradgen-dump examples/energy.py:energy --kernel gradient --print-ir-after=simplify --stats
"""


class _Exit(Exception):
    """A documented failure of the command: exit ``code`` after printing ``message``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = " ".join(message.split())


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _Exit(EXIT_USAGE, message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Show what every gradgen compiler pass does to one kernel of a Function.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", metavar="TARGET", help="path/to/file.py:NAME or package.module:NAME")
    p.add_argument(
        "--kernel", choices=KINDS, default="primal", help="which kernel to build (default: primal)"
    )
    p.add_argument(
        "--wrt",
        metavar="N",
        type=int,
        default=None,
        help="input block to differentiate with respect to (derivative kernels; default 0)",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--level",
        default=DEFAULT_LEVEL,
        help=(
            f"simplification level: {', '.join(LEVELS)} or 0-4 (default: {DEFAULT_LEVEL}, as code generation)"
        ),
    )
    group.add_argument(
        "--passes", metavar="A,B,C", help="run these registered passes instead of the level pipeline"
    )
    p.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass")
    p.add_argument(
        "--print-ir-after",
        metavar="PASS",
        action="append",
        default=[],
        help="print the IR after each pass named PASS (repeatable)",
    )
    p.add_argument(
        "--print-ir-before",
        metavar="PASS",
        action="append",
        default=[],
        help="print the IR before each pass named PASS (repeatable)",
    )
    p.add_argument("--diff", action="store_true", help="print every pass as a unified diff of the IR")
    p.add_argument(
        "--time-passes",
        action="store_true",
        help="table of wall time, op count and workspace before/after per pass",
    )
    p.add_argument(
        "--stats",
        action="store_true",
        help="op histogram, instruction count, depth and workspace of the final kernel",
    )
    p.add_argument("--emit", choices=EMITS, default="ir", help="form of the final kernel (default: ir)")
    p.add_argument(
        "--backend-mode",
        choices=BACKEND_MODES,
        default="std",
        help="--emit rust: std or no_std (default: std)",
    )
    p.add_argument(
        "--scalar-type", choices=SCALAR_TYPES, default="f64", help="--emit rust: f64 or f32 (default: f64)"
    )
    p.add_argument(
        "--max-nodes",
        metavar="N",
        type=int,
        default=DEFAULT_MAX_NODES,
        help=f"largest graph --emit dot draws (default: {DEFAULT_MAX_NODES})",
    )
    # replaces the timing numbers by a fixed mask so the output can be compared in tests
    p.add_argument("--no-timings", action="store_true", help=argparse.SUPPRESS)
    return p


# ---- target loading ----------------------------------------------------------------------------


def _pass_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    if not any(names):
        raise _Exit(EXIT_USAGE, "--passes needs at least one pass name")
    if not all(names):
        raise _Exit(EXIT_USAGE, f"--passes {text!r} contains an empty pass name")
    return names


def build_pipeline(args: argparse.Namespace, function: Function) -> list[Pass]:
    """The passes the options ask for, in order (raises ``_Exit`` on invalid options)."""
    passes: list[Pass] = []
    if args.kernel == "primal":
        if args.wrt is not None:
            raise _Exit(EXIT_USAGE, "--wrt applies to derivative kernels, not to --kernel primal")
    else:
        wrt = 0 if args.wrt is None else args.wrt
        n = len(function.input_names)
        if not 0 <= wrt < n:
            raise _Exit(
                EXIT_USAGE,
                f"--wrt {wrt} is out of range: function {function.name!r} has {n} input(s) "
                f"({', '.join(function.input_names)}), so use 0-{n - 1}",
            )
        if args.kernel == "sparse_jacobian":
            passes.append(cast(Pass, SparseJacobianPass(wrt)))
        else:
            passes.append(cast(Pass, AutodiffPass(args.kernel, wrt)))
    if args.passes is not None:
        try:
            passes.extend(passes_by_name(_pass_names(args.passes), extra={"sanitize": sanitize_pass}))
        except GradgenError as exc:
            raise _Exit(EXIT_PIPELINE, str(exc)) from None
    else:
        try:
            passes.extend(codegen_pipeline(args.level if not args.level.isdigit() else int(args.level)))
        except GradgenError as exc:
            raise _Exit(EXIT_USAGE, str(exc)) from None
    present = [p.name for p in passes]
    for option, names in (
        ("--print-ir-after", args.print_ir_after),
        ("--print-ir-before", args.print_ir_before),
    ):
        for name in names:
            if name not in present:
                raise _Exit(
                    EXIT_PIPELINE,
                    f"{option}: no pass named {name!r} in the pipeline ({', '.join(present) or 'empty'})",
                )
    return passes


# ---- sections ----------------------------------------------------------------------------------


class _Printer:
    """Writes titled sections to stdout, one blank line apart."""

    def __init__(self) -> None:
        self.count = 0

    def section(self, title: str | None, body: str) -> None:
        out = sys.stdout
        try:
            if self.count:
                out.write("\n")
            if title is not None:
                out.write(f";; ---- {title} ----\n")
            out.write(body if body.endswith("\n") or not body else body + "\n")
            out.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:  # a full disk, /dev/full, a closed descriptor
            _detach_stdout()
            raise _Exit(EXIT_OUTPUT, f"cannot write to standard output: {exc.strerror or exc}") from None
        self.count += 1


def _detach_stdout() -> None:
    """Point file descriptor 1 at the null device, so that what is still buffered for standard
    output (and Python's flush at exit) cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


class _PrintBefore:
    """Runs ``inner`` after printing the kernel it receives."""

    def __init__(self, inner: Pass, number: int, total: int, printer: _Printer) -> None:
        self.inner = inner
        self.name = inner.name
        self.title = f"IR before {inner.name} (pass {number} of {total})"
        self.printer = printer

    def run(self, kernel: Kernel) -> Kernel:
        self.printer.section(self.title, format_kernel(kernel))
        return self.inner.run(kernel)


def _emit_dot(kernel: Kernel, max_nodes: int) -> str:
    size = len(kernel.ops) + sum(len(r) for r in kernel.results)
    if size > max_nodes:
        raise _Exit(
            EXIT_OUTPUT,
            f"kernel {kernel.name!r} has {size} graph nodes, more than --max-nodes {max_nodes}; "
            "raise --max-nodes or use --emit ir",
        )
    return format_dot(kernel_graph(kernel))


def _emit_rust(kernel: Kernel, args: argparse.Namespace) -> str:
    if kernel.allocation is None or find_rust_names(kernel) is None:
        raise _Exit(
            EXIT_PIPELINE,
            "--emit rust needs a kernel annotated by the allocate and sanitize passes; "
            "add them to --passes (e.g. --passes cse,schedule,allocate,sanitize)",
        )
    config = RustBackendConfig(backend_mode=args.backend_mode, scalar_type=args.scalar_type)
    try:
        return emit_module([kernel], config)
    except GradgenError as exc:
        raise _Exit(EXIT_PIPELINE, str(exc)) from None


# ---- the command -------------------------------------------------------------------------------


def _prepare_dump_dir() -> pathlib.Path | None:
    value = os.environ.get(ENV_DUMP_DIR)
    if not value:
        return None
    folder = pathlib.Path(value)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            if _STALE_IR.match(old.name) and old.is_file():
                old.unlink()
    except OSError as exc:
        raise _Exit(
            EXIT_OUTPUT, f"cannot write IR files to {ENV_DUMP_DIR}={value!r}: {exc.strerror or exc}"
        ) from None
    return folder


def _write_ir(folder: pathlib.Path, number: int, width: int, name: str, kernel: Kernel) -> None:
    path = folder / f"{number:0{width}d}-{name}.ir"
    try:
        path.write_text(format_kernel(kernel))
    except OSError as exc:
        raise _Exit(EXIT_OUTPUT, f"cannot write {str(path)!r}: {exc.strerror or exc}") from None


def describe_symbols(symbols: Iterable[SX]) -> str:
    """One line ``name: {metadata}`` per symbol given metadata by ``SX.sym(..., metadata=)``."""
    return "\n".join(f"{s.name}: {s.metadata!r}" for s in symbols if s.metadata)


def run(args: argparse.Namespace) -> int:
    """Carry out parsed options; raises ``_Exit`` for documented failures."""
    if args.max_nodes < 1:
        raise _Exit(EXIT_USAGE, f"--max-nodes must be at least 1, got {args.max_nodes}")
    try:
        function = load_target(args.target)
    except TargetError as exc:
        raise _Exit(EXIT_TARGET, str(exc)) from None
    if function.kernel.steps:
        return _run_staged(args, function)
    passes = build_pipeline(args, function)
    folder = _prepare_dump_dir()
    width = max(2, len(str(len(passes))))
    after = set(args.print_ir_after)
    before = set(args.print_ir_before)
    printer = _Printer()
    events: list[PassEvent] = []
    total = len(passes)

    def on_pass(event: PassEvent) -> None:
        events.append(event)
        where = f"{event.name} (pass {event.index + 1} of {total})"
        if args.print_ir_after_all or event.name in after:
            printer.section(f"IR after {where}", format_kernel(event.after))
        if args.diff:
            text = format_diff(event)
            change = f"{event.before.op_count()} ops -> {event.after.op_count()} ops"
            printer.section(f"diff {where}: {change}" if text else f"diff {where}: no change", text)
        if folder is not None:
            _write_ir(folder, event.index + 1, width, event.name, event.after)

    metadata = describe_symbols(s for block in function.input_symbols for s in block)
    if metadata:
        printer.section("symbol metadata", metadata)
    if folder is not None:
        _write_ir(folder, 0, width, "input", function.kernel)
    # "IR before" is printed by a wrapper just before the pass runs, so it shows even when it fails
    traced: list[Pass] = [
        _PrintBefore(p, k + 1, total, printer) if p.name in before else p for k, p in enumerate(passes)
    ]
    try:
        kernel = PassManager(traced, callback=on_pass).run(function.kernel)
    except GradgenError as exc:
        raise _Exit(EXIT_PIPELINE, str(exc)) from None
    if args.emit != "none":
        if args.emit == "dot":
            text = _emit_dot(kernel, args.max_nodes)
        elif args.emit == "rust":
            text = _emit_rust(kernel, args)
        else:
            text = format_kernel(kernel)
        printer.section(
            f"output (--emit {args.emit})" if printer.count or args.stats or args.time_passes else None, text
        )
    if args.stats:
        printer.section("stats", format_stats(kernel, events))
    if args.time_passes:
        printer.section("pass timing", format_time_table(events, args.no_timings))
    return EXIT_OK


def _run_staged(args: argparse.Namespace, function: Function) -> int:
    """A staged function: the module pipeline of ``gradgen.pipeline`` (each callee, then the
    staged kernel); ``--emit ir`` prints every kernel of the module, callees first."""
    if args.kernel != "primal" or args.passes is not None or args.print_ir_before or args.diff:
        raise _Exit(
            EXIT_USAGE,
            f"{function.name!r} is a staged function: only --kernel primal with the default pipeline "
            "(no --passes, --print-ir-before or --diff) is supported",
        )
    printer = _Printer()
    events: list[PassEvent] = []
    after = set(args.print_ir_after)

    def on_pass(event: PassEvent) -> None:
        events.append(event)
        if args.print_ir_after_all or event.name in after:
            printer.section(f"IR after {event.name} (kernel {event.after.name})", format_kernel(event.after))

    level = args.level if not args.level.isdigit() else int(args.level)
    config = RustBackendConfig(backend_mode=args.backend_mode, scalar_type=args.scalar_type)
    try:
        kernel = compile_kernel(function.kernel, config.with_simplification(level), callback=on_pass)
    except GradgenError as exc:
        raise _Exit(EXIT_PIPELINE, str(exc)) from None
    if args.emit != "none":
        if args.emit == "rust":
            text = _emit_rust(kernel, args)
        elif args.emit == "dot":
            raise _Exit(EXIT_USAGE, "--emit dot draws straight-line kernels; use --emit ir for a staged one")
        else:
            text = "\n".join(format_kernel(k) for k in module_of([kernel]))
        printer.section(f"output (--emit {args.emit})" if printer.count or args.time_passes else None, text)
    if args.time_passes:
        printer.section("pass timing", format_time_table(events, args.no_timings))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``gradgen-dump`` and ``python -m gradgen.dump``; returns the exit code."""
    parser = _parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help
            return exc.code if isinstance(exc.code, int) else EXIT_OK
        return run(args)
    except _Exit as exc:
        sys.stdout.flush()
        print(f"{PROG}: error: {exc.message}", file=sys.stderr)
        return exc.code
    except BrokenPipeError:
        # the reader (e.g. ``| head``) went away: stop quietly, as Unix filters do
        _detach_stdout()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
