"""``gradgen-dump``: show what every compiler pass does to one kernel of a ``Function``.

Usage::

    gradgen-dump TARGET [--kernel KIND] [--wrt N] [--level LEVEL | --passes a,b,c]
                 [--print-ir-after-all] [--print-ir-after PASS]... [--print-ir-before PASS]...
                 [--diff] [--time-passes] [--stats] [--emit ir|rust|dot|none] [--max-nodes N]
                 [--backend-mode std|no_std] [--scalar-type f64|f32]

``KIND`` is ``primal`` (default), ``gradient``, ``jacobian``, ``hessian``, ``hvp``, ``jvp`` or
``vjp``; ``--wrt`` (default 0) picks the input block of a derivative kernel.

``TARGET`` is ``path/to/file.py:NAME`` or ``package.module:NAME`` (the current directory is
searched for modules; ``NAME`` may be dotted). ``NAME`` must be a ``gradgen.Function`` or a
callable taking no arguments that returns one. ``python -m gradgen.dump`` is the same command.

The pipeline is the one code generation uses (``gradgen.pipeline.codegen_pipeline``): for a
derivative ``--kernel`` the ``autodiff`` pass first, then the simplification passes of
``--level`` (default: the level of a default ``RustBackendConfig``, ``basic``), ``schedule``,
``allocate`` and ``sanitize`` (with the backend's helper names reserved). ``--passes a,b,c`` replaces
everything after ``autodiff`` by the listed passes of ``passes.pipelines.REGISTRY`` (and
``sanitize``). Every pass is verified by :class:`passes.manager.PassManager`. ``--emit rust``
prints ``backends.rust.emit_module`` of the final kernel with ``--backend-mode`` and
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
import difflib
import importlib
import importlib.util
import inspect
import os
import pathlib
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn, cast

import networkx as nx

from gradgen.backends.config import BACKEND_MODES, SCALAR_TYPES
from gradgen.backends.names import find_rust_names, rust_signature_lines
from gradgen.backends.rust import emit_module
from gradgen.config import RustBackendConfig
from gradgen.errors import GradgenError
from gradgen.ir.kernel import Kernel
from gradgen.ir.ops import OP_INFO, Op
from gradgen.ir.printer import format_kernel as format_ir
from gradgen.passes.autodiff import AutodiffPass
from gradgen.passes.manager import Pass, PassEvent, PassManager
from gradgen.passes.pipelines import LEVELS, passes_by_name

from .function import Function
from .pipeline import codegen_pipeline, sanitize_pass

PROG = "gradgen-dump"
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_TARGET = 3
EXIT_PIPELINE = 4
EXIT_OUTPUT = 5
KINDS: tuple[str, ...] = ("primal", "gradient", "jacobian", "hessian", "hvp", "jvp", "vjp")
EMITS: tuple[str, ...] = ("ir", "rust", "dot", "none")
DEFAULT_MAX_NODES = 500
#: the level ``generate_rust`` uses by default, so the dump shows what code generation compiles
DEFAULT_LEVEL = str(RustBackendConfig().simplification)
#: largest product of changed-region lengths given to difflib (larger regions become one hunk)
DIFF_WORK_LIMIT = 4_000_000
ENV_DUMP_DIR = "GRADGEN_DUMP_IR_TO"
_MASKED = "x.xxx"
_STALE_IR = re.compile(r"^\d{2,}-[^/]*\.ir$")

EPILOG = """\
exit codes: 0 ok; 2 usage (options, --kernel, --level, --wrt, --max-nodes); 3 target (file,
module, NAME, loading errors); 4 pipeline (unknown pass, invalid derivative request, IR that
fails verification, code generation errors); 5 output (DOT graph over --max-nodes, cannot write
$GRADGEN_DUMP_IR_TO or standard output). Errors are one line 'gradgen-dump: error: ...' on stderr.

environment: GRADGEN_DUMP_IR_TO=DIR writes DIR/00-input.ir and DIR/NN-<pass>.ir for every pass.

