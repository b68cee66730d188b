"""The scheduling fence of long kernels (``backends.rust.FENCE_EVERY``): where the printer puts
it, and that crates of long kernels carrying it (one function, several chunk functions, a
Hessian storing into many outputs) build clippy- and rustfmt-clean and compute, in an optimized
build, what the Python evaluator computes (the crate's own ``tests/reference.rs``).

Which spacing is the fastest is measured, not tested: ``tests/benchmarks/fence.py``.
"""

from __future__ import annotations

import pathlib
import re

import pytest

import gradgen as gg
from gradgen import SX, CodeGenerationBuilder, Function, SXVector, generate_rust
from gradgen.backends.rust import FENCE_EVERY, SCHEDULING_FENCE
from gradgen.ir.ops import Op
from gradgen.passes.allocate import DEFAULT_MAX_CHUNK
from tests.benchmarks.fence import with_fences
from tests.cargo import cargo, rustfmt_check


def _statements_between_fences(body: str) -> list[int]:
    """The number of ``let`` statements before the first fence and between fences."""
    counts = [0]
    for line in body.splitlines():
        text = line.strip()
        if text == SCHEDULING_FENCE:
            counts.append(0)
        elif text.startswith("let "):
            counts[-1] += 1
    return counts


def _chain(n: int) -> Function:
    x = SX.sym("x")
    e = x
    for _ in range(n):  # two statements per step: e * e, then + 1
        e = e * e + 1
    return Function("chain", [x], [e])


def _rosenbrock(n: int) -> Function:
    x = SXVector.sym("x", n)
    total = 0.0 * x[0]
    for i in range(n - 1):
        total = total + 100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return Function("rosenbrock", [x], [total], input_names=["x"])


