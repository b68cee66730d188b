"""The documentation runs: every ```python block of README.md and GUIDE.md is executed.

The blocks of one document run in order in one fresh Python process (the repository's venv
interpreter) whose working directory is an empty temporary directory, so state flows from one
block to the next as when a reader pastes them one after the other. Two markers, on the line
before a block (blank lines in between are allowed):

- ``<!-- illustrative -->``: the block is not run (the test reports how many were skipped);
- ``<!-- expect-error: ExceptionName -->``: the block must raise that exception (or a subclass).

A failure names the document, the line of the block's opening fence and shows the traceback,
whose line numbers are the document's own. Blocks that build crates get the offline cargo
environment of :mod:`tests.cargo`; ``gradgen.compile`` caches its builds inside the temporary
directory.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import attrs
import pytest

from tests.cargo import REPO, cargo_env

DOCUMENTS = ("README.md", "GUIDE.md")
_FENCE_OPEN = re.compile(r"^```python\s*$")
_FENCE = re.compile(r"^```")
_MARKER = re.compile(r"^<!--\s*(illustrative|expect-error:\s*([A-Za-z_][A-Za-z0-9_.]*))\s*-->\s*$")
_ANY_MARKER = re.compile(r"^<!--.*-->\s*$")


@attrs.frozen
class Block:
    """One ```python block: its code, the 1-based line of its opening fence and its marker."""

    code: str
    line: int
    illustrative: bool = False
    expect_error: str | None = None


def extract_blocks(text: str, document: str = "<doc>") -> list[Block]:
    """The ```python blocks of a Markdown text, in order, with their markers.

    Raises ``ValueError`` for an unclosed block or a malformed ``<!-- ... -->`` marker in front
    of a block (so a typo cannot silently turn a checked block into an unchecked one).
    """
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _FENCE_OPEN.match(line):
            start = i
            j = i + 1
            while j < len(lines) and not _FENCE.match(lines[j]):
                j += 1
            if j == len(lines):
                raise ValueError(f"{document}:{start + 1}: ```python block is never closed")
            k = start - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            illustrative, expect = False, None
            previous = lines[k].strip() if k >= 0 else ""
            marker = _MARKER.match(previous)
            if marker:
                illustrative = marker.group(1) == "illustrative"
                expect = marker.group(2)
            elif _ANY_MARKER.match(previous) and re.search(r"illustrative|expect", previous):
                raise ValueError(f"{document}:{k + 1}: malformed block marker {previous!r}")
            blocks.append(Block("\n".join(lines[start + 1 : j]) + "\n", start + 1, illustrative, expect))
            i = j + 1
        elif _FENCE.match(line):  # another language's block: skip it whole
            j = i + 1
            while j < len(lines) and not _FENCE.match(lines[j]):
                j += 1
            i = j + 1
        else:
            i += 1
    return blocks


# The driver runs in the child process: it executes the blocks in one namespace, compiling each
# with the document's name and padding so that traceback line numbers are the document's own.
_DRIVER = r"""
import json, sys, traceback

document, blocks_file = sys.argv[1], sys.argv[2]
with open(blocks_file) as fh:
    blocks = json.load(fh)
namespace = {"__name__": "__main__"}
for block in blocks:
    where = f"{document}, block at line {block['line']}"
    code = "\n" * block["line"] + block["code"]
    expected = block["expect_error"]
    try:
        exec(compile(code, document, "exec"), namespace)
    except BaseException as exc:
        mro = type(exc).__mro__
        names = {c.__name__ for c in mro} | {c.__module__ + "." + c.__name__ for c in mro}
        if expected is not None and expected in names:
            print(f"[docs] {where}: raised {type(exc).__name__} as expected", flush=True)
            continue
        sys.stdout.flush()
        wanted = f" (expected {expected})" if expected else ""
        trace = "".join(traceback.format_exception(exc))
        print(f"\n[docs] FAILED {where}{wanted}:\n{trace}", file=sys.stderr)
        sys.exit(1)
    if expected is not None:
        print(f"\n[docs] FAILED {where}: expected {expected}, but the block raised nothing", file=sys.stderr)
        sys.exit(1)