example: gradgen-dump examples/energy.py:energy --kernel gradient --print-ir-after=simplify --stats
"""


def format_kernel(kernel: Kernel) -> str:
    """The IR text of ``kernel`` (:func:`ir.printer.format_kernel`), with the Rust function and
    argument names once the sanitize pass chose them."""
    return format_ir(kernel, rust_signature_lines(kernel))


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


def _split_target(target: str) -> tuple[str, str]:
    where, sep, name = target.rpartition(":")
    if not sep or not where or not name:
        raise _Exit(EXIT_TARGET, f"target {target!r} must be 'path/to/file.py:NAME' or 'package.module:NAME'")
    return where, name


def _exception_text(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r})"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _load_file(path_text: str) -> Any:
    path = pathlib.Path(path_text)
    if not path.is_file():
        raise _Exit(EXIT_TARGET, f"no such file: {path_text!r}")
    module_name = "_gradgen_dump_target"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise _Exit(EXIT_TARGET, f"cannot load {path_text!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the target's own code may raise anything
        raise _Exit(EXIT_TARGET, f"loading {path_text!r} raised {_exception_text(exc)}") from None
    finally:
        sys.modules.pop(module_name, None)
        if folder in sys.path:
            sys.path.remove(folder)
    return module


def _load_module(name: str) -> Any:
    if not all(part.isidentifier() for part in name.split(".")):
        raise _Exit(EXIT_TARGET, f"{name!r} is neither a .py file nor a dotted module name")
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise _Exit(EXIT_TARGET, f"cannot import module {name!r}: {exc}") from None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the target's own code may raise anything
        raise _Exit(EXIT_TARGET, f"importing module {name!r} raised {_exception_text(exc)}") from None
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def load_target(target: str) -> Function:
    """The ``Function`` named by ``path/to/file.py:NAME`` or ``package.module:NAME``."""
    where, name = _split_target(target)
    is_file = where.endswith(".py") or "/" in where or os.sep in where
    module = _load_file(where) if is_file else _load_module(where)
    obj: Any = module
    for part in name.split("."):
        if not hasattr(obj, part):
            functions = sorted(k for k, v in vars(module).items() if isinstance(v, Function))
            hint = f"; Functions defined there: {', '.join(functions)}" if functions else ""
            raise _Exit(EXIT_TARGET, f"{where!r} has no attribute {name!r}{hint}")
        obj = getattr(obj, part)
    if isinstance(obj, Function):
        return obj
    if not callable(obj):
        raise _Exit(
            EXIT_TARGET,
            f"{name!r} in {where!r} is a {type(obj).__name__}, not a Function nor a zero-argument "
            "callable returning one",
        )
    try:
        inspect.signature(obj).bind()
    except TypeError:
        raise _Exit(
            EXIT_TARGET,
            f"{name!r} in {where!r} cannot be called without arguments; NAME must be a Function or a "
            "zero-argument callable returning one",
        ) from None
    except ValueError:
        pass  # no signature available (some builtins): try the call
    try:
        result = obj()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the target's own code may raise anything
        raise _Exit(EXIT_TARGET, f"calling {name}() from {where!r} raised {_exception_text(exc)}") from None
    if not isinstance(result, Function):
        raise _Exit(
            EXIT_TARGET, f"{name}() from {where!r} returned a {type(result).__name__}, not a Function"
        )
    return result


# ---- pipeline ----------------------------------------------------------------------------------


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


def _workspace(kernel: Kernel) -> str:
    return "-" if kernel.allocation is None else str(kernel.allocation.workspace_size)


def _unified_range(start: int, stop: int) -> str:
    """A hunk range in unified-diff notation (as ``difflib`` writes it)."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start if length == 0 else start + 1},{length}"


def unified_diff(before: list[str], after: list[str], name: str) -> list[str]:
    """Unified diff of two IR listings, bounded to linear time on large rewrites.

    The common prefix and suffix are found first. When the changed region is small (the product of
    its two lengths at most ``DIFF_WORK_LIMIT``) ``difflib`` computes a minimal diff; otherwise the
    whole changed region is one hunk (every old line removed, every new line added, three lines of
    context), which is still a valid unified diff but avoids ``difflib``'s quadratic worst case.
    """
    if before == after:
        return []
    n = min(len(before), len(after))
    prefix = 0
    while prefix < n and before[prefix] == after[prefix]:
        prefix += 1
    suffix = 0
    while suffix < n - prefix and before[-1 - suffix] == after[-1 - suffix]:
        suffix += 1
    old = before[prefix : len(before) - suffix]
    new = after[prefix : len(after) - suffix]
    head = [f"--- before {name}", f"+++ after {name}"]
    if len(old) * len(new) <= DIFF_WORK_LIMIT:
        return list(difflib.unified_diff(before, after, head[0][4:], head[1][4:], lineterm=""))
    start = max(0, prefix - 3)
    context_after = before[len(before) - suffix : len(before) - suffix + 3]
    a_stop = prefix + len(old) + len(context_after)
    b_stop = prefix + len(new) + len(context_after)
    return [
        *head,
        f"@@ -{_unified_range(start, a_stop)} +{_unified_range(start, b_stop)} @@",
        *(" " + line for line in before[start:prefix]),
        *("-" + line for line in old),
        *("+" + line for line in new),
        *(" " + line for line in context_after),
    ]


def format_diff(event: PassEvent) -> str:
    """``event``'s change as a unified diff of the printed IR (empty when nothing changed)."""
    before = format_kernel(event.before).splitlines()
    after = format_kernel(event.after).splitlines()
    return "\n".join(unified_diff(before, after, event.name))