def test_a_fence_after_every_fence_every_statements() -> None:
    """Runs of exactly ``FENCE_EVERY`` statements, the last run shorter, no fence at the end."""
    n_statements = 5 * FENCE_EVERY + 3
    source = generate_rust(_chain((n_statements + 1) // 2)).source
    body = source[source.index("pub fn chain") :]
    counts = _statements_between_fences(body)
    assert sum(counts) == 2 * ((n_statements + 1) // 2)
    assert counts[:-1] == [FENCE_EVERY] * (len(counts) - 1)
    assert 0 < counts[-1] <= FENCE_EVERY


def test_no_fence_in_short_kernels() -> None:
    source = generate_rust(_chain(FENCE_EVERY // 2)).source
    assert FENCE_EVERY // 2 * 2 == FENCE_EVERY
    assert SCHEDULING_FENCE not in source


def test_every_chunk_function_counts_its_own_statements() -> None:
    """A kernel longer than one chunk: each chunk function starts a new count."""
    source = generate_rust(_chain(DEFAULT_MAX_CHUNK)).source  # 2000 statements: two chunks
    starts = [m.start() for m in re.finditer(r"\nfn ", source)]
    assert len(starts) == 2
    for start, stop in zip(starts, [*starts[1:], source.index("pub fn chain")], strict=True):
        counts = _statements_between_fences(source[start:stop])
        assert sum(counts) == DEFAULT_MAX_CHUNK
        assert counts[:-1] == [FENCE_EVERY] * (len(counts) - 1)


def test_the_study_places_fences_as_the_printer_does() -> None:
    """``tests/benchmarks/fence.py`` measures other spacings by rewriting the text; with the
    printer's spacing its rewrite is the printer's own output."""
    source = generate_rust(_chain(DEFAULT_MAX_CHUNK)).source
    assert with_fences(source, FENCE_EVERY) == source
    assert SCHEDULING_FENCE not in with_fences(source, None)


@pytest.mark.usefixtures("cargo_available")
def test_long_kernels_with_fences_compute_the_python_values(tmp_path: pathlib.Path) -> None:
    """An optimized build of long kernels (a chunked gradient, wide: no periodic fence; a sparse
    Hessian storing hundreds of outputs; a deep chain) passes the crate's reference tests against the Python
    evaluator, and the crate is clippy- and rustfmt-clean."""
    rosen = _rosenbrock(150)
    x = SXVector.sym("x", 3)
    deep = x[0]
    for k in range(400):
        deep = gg.sin(deep) * x[1] + x[(k + 2) % 3] * 0.5
    chain = Function("deep", [x], [deep], input_names=["x"])
    root = tmp_path / "fenced"
    (
        CodeGenerationBuilder()
        .for_function(rosen)
        .add_gradient()
        .add_hessian(wrt=0, sparse=True)
        .done()
        .for_function(chain)
        .add_primal()
        .add_gradient()
        .done()
        .build(root)
    )
    source = (root / "src" / "lib.rs").read_text()
    assert source.count(SCHEDULING_FENCE) >= 40
    assert len(re.findall(r"\n#\[inline\(never\)\]\nfn ", source)) >= 2  # the gradient is chunked
    assert rustfmt_check(source) is None
    proc = cargo(["test", "--release", "-q"], root)
    assert re.search(r"test result: ok\. 8 passed", proc.stdout), proc.stdout
    cargo(["clippy", "--release", "--all-targets", "--", "-D", "warnings"], root)


def _calling_chain(n: int) -> Function:
    """A chain of ``n`` steps of 4 statements (``*``, ``+``, ``*``, ``+``), a ``sin`` call every
    tenth step: calls 41 statements apart."""
    x = SX.sym("x")
    e = x
    for k in range(n):
        e = e * e + 1
        e = (gg.sin(e) if k % 10 == 9 else e * 0.5) + x
    return Function("calls", [x], [e])


def _statement_runs(body: str) -> list[list[bool]]:
    """Per run between fences, each statement's "calls ``sin``"."""
    runs: list[list[bool]] = [[]]
    for line in body.splitlines():
        text = line.strip()
        if text == SCHEDULING_FENCE:
            runs.append([])
        elif text.startswith("let "):
            runs[-1].append(".sin()" in text)
    return runs


def test_the_study_places_fences_around_calls_by_its_call_rules() -> None:
    """The study's layouts that treat math calls specially (``tests/benchmarks/fence.py``)
    place fences as they say: counted from the last call, clear of the next calls, or none."""
    source = generate_rust(_calling_chain(60)).source  # the printer puts no fence in it
    assert ".sin()" in source
    plain = _statement_runs(with_fences(source, 32))
    assert [len(r) for r in plain[:-1]] == [32] * (len(plain) - 1)
    # reset: a fence comes 32 statements after the last call or fence
    reset = _statement_runs(with_fences(source, 32, "reset"))
    assert len(reset) < len(plain)
    for run in reset[:-1]:
        last_call = max((i for i, c in enumerate(run) if c), default=-1)
        assert len(run) - 1 - last_call == 32
    # clear 8: no call among the 8 statements after a fence, and no run shorter than 32
    clear = _statement_runs(with_fences(source, 32, "clear 8"))
    assert clear != plain
    for run in clear[1:]:
        assert not any(run[:8])
    for run in clear[:-1]:
        assert len(run) >= 32
    # a kernel named in no_fence (and its chunk functions) gets none
    assert SCHEDULING_FENCE not in with_fences(source, 32, "ignored", ("calls",))
    assert with_fences(source, 32, "ignored", ("call",)) == with_fences(source, 32)


def test_no_fence_in_a_scalar_kernel_with_math_calls() -> None:
    """A kernel with a single scalar output that calls libm gets no fence, however long; the
    same statements with a second output, or a scalar kernel without calls, keep theirs."""
    from gradgen.backends.rust import LIBM_CALLS, fenced

    calls = _calling_chain(60)  # 240 statements, 6 sin calls, one scalar output
    source = generate_rust(calls).source
    assert ".sin()" in source and source.count("let ") >= 7 * FENCE_EVERY
    assert SCHEDULING_FENCE not in source
    assert not fenced(calls.kernel)
    x = SX.sym("x")
    two = Function("two", [x], [SXVector([calls(x), x * 2.0])])
    assert fenced(two.kernel)
    two_source = generate_rust(two).source
    counts = _statements_between_fences(two_source[two_source.index("pub fn two") :])
    assert counts[:-1] == [FENCE_EVERY] * (len(counts) - 1) and len(counts) >= 7
    assert fenced(_chain(200).kernel)  # no call (test_a_fence_after_every_fence_every_statements)
    assert Op.SIN in LIBM_CALLS and Op.EXP in LIBM_CALLS
    assert not {Op.SQRT, Op.ABS, Op.MAX, Op.MUL} & LIBM_CALLS


def _sparse_rosenbrock_hessian(n: int) -> Function:
    return _rosenbrock(n).sparse_hessian(0, triangle="full").function


def _store_regions(body: str) -> list[list[tuple[str, int, str]]]:
    """Per run between fences, its output stores ``(output, element, local)`` in order."""
    regions: list[list[tuple[str, int, str]]] = [[]]
    for line in body.splitlines():
        text = line.strip()
        if text == SCHEDULING_FENCE:
            regions.append([])
            continue
        m = re.fullmatch(r"(\w+)\[(\d+)\] = (\w+);", text)
        if m and m.group(1) not in ("work", "_work"):
            regions[-1].append((m.group(1), int(m.group(2)), m.group(3)))
    return regions


def test_a_fence_after_the_stores_of_an_output_read_later() -> None:
    """The sparse Rosenbrock Hessian stores each off-diagonal value twice and then reads it
    for the next diagonal: a fence follows those stores, so no two adjacent elements stored
    by different statements share a run between fences (LLVM's SLP vectorizer would pack
    them into one vector whose lanes chain the independent blocks)."""
    f = _sparse_rosenbrock_hessian(12)
    source = generate_rust(f).source
    body = source[source.index("pub fn rosenbrock") :]
    lines = [line.strip() for line in body.splitlines()]
    offdiagonal = re.compile(r"let (\w+) = x\[(\d+)\] \* -400\.0;")
    seen = 0
    for i, line in enumerate(lines):
        m = offdiagonal.fullmatch(line)
        if m is None:
            continue
        seen += 1
        local = m.group(1)
        # its two stores, then the fence, then the statement reading it
        assert re.fullmatch(rf"hessian_x\[\d+\] = {local};", lines[i + 1])
        assert re.fullmatch(rf"hessian_x\[\d+\] = {local};", lines[i + 2])
        assert lines[i + 3] == SCHEDULING_FENCE
        assert re.search(rf"\b{local}\b", lines[i + 4].split("=", 1)[1])
    assert seen == 11
    for region in _store_regions(body):
        by_element = {(out, j): local for out, j, local in region}
        for (out, j), local in by_element.items():
            neighbour = by_element.get((out, j + 1))
            assert neighbour is None or neighbour == local, (region, j)
    assert with_fences(source, FENCE_EVERY, stores="reused") == source


def test_no_store_fence_when_no_output_is_read_again() -> None:
    """A kernel whose stored values no later statement reads keeps the plain layout: a fence
    every ``FENCE_EVERY`` statements."""
    x = SXVector.sym("x", 200)
    outs = [x[i] * x[i] + x[(i + 1) % 200] for i in range(200)]  # sinks: 400 statements
    source = generate_rust(Function("sinks", [x], [SXVector(outs)])).source
    body = source[source.index("pub fn sinks") :]
    counts = _statements_between_fences(body)
    assert sum(counts) == 400
    assert counts[:-1] == [FENCE_EVERY] * (len(counts) - 1)
    assert with_fences(source, FENCE_EVERY) == source


def test_store_fences_restart_the_count_and_match_the_study_in_chunked_kernels() -> None:
    """After a store fence the count of ``FENCE_EVERY`` restarts, and in a kernel of several
    chunk functions the study's text rule (``tests/benchmarks/fence.py``) places every fence
    where the printer does."""
    f = _sparse_rosenbrock_hessian(120)
    source = generate_rust(f).source
    body = source[source.index("pub fn rosenbrock") :]
    counts = _statements_between_fences(body)
    assert max(counts) < FENCE_EVERY  # a store fence every block of about ten statements
    assert with_fences(source, FENCE_EVERY, stores="reused") == source
    chunked = generate_rust(_rosenbrock(150).hessian(0)).source  # dense: several chunks
    assert len(re.findall(r"\n#\[inline\(never\)\]\nfn ", chunked)) >= 2
    assert with_fences(chunked, FENCE_EVERY, stores="reused") == chunked
    assert with_fences(chunked, FENCE_EVERY) != chunked


def test_no_store_fence_for_a_lone_output_read_again() -> None:
    """One stored value read again among hundreds of statements chains nothing: fewer than one
    per ``FENCE_EVERY`` statements, so no store fence (only the fence every ``FENCE_EVERY``)."""
    x = SXVector.sym("x", 200)
    first = x[0] * x[1]
    outs = [first] + [x[i] * x[i] + x[(i + 1) % 200] for i in range(1, 200)] + [first * 3.0]
    source = generate_rust(Function("lone", [x], [SXVector(outs)])).source
    body = source[source.index("pub fn lone") :]
    lines = [line.strip() for line in body.splitlines()]
    store = next(i for i, line in enumerate(lines) if re.fullmatch(r"y\[0\] = w\d+;", line))
    local = lines[store].split(" = ")[1].rstrip(";")
    assert any(
        re.search(rf"\b{local}\b", line.split("=", 1)[1])
        for line in lines[store + 1 :]
        if line.startswith("let ")
    )
    assert lines[store + 1] != SCHEDULING_FENCE
    counts = _statements_between_fences(body)
    assert counts[:-1] == [FENCE_EVERY] * (len(counts) - 1)
    assert with_fences(source, FENCE_EVERY, stores="reused") == source == with_fences(source, FENCE_EVERY)


def test_parallelism_is_latency_weighted_work_over_the_longest_chain() -> None:
    """Closed forms: a chain runs one operation at a time; ``n`` independent products run ``n``
    at once; a call (80 cycles) beside a product (4) on one chain weighs by its latency."""
    from gradgen.backends.rust import parallelism

    assert parallelism(_chain(50).kernel) == pytest.approx(1.0)
    x = SXVector.sym("x", 40)
    wide = Function("wide", [x], [SXVector([x[i] * x[(i + 1) % 40] for i in range(40)])])
    assert parallelism(wide.kernel) == pytest.approx(40.0)
    s = SX.sym("s")
    # sin(s) (80) and s * 3 (4) side by side, then their product (4): (80 + 4 + 4) / 84
    both = Function("both", [s], [gg.sin(s) * (s * 3.0)])
    assert parallelism(both.kernel) == pytest.approx(88 / 84)


def test_no_periodic_fence_in_a_wide_kernel_with_few_stores() -> None:
    """A wide kernel (parallelism at least ``WIDE_PARALLELISM``) with fewer than
    ``WIDE_STORES`` output elements per statement gets no fence every ``FENCE_EVERY``
    statements: the Rosenbrock gradient. Deep kernels keep it (``_chain``), and so do wide
    kernels storing densely (``test_no_store_fence_when_no_output_is_read_again``: one output
    per two statements). The study's ``32 if deep, reused stores`` layout reproduces the text."""
    from gradgen.backends.rust import WIDE_PARALLELISM, WIDE_STORES, parallelism, periodic_fences, wide

    f = _rosenbrock(200).gradient(0)
    source = generate_rust(f).source
    statements = source.count("let ")
    assert statements > 8 * FENCE_EVERY and WIDE_STORES * statements > 200
    assert parallelism(f.kernel) >= WIDE_PARALLELISM
    assert wide(f.kernel) and not periodic_fences(f.kernel)
    assert SCHEDULING_FENCE not in source
    assert with_fences(source, FENCE_EVERY, stores="reused", wide=("rosenbrock_gradient_x",)) == source
    assert with_fences(source, FENCE_EVERY, stores="reused") != source
    assert periodic_fences(_chain(200).kernel)
    x = SXVector.sym("x", 200)
    sinks = Function("sinks", [x], [SXVector([x[i] * x[i] + x[(i + 1) % 200] for i in range(200)])])
    assert parallelism(sinks.kernel) >= WIDE_PARALLELISM and periodic_fences(sinks.kernel)


def test_the_study_compares_each_kernel_text_across_layouts() -> None:
    """The study splits its module into each problem's functions (chunks included), so it can
    tell which layouts print the same kernel: the chain is deep (the same text in both layouts
    below), the Rosenbrock gradient wide (the printer's layout drops its periodic fences)."""
    from tests.benchmarks.fence import PRINTER, VARIANTS, Problem, _kernel_texts, _module

    probs = [
        Problem("chain", _chain(DEFAULT_MAX_CHUNK), []),
        Problem("rosen", _rosenbrock(200).gradient(0), []),
    ]
    printer = _kernel_texts(_module(probs, VARIANTS[PRINTER])[0], 2)
    before = _kernel_texts(_module(probs, VARIANTS["32, reused stores"])[0], 2)
    assert "pub fn k0(" in printer[0] and "fn k0_chunk1(" in printer[0] and "fn k1" not in printer[0]
    assert "pub fn k1(" in printer[1] and "fn k0" not in printer[1]
    assert printer[0] == before[0]
    assert printer[1] != before[1]
    assert SCHEDULING_FENCE not in printer[1] and SCHEDULING_FENCE in before[1]


def test_the_study_table_marks_identical_texts_and_reports_their_spread() -> None:
    """A figure whose layout prints the same text as an earlier layout of its row is marked,
    and the largest ratio between two figures of one text is the run's stated noise."""
    from tests.benchmarks.report import fence_table

    row = {
        "problem": "p",
        "ops": 10,
        "ns": {"fence 32": 100.0, "a": 110.0, "b": 80.0, "harness": 4.0},
        "identical": True,
        "rel_err": 0.0,
        "text_of": {"fence 32": "fence 32", "a": "fence 32", "b": "b"},
    }
    lines = fence_table({"variants": ["fence 32", "a", "b"], "baseline": "fence 32", "rows": [row]})
    printed = next(line for line in lines if line.startswith("| p |"))
    assert "| 110 (1.10x) = |" in printed and "| 80 (0.80x) |" in printed
    assert any("differed by up to 1.10x in this run" in line for line in lines)


def test_the_bench_times_the_printers_layout_and_the_study_compiles_bench_kernels_serially() -> None:
    """``make bench`` times the printer's layout and its alternatives, each a known layout; with
    the bench kernels (crates of about 11 GB of rustc memory each) cargo runs one job."""
    from tests.benchmarks.fence import BASELINE, BENCH_LAYOUTS, PRINTER, VARIANTS, harness_build

    assert PRINTER in BENCH_LAYOUTS and set(BENCH_LAYOUTS) <= set(VARIANTS)
    assert {"no fence", "32, reused stores"} <= set(BENCH_LAYOUTS) and BASELINE not in BENCH_LAYOUTS
    assert VARIANTS[PRINTER].periodic == "deep" and VARIANTS[PRINTER].stores == "reused"
    assert harness_build(True)[-2:] == ["-j", "1"]
    assert "-j" not in harness_build(False) and harness_build(False)[:2] == ["cargo", "build"]
