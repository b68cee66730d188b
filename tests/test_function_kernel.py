"""A ``Function`` is its kernel: derivatives, simplification, sparse Hessians and code generation
never build ``SX`` expressions; expressions are raised from the kernel only when asked for.

SX construction is counted by wrapping the two functions of :mod:`ir.expr` through which every
node is made (``_make`` folds and ``_intern`` hash-conses; ``SX.sym``, ``SX.const``, ``SX.make``
and the arithmetic operators all call them).
"""

from __future__ import annotations

import ast
import math
import pathlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import pytest

import gradgen as gg
from gradgen import SX, Function, SXVector
from gradgen.ir import expr as sx_module
from gradgen.ir.errors import FunctionDefinitionError, GradgenTypeError
from gradgen.ir.kernel import Kernel
from gradgen.passes.manager import PassManager
from gradgen.passes.sparsity import HessianPattern, SparseHessianPass, sparse_hessian_kernel

GRADGEN = pathlib.Path(gg.__file__).parent


@attrs.define
class Counter:
    calls: int = 0


@contextmanager
def counting_sx(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter]:
    """Count every attempt to make an SX node while the block runs."""
    counter = Counter()

    def counted(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counter.calls += 1
            return fn(*args, **kwargs)

        return wrapper

    with monkeypatch.context() as m:
        m.setattr(sx_module, "_make", counted(sx_module._make))
        m.setattr(sx_module, "_intern", counted(sx_module._intern))
        yield counter


def energy() -> tuple[Function, SXVector, SX]:
    x = SXVector.sym("x", 3)
    u = SX.sym("u")
    e = x.norm2sq() + u * gg.sin(x[0]) + x[1] * x[2] + u**3
    return Function("energy", [x, u], [e], input_names=["x", "u"], output_names=["e"]), x, u


def large_primal(ops: int) -> Function:
    """About ``ops`` operations over 1000 inputs: a deep chain with little sharing."""
    x = SXVector.sym("x", 1000)
    acc = x[0]
    for k in range(ops // 3 + 1):
        acc = acc + gg.sin(acc * x[(7 * k + 1) % 1000])
    return Function("large", [x], [acc])


def test_the_counter_sees_sx_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    with counting_sx(monkeypatch) as counter:
        SX.sym("a") * 2.0 + gg.sin(SX.sym("b"))
    assert counter.calls > 0


def test_deriving_simplifying_and_generating_a_large_gradient_makes_no_sx(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    f = large_primal(10_000)
    assert f.kernel.op_count() >= 10_000
    with counting_sx(monkeypatch) as counter:
        g = f.gradient()
        assert g.kernel.op_count() >= 10_000
        s = g.simplify("medium")
        config = gg.RustBackendConfig(simplification="none")
        source = s.generate_rust(config).source
        project = gg.create_rust_project(g, tmp_path / "large_gradient")
        g.create_rust_project(tmp_path / "again", crate_name="again")
        value = s([1e-4] * 1000)
    assert counter.calls == 0
    assert "pub fn large_gradient_x" in source and project.crate_name == "large_gradient"
    assert value == pytest.approx(g([1e-4] * 1000)) and all(math.isfinite(v) for v in value)


def test_every_derivative_kind_and_sparse_hessian_make_no_sx(monkeypatch: pytest.MonkeyPatch) -> None:
    f, _, _ = energy()
    with counting_sx(monkeypatch) as counter:
        made = [
            f.gradient(0),
            f.jacobian(1),
            f.hessian(0),
            f.hvp(0),
            f.jvp(),
            f.jvp([1.0, 0.0, 2.0], 0),
            f.vjp(),
            f.vjp(2.0, [0, 1]),
            f.joint(["f", "grad", "hessian", "hvp"], [0, 1]),
            f.hvp(0).jacobian(2).simplify("max"),
            gg.simplify(f, "high"),
        ]
        sparse = f.sparse_hessian(0, "lower")
        hessian = made[2]([1.0, 2.0, -0.5], 0.3)
        hvp = made[3]([1.0, 2.0, -0.5], 0.3, [1.0, 0.0, 0.0])
        nonzeros = sparse.function([1.0, 2.0, -0.5], 0.3)
        names = [d.name for d in made]
    assert counter.calls == 0
    assert hvp == hessian[0:3] and nonzeros == [hessian[0], hessian[4], hessian[7], hessian[8]]
    assert names[:4] == ["energy_gradient_x", "energy_jacobian_u", "energy_hessian_x", "energy_hvp_x"]
    assert sparse.function.name == "energy_sparse_hessian_x"


def test_from_kernel_wraps_without_sx_work(monkeypatch: pytest.MonkeyPatch) -> None:
    f, x, u = energy()
    kernel = f.kernel
    with counting_sx(monkeypatch) as counter:
        g = Function.from_kernel(kernel)
        assert g.kernel is kernel
        assert (g.name, g.input_names, g.output_names) == ("energy", ("x", "u"), ("e",))
        assert (g.input_sizes, g.output_sizes) == ((3, 1), (1,))
        value = g([1.0, 2.0, -0.5], 0.3)
        repr(g)
    assert counter.calls == 0
    assert value == f([1.0, 2.0, -0.5], 0.3)
    # symbols made on first use: a scalar port is named after itself, a vector port <port>_<j>
    # (SX.sym interns by name, so they are the very symbols of ``f`` here)
    assert g.input_symbols == (tuple(x), (u,))
    assert g.inputs[1] is u and g.inputs[0] == x
    assert g.outputs[0] is f.outputs[0]


def test_from_kernel_with_symbols_and_its_errors() -> None:
    f, _, _ = energy()
    a, b = SXVector.sym("a", 3), SX.sym("b")
    g = Function.from_kernel(f.kernel, [list(a), [b]])
    assert g.input_symbols == (tuple(a), (b,))
    out = g.outputs[0]
    assert isinstance(out, SX)
    assert sorted(s.name for s in out.free_symbols()) == ["a_0", "a_1", "a_2", "b"]
    same = Function("same", [a, b], [g.outputs[0]])
    assert same([1.0, 2.0, -0.5], 0.3) == f([1.0, 2.0, -0.5], 0.3)
    with pytest.raises(GradgenTypeError, match=r"from_kernel expects a Kernel, got Function"):
        Function.from_kernel(f)  # type: ignore[arg-type]
    with pytest.raises(FunctionDefinitionError, match=r"kernel 'energy' has 2 input\(s\)"):
        Function.from_kernel(f.kernel, [list(a)])
    with pytest.raises(FunctionDefinitionError, match=r"input 'u' of kernel 'energy' needs 1 symbol\(s\)"):
        Function.from_kernel(f.kernel, [list(a), [b * 2]])
    with pytest.raises(FunctionDefinitionError, match=r"input 'x' of kernel 'energy' needs 3 symbol\(s\)"):
        Function.from_kernel(f.kernel, [list(a[:2]), [b]])


def test_a_function_does_not_keep_its_output_expressions() -> None:
    f, _, _ = energy()
    assert "_raised" in vars(f) and f._raised is None
    assert not any(
        isinstance(v, (SX, SXVector)) or _holds_sx(v) for k, v in vars(f).items() if k != "_symbols"
    )
    first = f.output_expressions
    assert f.output_expressions is first  # raised once, then kept


def _holds_sx(value: object) -> bool:
    return isinstance(value, (tuple, list)) and any(isinstance(v, SX) or _holds_sx(v) for v in value)


def test_derivative_inputs_and_outputs_are_raised_lazily() -> None:
    f, x, u = energy()
    h = f.hvp(0)
    assert h._raised is None
    assert h.input_names == ("x", "u", "v_x")
    syms = h.input_symbols
    assert syms[0] == tuple(x) and syms[1] == (u,)
    assert [s.name for s in syms[2]] == ["v_x_0", "v_x_1", "v_x_2"]
    assert h.inputs[0] == x and h.inputs[1] is u
    args = ([1.0, 2.0, -0.5], 0.3, [0.5, -1.0, 2.0])
    # the raised outputs, lowered again, compute the same numbers bit for bit
    again = Function("again", h.inputs, h.outputs, input_names=list(h.input_names))
    assert again(*args) == h(*args)
    expected = [2 * 0.5 - 0.3 * math.sin(1.0) * 0.5, 2 * -1.0 + 2.0, 2 * 2.0 + -1.0]
    assert h(*args) == pytest.approx(expected)


def test_appended_port_symbol_names() -> None:
    # the symbols of x are called v_x_0 ... already: the direction port v_x gets v_x__<j>
    x = SXVector.sym("v_x", 2)
    f = Function("f", [x], [x.norm2sq()], input_names=["x"])
    h = f.hvp(0)
    assert [s.name for s in h.input_symbols[1]] == ["v_x__0", "v_x__1"]
    # a scalar input's runtime tangent is a one-element block, as before
    f2, _, _ = energy()
    j = f2.jvp(None, 1)
    assert j.input_names == ("x", "u", "tangent_u")
    assert [s.name for s in j.input_symbols[2]] == ["tangent_u_0"]
    assert j.inputs[2] is SX.sym("tangent_u_0")
    # a derivative of a derivative keeps every symbol made before and names the new ports
    v = j.vjp(None, [2])
    assert v.input_names == ("x", "u", "tangent_u", "cotangent_jvp_e")
    assert v.input_symbols[:3] == j.input_symbols
    assert [s.name for s in v.input_symbols[3]] == ["cotangent_jvp_e_0"]


def test_symbols_of_a_derivation_chain_are_made_in_one_pass() -> None:
    f, x, u = energy()
    g = f
    for _ in range(300):  # deeper than any recursion limit would allow per link
        g = g.simplify("none")
    h = g.hvp(0)
    assert h.input_symbols[:2] == (tuple(x), (u,))
    assert h.input_symbols[2][0].name == "v_x_0"


def test_kernel_only_function_derivatives_name_fresh_symbols() -> None:
    f, _, _ = energy()
    root = Function.from_kernel(f.kernel)
    h = root.hvp(0)
    assert [s.name for s in h.input_symbols[2]] == ["v_x_0", "v_x_1", "v_x_2"]
    assert [s.name for block in h.input_symbols[:2] for s in block] == ["x_0", "x_1", "x_2", "u"]


def test_sparse_hessian_pass_is_frozen_and_notes_its_pattern() -> None:
    f, _, _ = energy()
    p = SparseHessianPass(0, "upper")
    kernel = PassManager([p]).run(f.kernel)
    expected_kernel, expected = sparse_hessian_kernel(f.kernel, 0, "upper")
    patterns = kernel.note("sparse_patterns")
    assert set(patterns) == {0} and isinstance(patterns[0], HessianPattern)
    assert patterns[0] == expected and kernel.ops == expected_kernel.ops
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        p.wrt = 1  # type: ignore[misc]
    assert f.sparse_hessian(0, "upper").pattern == expected


# ---- the façade modules import one way --------------------------------------------------------------


def _runtime_imports(path: pathlib.Path) -> set[str]:
    """The gradgen façade modules ``path`` imports when it runs (module level and inside
    functions), leaving out ``if TYPE_CHECKING:`` blocks."""
    found: set[str] = set()
    stack: list[ast.AST] = [ast.parse(path.read_text())]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                stack.extend(child.orelse)
                continue
            if isinstance(child, ast.ImportFrom):
                if child.level == 1:
                    names = [child.module] if child.module else [a.name for a in child.names]
                    found.update(n.split(".")[0] for n in names)
                elif child.module and child.module.startswith("gradgen.") and child.module.count(".") == 1:
                    found.add(child.module.split(".")[1])
            stack.append(child)
    return found


def test_function_module_imports_no_other_facade_module_at_run_time() -> None:
    modules = {p.stem for p in GRADGEN.glob("*.py")}
    imports = {m: _runtime_imports(GRADGEN / f"{m}.py") & modules for m in modules}
    # Function's Rust entry points import the module doing the work when called; that module
    # needs no Function at run time
    assert "function" not in imports["codegen"]
    for m in ("simplification", "sparse", "derivatives"):
        assert "function" in imports[m]
    # ... and so does Function.create_rust_derivative_bundle, whose module still checks its
    # argument against Function: the one arrow back that is left
    bundle = gg.create_rust_derivative_bundle.__module__.rpartition(".")[2]
    # (gradgen.errors only re-exports the floors' exception types: it imports no façade module)
    assert not imports["errors"]
    # (gradgen.compat translates 0.5.2 spellings and imports no façade module but errors)
    assert imports["compat"] <= {"errors"}
    # (the port checks and the sparse result records are leaves below function.py)
    assert imports["function_ports"] <= {"errors", "vector"}
    assert imports["sparse_results"] <= {"errors"}
    allowed = {"input_symbols", "vector", "codegen", "errors", "compat", "function_ports", "sparse_results"}
    assert imports["function"] <= allowed | {bundle}
    graph = {m: imports[m] - ({bundle} if m == "function" else set()) for m in modules}
    assert _cycle(graph) is None


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    for start in graph:
        if start in state:
            continue
        path = [start]
        iters = [iter(sorted(graph[start]))]
        state[start] = 1
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
            elif state.get(nxt) == 1:
                return [*path, nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                iters.append(iter(sorted(graph[nxt])))
    return None


def test_renamed_modules() -> None:
    assert not (GRADGEN / "api.py").exists() and not (GRADGEN / "functions.py").exists()
    from gradgen import elementary, simplification

    assert gg.simplify is simplification.simplify and gg.cse is simplification.cse
    assert gg.sin is elementary.sin
    assert isinstance(gg.Function("k", [SX.sym("t")], [SX.sym("t")]).kernel, Kernel)