def format_time_table(events: Sequence[PassEvent], mask: bool) -> str:
    """The ``--time-passes`` table: wall time, op count and workspace before/after each pass."""
    head = ("#", "pass", "wall ms", "ops before", "ops after", "workspace before", "workspace after")
    rows = [
        (
            str(e.index + 1),
            e.name,
            _MASKED if mask else f"{e.seconds * 1e3:.3f}",
            str(e.before.op_count()),
            str(e.after.op_count()),
            _workspace(e.before),
            _workspace(e.after),
        )
        for e in events
    ]
    total = sum(e.seconds for e in events)
    rows.append(("", "total", _MASKED if mask else f"{total * 1e3:.3f}", "", "", "", ""))
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    lines = []
    for r in (head, *rows):
        cells = [r[0].rjust(widths[0]), r[1].ljust(widths[1])] + [
            c.rjust(w) for c, w in zip(r[2:], widths[2:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def format_stats(kernel: Kernel, events: Sequence[PassEvent]) -> str:
    """The ``--stats`` text: instruction counts, depth, workspace, op histogram, and the rules
    fired by each pass (the ``"rules_fired"`` note of the kernel it made)."""
    n_inputs = sum(1 for op in kernel.ops if op is Op.INPUT)
    n_consts = sum(1 for op in kernel.ops if op is Op.CONST)
    rows: list[tuple[str, str]] = [
        ("kernel", kernel.name),
        ("instructions", str(len(kernel.ops))),
        ("  computed", str(kernel.op_count())),
        ("  inputs", str(n_inputs)),
        ("  constants", str(n_consts)),
        ("outputs", str(sum(len(r) for r in kernel.results))),
        ("depth", str(kernel.depth())),
    ]
    alloc = kernel.allocation
    if alloc is None:
        rows.append(("workspace", "- (not allocated: the pipeline has no allocate pass)"))
    else:
        rows.append(
            (
                "workspace",
                f"{alloc.workspace_size} ({len(alloc.chunks)} chunk(s), {alloc.register_count} registers)",
            )
        )
    rows.append(("op histogram", ""))
    rows.extend((f"  {name}", str(count)) for name, count in kernel.histogram().items())
    for event in events:
        fired = event.after.note("rules_fired")
        if fired and fired is not event.before.note("rules_fired"):  # made here, not carried over
            rows.append((f"rules fired by pass {event.index + 1} ({event.name})", ""))
            rows.extend((f"  {rule}", str(count)) for rule, count in sorted(fired.items()))
    width = max(len(label) for label, value in rows if value)
    return "\n".join(f"{label.ljust(width)}  {value}".rstrip() for label, value in rows) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def kernel_graph(kernel: Kernel) -> nx.MultiDiGraph[str]:
    """The kernel as a networkx graph: value nodes ``v<i>``, output nodes ``<port>[<j>]``."""
    g: nx.MultiDiGraph[str] = nx.MultiDiGraph(name=kernel.name)
    for i, op in enumerate(kernel.ops):
        attr = kernel.attrs[i]
        if op is Op.INPUT:
            g.add_node(f"v{i}", label=f"{kernel.inputs[attr[0]].name}[{attr[1]}]", shape="box")
        elif op is Op.CONST:
            g.add_node(f"v{i}", label=repr(attr), shape="plaintext")
        else:
            info = OP_INFO[op]
            name = info.name if attr is None else f"{info.name}[{attr!r}]"
            g.add_node(f"v{i}", label=f"v{i} = {name}", shape="ellipse")
            args = kernel.args[i]
            positional = len(args) > 1 and not info.commutative
            for k, a in enumerate(args):
                if positional:
                    g.add_edge(f"v{a}", f"v{i}", label=str(k))
                else:
                    g.add_edge(f"v{a}", f"v{i}")
    for port, res in zip(kernel.outputs, kernel.results, strict=True):
        for j, v in enumerate(res):
            node = f"{port.name}[{j}]"
            g.add_node(node, label=node, shape="house")
            g.add_edge(f"v{v}", node)
    return g


def format_dot(graph: nx.MultiDiGraph[str]) -> str:
    """Graphviz DOT text of a graph built by :func:`kernel_graph` (nodes and edges in insertion order)."""

    def attrs(data: dict[str, Any]) -> str:
        if not data:
            return ""
        return " [" + ", ".join(f"{k}={_dot_quote(str(v))}" for k, v in sorted(data.items())) + "]"

    lines = [
        f"digraph {_dot_quote(str(graph.graph.get('name', 'kernel')))} {{",
        '  node [fontname="monospace"];',
    ]
    for node, data in graph.nodes(data=True):
        lines.append(f"  {_dot_quote(node)}{attrs(data)};")
    for a, b, data in graph.edges(data=True):
        lines.append(f"  {_dot_quote(a)} -> {_dot_quote(b)}{attrs(data)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


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


def run(args: argparse.Namespace) -> int:
    """Carry out parsed options; raises ``_Exit`` for documented failures."""
    if args.max_nodes < 1:
        raise _Exit(EXIT_USAGE, f"--max-nodes must be at least 1, got {args.max_nodes}")
    function = load_target(args.target)
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
