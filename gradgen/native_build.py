"""Building generated kernels as a shared library for ``gradgen.compile``: cargo and the cache.

``gradgen.compile(target)`` (:mod:`gradgen.native_call`) accepts a :class:`~gradgen.Function`,
a ``CodeGenerationBuilder`` or the path of a crate written by gradgen
(``CodeGenerationBuilder.build`` or ``create_rust_project``; its ``metadata.json`` or the
``Cargo.toml`` table describes the functions). :func:`resolve` gives the crate's files (made by
``backends.crate.crate_files``, named by ``backends.crate.resolve_crate_name``); the crate is
copied into a cache entry, given its C ABI layer (cargo feature ``ffi``, ``src/ffi.rs``, see
:mod:`backends.ffi`) and built with ``cargo build --release`` through a small ``cdylib`` wrapper
crate that depends on it, so a ``no_std`` crate stays ``no_std``; :mod:`gradgen.native_call`
loads the library with :mod:`ctypes`.

Cache: the entry is ``<cache>/<key>`` where ``key`` hashes the crate's files, the ABI version and
the toolchain version (``rustc -vV``, ``cargo -V``); ``<cache>`` is ``build_dir`` or
``$GRADGEN_CACHE_DIR`` or ``$XDG_CACHE_HOME/gradgen`` or ``~/.cache/gradgen``. A second
``compile`` of the same crate loads the library built the first time (``CompiledLibrary.built``
is then ``False``). cargo runs with ``env`` (default: this process's environment); unless that
environment sets ``CARGO_TARGET_DIR``, builds share ``<cache>/target``.

Several processes may share one cache: an entry is prepared, built and stored under an exclusive
lock on ``<entry>/.lock`` (``fcntl.flock``; the kernel releases it when a process dies), so the
first process builds and the others then load its library; every file is written under a unique
temporary name and renamed into place, so no process ever reads a half-written file. The record
``build.json`` names the library (a plain file name inside the entry) with its size and SHA-256;
a record that cannot be read, names anything else, or whose library does not match is ignored
(logged) and the library is built again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pathlib
import secrets
import shutil
import subprocess
import time
import tomllib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from gradgen.backends import ffi
from gradgen.backends.crate import KERNELS_TABLE, crate_files, resolve_crate_name
from gradgen.backends.paths import user_path
from gradgen.backends.scalars import SCALARS
from gradgen.backends.signature import FunctionSignature
from gradgen.config import RustBackendConfig
from gradgen.errors import BuildError, ConfigError, GradgenTypeError

from .function import Function

if TYPE_CHECKING:  # pragma: no cover
    from .builder import CodeGenerationBuilder

log = logging.getLogger("gradgen.compile")

#: lines of cargo's stderr quoted in a BuildError
STDERR_TAIL = 40
#: crate name used for a builder without an explicit crate name
DEFAULT_BUILDER_CRATE = "kernels"
_INSTALL_HINT = (
    "gradgen.compile builds the generated Rust crate with cargo; install the Rust toolchain with "
    "rustup (https://rustup.rs, e.g. `curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh`) "
    "and make sure `cargo` is on PATH"
)


# ---- the functions of a crate --------------------------------------------------------------------
def signatures(meta: Mapping[str, Any], where: str) -> tuple[str, str, list[FunctionSignature]]:
    """Crate name, scalar type and signatures from a ``metadata.json`` document."""
    try:
        scalar = meta["scalar_type"]
        if scalar not in SCALARS:
            raise ValueError(f"unknown scalar type {scalar!r}")
        sigs = [FunctionSignature.from_json(fn, scalar) for fn in meta["functions"]]
        return str(meta["crate"]), scalar, sigs
    except (KeyError, TypeError, ValueError) as exc:
        raise BuildError(f"{where!r} is not a gradgen metadata.json ({type(exc).__name__}: {exc})") from None


# ---- resolving the target ------------------------------------------------------------------------
@attrs.frozen
class _Crate:
    """The files of a crate to build (relative path -> text), before the C ABI layer is added."""

    name: str
    files: dict[str, str]


def _function_crate(f: Function, config: RustBackendConfig) -> _Crate:
    from .codegen import generate_rust

    ffi.check_slice_count(f.name, len(f.input_sizes), len(f.output_sizes))  # before the passes run
    result = generate_rust(f, config)
    name = resolve_crate_name(config.crate_name, f.name)
    files = crate_files(name, result.source, [result.signature], config, ffi=True, metadata_file=True)
    return _Crate(name, files)


def _builder_crate(builder: CodeGenerationBuilder) -> _Crate:
    crate = builder.generate(resolve_crate_name(builder.config.crate_name, DEFAULT_BUILDER_CRATE))
    files = crate_files(
        crate.crate_name,
        crate.source,
        crate.signatures,
        crate.config,
        ffi=True,
        metadata_file=True,
        facts={f.name: f.as_json() for f in crate.functions},
    )
    return _Crate(crate.crate_name, files)


def _manifest_kernels(manifest: str) -> str | None:
    """The functions document embedded in a ``Cargo.toml`` (``backends.crate.KERNELS_TABLE``)."""
    table: Any = tomllib.loads(manifest)
    for key in KERNELS_TABLE.split("."):
        table = table.get(key) if isinstance(table, dict) else None
    text = table.get("json") if isinstance(table, dict) else None
    return text if isinstance(text, str) else None


def _path_crate(path: pathlib.Path) -> _Crate:
    if not (path / "Cargo.toml").is_file():
        raise BuildError(f"{str(path)!r} is not a Cargo crate (no Cargo.toml)")
    files: dict[str, str] = {}
    try:
        files["Cargo.toml"] = (path / "Cargo.toml").read_text()
        if (path / "metadata.json").is_file():  # a builder crate
            files["metadata.json"] = (path / "metadata.json").read_text()
        else:  # create_rust_project: the same document, embedded in the manifest
            embedded = _manifest_kernels(files["Cargo.toml"])
            if embedded is None:
                raise BuildError(
                    f"the crate at {str(path)!r} does not describe its functions (no metadata.json "
                    f"and no [{KERNELS_TABLE}] table in Cargo.toml); regenerate it with "
                    "create_rust_project or CodeGenerationBuilder(...).build(path), or compile the "
                    "Function itself with gradgen.compile(f)"
                )
            files["metadata.json"] = embedded
        for p in sorted((path / "src").rglob("*")):
            if p.is_file():
                files[p.relative_to(path).as_posix()] = p.read_text()
        meta = json.loads(files["metadata.json"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BuildError(f"cannot read the crate at {str(path)!r}: {exc}") from exc
    name, _, sigs = signatures(meta, str(path / "metadata.json"))
    ffi.check_encodable(sigs)  # before anything is written to the cache
    return _Crate(name, files)


def resolve(target: object, config: RustBackendConfig | None) -> _Crate:
    """The crate ``gradgen.compile`` builds for ``target`` (see :func:`gradgen.compile`)."""
    from .builder import CodeGenerationBuilder

    if config is not None and not isinstance(config, RustBackendConfig):
        raise ConfigError(f"config must be a RustBackendConfig, got {type(config).__name__}")
    if isinstance(target, Function):
        return _function_crate(target, config or RustBackendConfig())
    if config is not None:
        raise ConfigError(
            "config= applies to a Function only; a builder carries its own "
            "(with_backend_config) and a written crate is already configured"
        )
    if isinstance(target, CodeGenerationBuilder):
        return _builder_crate(target)
    if isinstance(target, (str, os.PathLike)):
        return _path_crate(user_path(target, "the crate path"))
    raise GradgenTypeError(
        "compile() takes a Function, a CodeGenerationBuilder or the path of a generated crate, "
        f"got {type(target).__name__}"
    )


# ---- toolchain, cache and build -------------------------------------------------------------------
def default_cache_dir() -> pathlib.Path:
    """``$GRADGEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/gradgen``, else ``~/.cache/gradgen``."""
    if os.environ.get("GRADGEN_CACHE_DIR"):
        return pathlib.Path(os.environ["GRADGEN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "gradgen"


def _run(
    args: list[str], env: Mapping[str, str], cwd: pathlib.Path | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, check=False, cwd=cwd, env=dict(env), capture_output=True, text=True)
    except OSError as exc:
        raise BuildError(f"cannot run {args[0]!r} ({exc}); {_INSTALL_HINT}") from exc


def toolchain_version(env: Mapping[str, str]) -> str:
    """``rustc -vV`` and ``cargo -V`` of the toolchain ``env`` selects; BuildError if missing."""
    path = env.get("PATH", "")
    for tool in ("cargo", "rustc"):
        if shutil.which(tool, path=path) is None:
            raise BuildError(f"{tool} was not found on PATH; {_INSTALL_HINT}")
    out = []
    for args in (["rustc", "-vV"], ["cargo", "-V"]):
        proc = _run(args, env)
        if proc.returncode != 0:
            raise BuildError(f"`{' '.join(args)}` failed: {_tail(proc.stderr)}; {_INSTALL_HINT}")
        out.append(proc.stdout.strip())
    return "\n".join(out)


def _tail(text: str, n: int = STDERR_TAIL) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


@attrs.frozen
class CompiledLibrary:
    """A built shared library: where it is and whether this ``compile`` call built it."""

    path: pathlib.Path
    entry: pathlib.Path
    key: str
    built: bool
    crate_name: str
    crate_dir: pathlib.Path


def _replace_atomically(target: pathlib.Path, fill: Any) -> None:
    """Create ``target`` by ``fill(temporary_path)`` on a unique temporary name in its directory,
    then one rename: readers see the old file or the whole new one, never a part."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        fill(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _write(root: pathlib.Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        try:
            same = p.read_text() == text
        except (OSError, UnicodeDecodeError):
            same = False
        if not same:
            _replace_atomically(p, lambda tmp, text=text: tmp.write_text(text))