print(f"[docs] {document}: {len(blocks)} block(s) ran", flush=True)
"""


def _interpreter() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def run_document(
    text: str, document: str, tmp: pathlib.Path, timeout: float = 1800
) -> tuple[subprocess.CompletedProcess[str], list[Block]]:
    """Run the non-illustrative blocks of ``text`` cumulatively in a fresh process in ``tmp/work``."""
    blocks = extract_blocks(text, document)
    runnable = [attrs.asdict(b) for b in blocks if not b.illustrative]
    work = tmp / "work"
    work.mkdir(parents=True)
    (tmp / "driver.py").write_text(_DRIVER)
    (tmp / "blocks.json").write_text(json.dumps(runnable))
    env = cargo_env()
    env["GRADGEN_CACHE_DIR"] = str(tmp / "gradgen-cache")
    env.pop("GRADGEN_PROGRESS", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [_interpreter(), str(tmp / "driver.py"), document, str(tmp / "blocks.json")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc, blocks


# ---- the documents --------------------------------------------------------------------------------
def _documents() -> list[str]:
    return [d for d in DOCUMENTS if d == "README.md" or (REPO / d).exists()]


@pytest.mark.cargo
@pytest.mark.parametrize("document", _documents())
def test_document_blocks_run(
    document: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = REPO / document
    assert path.is_file(), f"{document} is missing"
    proc, blocks = run_document(path.read_text(), document, tmp_path)
    skipped = sum(b.illustrative for b in blocks)
    ran = len(blocks) - skipped
    with capsys.disabled():
        print(f"\n{document}: {ran} python block(s) run, {skipped} illustrative block(s) skipped")
    assert proc.returncode == 0, f"{document}: a block failed\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    assert f"[docs] {document}: {ran} block(s) ran" in proc.stdout
    assert ran > 0, f"{document} has no runnable python block"


# ---- the runner itself ----------------------------------------------------------------------------
SAMPLE = """# Title

```python
x = 2
```

Text.
<!-- illustrative -->
```python
this is not python
```

```sh
echo not python
```

<!-- expect-error: ZeroDivisionError -->

```python
y = x / 0
```

```python
print("x is", x * 21)
```
"""


def test_extract_blocks_reads_markers_and_line_numbers() -> None:
    blocks = extract_blocks(SAMPLE)
    assert [(b.line, b.illustrative, b.expect_error) for b in blocks] == [
        (3, False, None),
        (9, True, None),
        (19, False, "ZeroDivisionError"),
        (23, False, None),
    ]
    assert blocks[0].code == "x = 2\n"
    assert blocks[3].code == 'print("x is", x * 21)\n'


def test_extract_blocks_rejects_unclosed_blocks_and_malformed_markers() -> None:
    with pytest.raises(ValueError, match=r"doc.md:2: ```python block is never closed"):
        extract_blocks("text\n```python\nx = 1\n", "doc.md")
    with pytest.raises(
        ValueError, match=r"doc.md:1: malformed block marker '<!-- expect-eror: KeyError -->'"
    ):
        extract_blocks("<!-- expect-eror: KeyError -->\n```python\nx = 1\n```\n", "doc.md")


def test_runner_runs_blocks_cumulatively_in_a_fresh_directory(tmp_path: pathlib.Path) -> None:
    text = (
        SAMPLE
        + '\n```python\nimport os\nopen("note.txt", "w").write("hi")\nprint(sorted(os.listdir(".")))\n```\n'
    )
    proc, blocks = run_document(text, "sample.md", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "x is 42" in proc.stdout
    assert "[docs] sample.md, block at line 19: raised ZeroDivisionError as expected" in proc.stdout
    assert "['note.txt']" in proc.stdout  # the working directory started empty
    assert "[docs] sample.md: 4 block(s) ran" in proc.stdout
    assert sum(b.illustrative for b in blocks) == 1


def test_runner_reports_document_line_and_traceback_of_a_failing_block(tmp_path: pathlib.Path) -> None:
    text = "```python\na = 1\n```\n\nProse.\n\n```python\nb = a + 1\nc = undefined_name\n```\n"
    proc, _ = run_document(text, "broken.md", tmp_path)
    assert proc.returncode == 1
    assert "[docs] FAILED broken.md, block at line 7:" in proc.stderr
    assert 'File "broken.md", line 9' in proc.stderr  # the document's own line number
    assert "NameError: name 'undefined_name' is not defined" in proc.stderr


def test_runner_fails_when_an_expected_error_is_missing_or_different(tmp_path: pathlib.Path) -> None:
    missing = "<!-- expect-error: KeyError -->\n```python\nvalue = 1\n```\n"
    proc, _ = run_document(missing, "missing.md", tmp_path / "a")
    assert proc.returncode == 1
    assert (
        "[docs] FAILED missing.md, block at line 2: expected KeyError, but the block raised nothing"
        in proc.stderr
    )
    different = "<!-- expect-error: KeyError -->\n```python\n[][1]\n```\n"
    proc, _ = run_document(different, "different.md", tmp_path / "b")
    assert proc.returncode == 1
    assert "[docs] FAILED different.md, block at line 2 (expected KeyError):" in proc.stderr
    assert "IndexError: list index out of range" in proc.stderr


def test_runner_accepts_gradgen_error_subclasses_by_name(tmp_path: pathlib.Path) -> None:
    bad_name = "```python\ngg.RustBackendConfig().with_function_name('fn')\n```\n"
    text = (
        "```python\nimport gradgen as gg\n```\n"
        f"<!-- expect-error: GradgenError -->\n{bad_name}"
        f"<!-- expect-error: InvalidNameError -->\n{bad_name}"
    )
    proc, _ = run_document(text, "errors.md", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("raised InvalidNameError as expected") == 2
