"""The three floors import one way only: ``gradgen -> passes, backends -> ir``.

Every module of the façade (``gradgen/``), ``ir/``, ``passes/`` and ``backends/`` is parsed with
``ast``; every import is collected, including the local ones inside functions and the ones under
``if TYPE_CHECKING:``, relative imports are resolved against the module's package, and any arrow
outside the allowed ones fails, as does an import of a bare top-level ``ir``, ``passes`` or
``backends`` (they are installed as ``gradgen.ir`` etc.). The IR and the passes know no target
language: no identifier or string of theirs (docstrings and comments aside) mentions Rust, libm
or cargo.
"""

from __future__ import annotations

import ast
import pathlib
import re
from collections.abc import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: folder -> (layer, dotted package of its modules)
FLOORS: dict[str, tuple[str, str]] = {
    "gradgen": ("gradgen", "gradgen"),
    "ir": ("ir", "gradgen.ir"),
    "passes": ("passes", "gradgen.passes"),
    "backends": ("backends", "gradgen.backends"),
}

#: layer -> the layers it may import
ALLOWED: dict[str, frozenset[str]] = {
    "gradgen": frozenset({"gradgen", "passes", "backends", "ir"}),
    "passes": frozenset({"passes", "ir"}),
    "backends": frozenset({"backends", "ir"}),
    "ir": frozenset({"ir"}),
}

BARE_FLOORS = frozenset({"ir", "passes", "backends"})
TARGET_WORDS = re.compile(r"rust|libm|cargo", re.IGNORECASE)


def modules() -> Iterator[tuple[str, str, pathlib.Path]]:
    """(layer, dotted module name, path) of every module of the four folders."""
    for folder, (layer, package) in FLOORS.items():
        for path in sorted((ROOT / folder).glob("*.py")):
            # gradgen/ir, gradgen/passes, gradgen/backends are links to the other floors: the
            # glob does not descend into them, so each module is visited once, in its own floor
            stem = path.stem
            name = package if stem == "__init__" else f"{package}.{stem}"
            yield layer, name, path