@contextlib.contextmanager
def _entry_lock(entry: pathlib.Path) -> Iterator[None]:
    """Hold the exclusive lock of a cache entry (a no-op where ``fcntl`` does not exist: the
    atomic renames alone keep the entry consistent, builds may then run twice)."""
    try:
        entry.mkdir(parents=True, exist_ok=True)
        fd = os.open(entry / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise BuildError(f"cannot write the build directory {str(entry)!r}: {exc}") from exc
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            pass
        else:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


_LIBRARY_SUFFIXES = (".so", ".dylib", ".dll")


def _digest(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _recorded_library(entry: pathlib.Path) -> pathlib.Path | None:
    """The library ``entry/build.json`` records, when the record is valid, names a plain library
    file of the entry and that file has the recorded size and SHA-256; else ``None``."""
    record = entry / "build.json"
    try:
        text = record.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("cache entry %s: cannot read build.json (%s); building again", entry, exc)
        return None
    try:
        data = json.loads(text)
        name, size, digest = data["library"], data["size"], data["sha256"]
        if not (isinstance(name, str) and isinstance(size, int) and isinstance(digest, str)):
            raise TypeError("wrong field types")
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        log.warning("cache entry %s: build.json is corrupt (%s); building again", entry, exc)
        return None
    if (
        pathlib.PurePath(name).name != name
        or "/" in name
        or "\\" in name
        or not name.endswith(_LIBRARY_SUFFIXES)
    ):
        log.warning(
            "cache entry %s: build.json names %r, not a library file of the entry; building again",
            entry,
            name,
        )
        return None
    lib = entry / name
    try:
        intact = (
            lib.is_file() and not lib.is_symlink() and lib.stat().st_size == size and _digest(lib) == digest
        )
    except OSError:
        intact = False
    if not intact:
        log.warning("cache entry %s: the library %s is missing or damaged; building again", entry, name)
        return None
    return lib


def _prepare(crate: _Crate, entry: pathlib.Path) -> list[FunctionSignature]:
    """Write the crate with its C ABI layer into ``entry/crate``; return its signatures."""
    files = dict(crate.files)
    _, scalar, sigs = signatures(json.loads(files["metadata.json"]), crate.name)
    try:
        files["Cargo.toml"] = ffi.enable_ffi_manifest(files["Cargo.toml"])
        files["src/lib.rs"] = ffi.enable_ffi_root(files["src/lib.rs"])
    except ValueError as exc:
        raise BuildError(f"cannot add the C ABI to the crate {crate.name!r}: {exc}") from None
    files["src/ffi.rs"] = ffi.render_ffi(sigs, scalar)
    _write(entry / "crate", files)
    return sigs


def _cache_key(crate: _Crate, toolchain: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"abi": ffi.ABI_VERSION, "toolchain": toolchain, "crate": crate.name}).encode())
    for rel in sorted(crate.files):
        h.update(b"\0" + rel.encode() + b"\0" + crate.files[rel].encode())
    return h.hexdigest()[:24]