def imported_modules(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``source`` (wherever it is nested)."""
    package = module if is_package else module.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base_parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                if node.level - 1 >= len(parts):
                    raise ValueError(f"{module}: relative import beyond the top-level package")
                base = ".".join(base_parts)
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if node.module is None:  # ``from . import a, b``: each name may be a submodule
                out.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names)
            else:
                out.append((node.lineno, target))
    return out


def layer_of(target: str) -> str | None:
    """The layer an absolute module name belongs to; ``None`` for anything outside gradgen."""
    parts = target.split(".")
    if parts[0] != "gradgen":
        return None
    if len(parts) > 1 and parts[1] in BARE_FLOORS:
        return parts[1]
    return "gradgen"


def violations(layer: str, module: str, source: str, is_package: bool = False) -> list[str]:
    found = []
    for line, target in imported_modules(source, module, is_package):
        top = target.split(".")[0]
        if top in BARE_FLOORS:
            found.append(f"{module}:{line} imports {target!r} without the 'gradgen.' prefix")
            continue
        target_layer = layer_of(target)
        if target_layer is not None and target_layer not in ALLOWED[layer]:
            found.append(f"{module}:{line} ({layer}) imports {target} ({target_layer})")
    return found


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring constants of the module, its classes and its functions."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0].value if node.body and isinstance(node.body[0], ast.Expr) else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                ids.add(id(first))
    return ids


def target_mentions(source: str, module: str) -> list[str]:
    """Identifiers and string literals (docstrings excluded) naming Rust, libm or cargo."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        words: list[str] = []
        if isinstance(node, ast.Name):
            words.append(node.id)
        elif isinstance(node, ast.Attribute):
            words.append(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            words.append(node.name)
        elif isinstance(node, ast.arg) or (isinstance(node, ast.keyword) and node.arg is not None):
            words.append(node.arg)
        elif isinstance(node, ast.alias):
            words.extend(w for w in (node.name, node.asname) if w)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            words.append(node.value)
        found.extend(
            f"{module}:{getattr(node, 'lineno', '?')} {w!r}" for w in words if TARGET_WORDS.search(w)
        )
    return found


ALL_MODULES = list(modules())


def test_every_floor_has_modules() -> None:
    layers = {layer for layer, _, _ in ALL_MODULES}
    assert layers == set(FLOORS)
    assert len(ALL_MODULES) > 40


def test_imports_flow_one_way() -> None:
    bad = []
    for layer, module, path in ALL_MODULES:
        bad += violations(layer, module, path.read_text(), path.stem == "__init__")
    assert not bad, "imports against the layering gradgen -> passes, backends -> ir:\n" + "\n".join(bad)


@pytest.mark.parametrize("layer", ["ir", "passes"])
def test_ir_and_passes_know_no_target_language(layer: str) -> None:
    bad = []
    for module_layer, module, path in ALL_MODULES:
        if module_layer == layer:
            bad += target_mentions(path.read_text(), module)
    assert not bad, f"{layer}/ mentions the Rust target:\n" + "\n".join(bad)


# ---- the checks themselves catch what they are meant to catch ------------------------------------


@pytest.mark.parametrize(
    ("layer", "module", "source", "expected"),
    [
        ("ir", "gradgen.ir.kernel", "from gradgen.passes.cse import CSEPass\n", "(passes)"),
        ("ir", "gradgen.ir.kernel", "from ..backends.names import sanitize\n", "gradgen.backends.names"),
        ("ir", "gradgen.ir.printer", "import gradgen\n", "(gradgen)"),
        (
            "passes",
            "gradgen.passes.simplify",
            "def f():\n    from gradgen.backends import rust\n",
            "(backends)",
        ),
        ("passes", "gradgen.passes.cse", "from .. import function\n", "gradgen.function (gradgen)"),
        (
            "backends",
            "gradgen.backends.rust",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from gradgen.passes import manager\n",
            "(passes)",
        ),
        ("backends", "gradgen.backends.crate", "from gradgen.function import Function\n", "(gradgen)"),
        ("gradgen", "gradgen.codegen", "from ir.kernel import Kernel\n", "without the 'gradgen.' prefix"),
        ("gradgen", "gradgen.codegen", "import passes.cse\n", "without the 'gradgen.' prefix"),
    ],
)
def test_layering_check_flags(layer: str, module: str, source: str, expected: str) -> None:
    found = violations(layer, module, source)
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize(
    ("layer", "module", "source"),
    [
        ("gradgen", "gradgen.codegen", "from gradgen.passes import cse\nfrom .pipeline import x\n"),
        ("gradgen", "gradgen", "from .function import Function\nfrom gradgen.backends import rust\n"),
        ("passes", "gradgen.passes.cse", "from gradgen.ir.kernel import Kernel\nfrom . import schedule\n"),
        ("backends", "gradgen.backends.rust", "from .names import sanitize\nimport attrs, json\n"),
        ("ir", "gradgen.ir.kernel", "from .expr import float_key\nimport math\n"),
    ],
)
def test_layering_check_allows(layer: str, module: str, source: str) -> None:
    assert violations(layer, module, source, is_package=module == "gradgen") == []


def test_relative_imports_resolve_against_the_package() -> None:
    got = imported_modules("from . import a\nfrom .b import c\nfrom ..ir import d\n", "gradgen.passes.x")
    assert [t for _, t in got] == ["gradgen.passes.a", "gradgen.passes.b", "gradgen.ir"]
    got = imported_modules("from .config import C\n", "gradgen", is_package=True)
    assert [t for _, t in got] == ["gradgen.config"]


@pytest.mark.parametrize(
    "source",
    [
        "RUST_KEYWORDS = frozenset()\n",
        'MODULE_NAMES = {"libm": "the crate \'libm\'"}\n',
        'def f(n):\n    return f"  ; rust fn {n}"\n',
        "class NameTable:\n    cargo_home: str\n",
        "def f(rust_name):\n    pass\n",
    ],
)
def test_target_check_flags(source: str) -> None:
    assert target_mentions(source, "m")


def test_target_check_skips_docstrings() -> None:
    source = (
        '"""Matches what the generated Rust computes."""\n\ndef f():\n    """libm-like."""\n    return 1\n'
    )
    assert target_mentions(source, "m") == []