def _artifact(stdout: str, package: str) -> pathlib.Path | None:
    """The shared library cargo reports for ``package`` in its JSON messages."""
    for line in stdout.splitlines():
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == package:
            for f in msg.get("filenames", []):
                if f.endswith((".so", ".dylib", ".dll")):
                    return pathlib.Path(f)
    return None


def build_library(
    crate: _Crate, cache_dir: pathlib.Path, env: Mapping[str, str]
) -> tuple[CompiledLibrary, list[FunctionSignature]]:
    """Build (or find in the cache) the shared library of ``crate``."""
    toolchain = toolchain_version(env)
    key = _cache_key(crate, toolchain)
    entry = cache_dir / key
    with _entry_lock(entry):
        return _build_locked(crate, entry, key, toolchain, cache_dir, env)


def _build_locked(
    crate: _Crate,
    entry: pathlib.Path,
    key: str,
    toolchain: str,
    cache_dir: pathlib.Path,
    env: Mapping[str, str],
) -> tuple[CompiledLibrary, list[FunctionSignature]]:
    package = f"gradgen_ffi_{key[:16]}"
    try:
        sigs = _prepare(crate, entry)
        lib = _recorded_library(entry)
        if lib is not None:
            log.info("crate %s: using the library built before (%s)", crate.name, lib)
            return CompiledLibrary(lib, entry, key, False, crate.name, entry / "crate"), sigs
        _write(entry / "wrapper", ffi.wrapper_crate(package, crate.name, str((entry / "crate").resolve())))
    except OSError as exc:
        raise BuildError(f"cannot write the build directory {str(entry)!r}: {exc}") from exc
    args = ["cargo", "build", "--release", "--message-format=json-render-diagnostics"]
    if not env.get("CARGO_TARGET_DIR"):
        args += ["--target-dir", str((cache_dir / "target").resolve())]
    log.info("crate %s: cargo build --release in %s", crate.name, entry / "wrapper")
    t0 = time.perf_counter()
    proc = _run(args, env, cwd=entry / "wrapper")
    log.info(
        "crate %s: cargo build finished in %.1f s (exit code %d)",
        crate.name,
        time.perf_counter() - t0,
        proc.returncode,
    )
    if proc.returncode != 0:
        raise BuildError(
            f"cargo build of the crate {crate.name!r} failed (exit code {proc.returncode}) in "
            f"{str(entry)!r}:\n{_tail(proc.stderr)}"
        )
    built = _artifact(proc.stdout, package)
    if built is None:
        raise BuildError(f"cargo built {crate.name!r} but reported no shared library:\n{_tail(proc.stderr)}")
    lib = entry / built.name
    try:
        _replace_atomically(lib, lambda tmp: shutil.copyfile(built, tmp))
        record = {
            "library": built.name,
            "size": lib.stat().st_size,
            "sha256": _digest(lib),
            "crate": crate.name,
            "toolchain": toolchain,
        }
        _replace_atomically(entry / "build.json", lambda tmp: tmp.write_text(json.dumps(record) + "\n"))
    except OSError as exc:
        raise BuildError(f"cannot store the built library in {str(entry)!r}: {exc}") from exc
    return CompiledLibrary(lib, entry, key, True, crate.name, entry / "crate"), sigs
