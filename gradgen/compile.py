"""``gradgen.compile``: build generated kernels as a shared library and call them from Python.

``compile(target)`` accepts a :class:`~gradgen.Function`, a ``CodeGenerationBuilder`` or the path
of a crate written by gradgen (``CodeGenerationBuilder.build`` or ``create_rust_project``; its
``metadata.json`` describes the functions). The crate is copied into a cache entry, given its C
ABI layer (cargo feature ``ffi``, ``src/ffi.rs``, see :mod:`backends.ffi`) and built with
``cargo build --release`` through a small ``cdylib`` wrapper crate that depends on it, so a
``no_std`` crate stays ``no_std``. The library is loaded with :mod:`ctypes`.

Cache: the entry is ``<cache>/<key>`` where ``key`` hashes the crate's files, the ABI version and
the toolchain version (``rustc -vV``, ``cargo -V``); ``<cache>`` is ``build_dir`` or
``$GRADGEN_CACHE_DIR`` or ``$XDG_CACHE_HOME/gradgen`` or ``~/.cache/gradgen``. A second
``compile`` of the same crate loads the library built the first time (``CompiledLibrary.built``
is then ``False``). cargo runs with ``env`` (default: this process's environment); unless that
environment sets ``CARGO_TARGET_DIR``, builds share ``<cache>/target``.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

import attrs

from gradgen.backends import ffi
from gradgen.backends.crate import CARGO_RESERVED, KERNELS_TABLE, cargo_toml
from gradgen.backends.metadata import KernelSizes, metadata, metadata_json, scalar_flags
from gradgen.backends.names import sanitize
from gradgen.backends.scalars import SCALARS
from gradgen.config import RustBackendConfig
from gradgen.errors import BuildError, ConfigError, GradgenTypeError, KernelCallError

from .function import Function

if TYPE_CHECKING:  # pragma: no cover
    from .builder import CodeGenerationBuilder

log = logging.getLogger("gradgen.compile")

#: lines of cargo's stderr quoted in a BuildError
STDERR_TAIL = 40
#: files of a crate that make up its identity (relative paths; everything under src/ too)
#: crate name used for a builder without an explicit crate name
DEFAULT_BUILDER_CRATE = "kernels"
_INSTALL_HINT = (
    "gradgen.compile builds the generated Rust crate with cargo; install the Rust toolchain with "
    "rustup (https://rustup.rs, e.g. `curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh`) "
    "and make sure `cargo` is on PATH"
)


# ---- the functions of a crate --------------------------------------------------------------------
@attrs.frozen
class Slot:
    """One slice argument: Rust name, length and whether Python passes/gets a bare float."""

    name: str
    size: int
    scalar: bool


@attrs.frozen
class Signature:
    """A generated function as seen from Python."""

    name: str
    inputs: tuple[Slot, ...]
    outputs: tuple[Slot, ...]
    workspace_size: int

    def ffi_function(self) -> ffi.FfiFunction:
        return ffi.FfiFunction(
            self.name,
            tuple(s.name for s in self.inputs),
            tuple(s.size for s in self.inputs),
            tuple(s.name for s in self.outputs),
            tuple(s.size for s in self.outputs),
            self.workspace_size,
        )


def _signatures(meta: Mapping[str, Any], where: str) -> tuple[str, str, list[Signature]]:
    """Crate name, scalar type and signatures from a ``metadata.json`` document."""
    try:
        scalar = meta["scalar_type"]
        if scalar not in SCALARS:
            raise ValueError(f"unknown scalar type {scalar!r}")
        sigs = []
        for fn in meta["functions"]:
            flags = {k: fn.get(f"scalar_{k}") for k in ("inputs", "outputs")}
            ports = {}
            for kind in ("inputs", "outputs"):
                args = fn[kind]
                marks = flags[kind] or [int(a["size"]) == 1 for a in args]
                ports[kind] = tuple(
                    Slot(str(a["name"]), int(a["size"]), bool(m)) for a, m in zip(args, marks, strict=False)
                )
            sigs.append(
                Signature(str(fn["name"]), ports["inputs"], ports["outputs"], int(fn["workspace_size"]))
            )
        return str(meta["crate"]), scalar, sigs
    except (KeyError, TypeError, ValueError) as exc:
        raise BuildError(f"{where!r} is not a gradgen metadata.json ({type(exc).__name__}: {exc})") from None


# ---- resolving the target ------------------------------------------------------------------------
@attrs.frozen
class _Crate:
    """The files of a crate to build (relative path -> text), before the C ABI layer is added."""

    name: str
    files: dict[str, str]


def _generated_files(name: str, no_std: bool, source: str, meta: Mapping[str, Any]) -> dict[str, str]:
    return {
        "Cargo.toml": cargo_toml(name, no_std),
        "metadata.json": metadata_json(meta),
        "src/lib.rs": source,
    }


def _function_crate(f: Function, config: RustBackendConfig) -> _Crate:
    from .codegen import generate_rust

    result = generate_rust(f, config)
    name = config.crate_name or sanitize(f.name)
    if name in CARGO_RESERVED:
        name += "_kernel"
    meta = metadata(
        name, config, [KernelSizes.of(result.kernel)], {result.function_name: scalar_flags(result.kernel)}
    )
    return _Crate(name, _generated_files(name, config.no_std, result.source, meta))


def _builder_crate(builder: CodeGenerationBuilder) -> _Crate:
    name = builder.config.crate_name or DEFAULT_BUILDER_CRATE
    crate = builder.generate(name)
    meta = dict(crate.metadata)
    flags = {f.name: scalar_flags(k) for f, k in zip(crate.functions, crate.kernels, strict=True)}
    meta["functions"] = [{**fn, **flags[fn["name"]]} for fn in meta["functions"]]
    return _Crate(
        crate.crate_name, _generated_files(crate.crate_name, crate.config.no_std, crate.source, meta)
    )


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
    name, _, _ = _signatures(meta, str(path / "metadata.json"))
    return _Crate(name, files)


def _resolve(target: object, config: RustBackendConfig | None) -> _Crate:
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
        return _path_crate(pathlib.Path(target))
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


def _write(root: pathlib.Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists() or p.read_text() != text:
            p.write_text(text)


def _prepare(crate: _Crate, entry: pathlib.Path) -> list[Signature]:
    """Write the crate with its C ABI layer into ``entry/crate``; return its signatures."""
    files = dict(crate.files)
    _, scalar, sigs = _signatures(json.loads(files["metadata.json"]), crate.name)
    try:
        files["Cargo.toml"] = ffi.enable_ffi_manifest(files["Cargo.toml"])
        files["src/lib.rs"] = ffi.enable_ffi_root(files["src/lib.rs"])
    except ValueError as exc:
        raise BuildError(f"cannot add the C ABI to the crate {crate.name!r}: {exc}") from None
    files["src/ffi.rs"] = ffi.render_ffi([s.ffi_function() for s in sigs], scalar)
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
) -> tuple[CompiledLibrary, list[Signature]]:
    """Build (or find in the cache) the shared library of ``crate``."""
    toolchain = toolchain_version(env)
    key = _cache_key(crate, toolchain)
    entry = cache_dir / key
    record = entry / "build.json"
    package = f"gradgen_ffi_{key[:16]}"
    try:
        entry.mkdir(parents=True, exist_ok=True)
        sigs = _prepare(crate, entry)
        if record.is_file():
            lib = entry / json.loads(record.read_text())["library"]
            if lib.is_file():
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
        tmp = entry / (built.name + ".tmp")
        shutil.copyfile(built, tmp)
        os.replace(tmp, lib)
        record.write_text(
            json.dumps({"library": built.name, "crate": crate.name, "toolchain": toolchain}) + "\n"
        )
    except OSError as exc:
        raise BuildError(f"cannot store the built library in {str(entry)!r}: {exc}") from exc
    return CompiledLibrary(lib, entry, key, True, crate.name, entry / "crate"), sigs


# ---- calling --------------------------------------------------------------------------------------
_CTYPES = {name: s.ctypes_type for name, s in SCALARS.items()}
_DTYPES = {name: s.numpy_dtype for name, s in SCALARS.items()}
_MESSAGES = {
    ffi.INPUT_LENGTH: "input",
    ffi.OUTPUT_LENGTH: "output",
}


def _numpy() -> Any:
    """NumPy if the program imported it (a NumPy array can only come from there)."""
    return sys.modules.get("numpy")


class CompiledFunction:
    """A generated Rust function loaded from a shared library, called like the Rust function
    with its inputs only: ``f(x, u) -> y`` or ``(y0, y1)`` for several outputs.

    Inputs are floats, sequences of floats or NumPy arrays (1-D). Results are floats (scalar
    outputs) and lists, or NumPy arrays (and NumPy scalars) of the kernel's dtype when any input
    is a NumPy array. f32 kernels round the inputs to f32. The workspace is allocated once; a
    lock serialises calls from several threads.
    """

    def __init__(self, library: CompiledLibrary, handle: ctypes.CDLL, sig: Signature, scalar: str) -> None:
        self.name = sig.name
        self.library = library
        self.signature = sig
        self.scalar_type = scalar
        self._ctype = _CTYPES[scalar]
        self._dtype = _DTYPES[scalar]
        self._cfunc = getattr(handle, sig.name + ffi.SYMBOL_SUFFIX)
        n = len(sig.inputs) + len(sig.outputs) + 1
        self._cfunc.argtypes = [ctypes.c_void_p, ctypes.c_size_t] * n
        self._cfunc.restype = ctypes.c_int32
        self._work = (self._ctype * max(sig.workspace_size, 1))()
        self._lock = threading.Lock()

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.signature.inputs)

    @property
    def input_sizes(self) -> tuple[int, ...]:
        return tuple(s.size for s in self.signature.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.signature.outputs)

    @property
    def output_sizes(self) -> tuple[int, ...]:
        return tuple(s.size for s in self.signature.outputs)

    @property
    def workspace_size(self) -> int:
        return self.signature.workspace_size

    @property
    def c_function(self) -> Any:
        """The raw ``ctypes`` function: (pointer, length) per input, output and the workspace."""
        return self._cfunc

    def __repr__(self) -> str:
        ins = ", ".join(f"{s.name}[{s.size}]" for s in self.signature.inputs)
        outs = ", ".join(f"{s.name}[{s.size}]" for s in self.signature.outputs)
        return f"<compiled {self.scalar_type} kernel {self.name}({ins}) -> ({outs})>"

    def _input(self, slot: Slot, arg: Any) -> tuple[Any, bool]:
        """The buffer for one argument and whether it came from NumPy."""
        np = _numpy()
        what = "a number" if slot.size == 1 else f"a sequence of {slot.size} numbers"
        if np is not None and isinstance(arg, np.ndarray):
            if arg.ndim > 1:
                raise KernelCallError(
                    f"argument {slot.name!r} of {self.name!r} must be {what}, "
                    f"got an array of shape {arg.shape}"
                )
            try:
                buf = np.ascontiguousarray(arg.reshape(-1), dtype=self._dtype)
            except (TypeError, ValueError):
                raise KernelCallError(
                    f"argument {slot.name!r} of {self.name!r} must be {what}, "
                    f"got an array of dtype {arg.dtype}"
                ) from None
            if buf.size != slot.size:
                raise KernelCallError(
                    f"argument {slot.name!r} of {self.name!r} has length {buf.size}, expected {slot.size}"
                )
            return buf, True
        try:
            if isinstance(arg, (str, bytes, bytearray)):
                raise TypeError
            values = [float(v) for v in arg] if hasattr(arg, "__len__") else [float(arg)]
        except (TypeError, ValueError, OverflowError):
            raise KernelCallError(
                f"argument {slot.name!r} of {self.name!r} must be {what}, got {arg!r}"
            ) from None
        if len(values) != slot.size:
            raise KernelCallError(
                f"argument {slot.name!r} of {self.name!r} has length {len(values)}, expected {slot.size}"
            )
        return (self._ctype * slot.size)(*values), False

    def __call__(self, *args: Any) -> Any:
        sig = self.signature
        if len(args) != len(sig.inputs):
            raise KernelCallError(
                f"{self.name!r} takes {len(sig.inputs)} argument(s) ({', '.join(self.input_names)}), "
                f"got {len(args)}"
            )
        buffers = [self._input(slot, a) for slot, a in zip(sig.inputs, args, strict=True)]
        np = _numpy() if any(from_np for _, from_np in buffers) else None
        if np is not None:
            outs: list[Any] = [np.empty(s.size, dtype=self._dtype) for s in sig.outputs]
        else:
            outs = [(self._ctype * s.size)() for s in sig.outputs]
        call: list[Any] = []
        for buf, slot in zip([b for b, _ in buffers] + outs, sig.inputs + sig.outputs, strict=True):
            call += [buf.ctypes.data if hasattr(buf, "ctypes") else ctypes.addressof(buf), slot.size]
        with self._lock:
            status = self._cfunc(*call, ctypes.addressof(self._work), sig.workspace_size)
        if status != ffi.OK:
            self.raise_for_status(status)
        values = []
        for buf, slot in zip(outs, sig.outputs, strict=True):
            if np is not None:
                values.append(buf[0] if slot.scalar else buf)
            else:
                values.append(float(buf[0]) if slot.scalar else list(buf))
        return values[0] if len(values) == 1 else tuple(values)

    def raise_for_status(self, status: int) -> None:
        """Raise the :class:`KernelCallError` a nonzero status code of the C function stands for."""
        sig = self.signature
        base, index = divmod(status, 1000)
        base *= 1000
        slots = sig.inputs if base == ffi.INPUT_LENGTH else sig.outputs if base == ffi.OUTPUT_LENGTH else ()
        if base in _MESSAGES and index < len(slots):
            s = slots[index]
            raise KernelCallError(
                f"{self.name!r} rejected its {_MESSAGES[base]} {s.name!r}: wrong length, expected {s.size} "
                f"(status {status})"
            )
        if status == ffi.WORKSPACE_LENGTH:
            raise KernelCallError(
                f"{self.name!r} rejected its workspace: expected at least {sig.workspace_size} "
                f"(status {status})"
            )
        names = [s.name for s in sig.inputs + sig.outputs] + ["work"]
        if base == ffi.NULL_POINTER and index < len(names):
            raise KernelCallError(f"{self.name!r} got a null pointer for {names[index]!r} (status {status})")
        raise KernelCallError(f"{self.name!r} returned the unknown status {status}")


class CompiledCrate(Mapping[str, CompiledFunction]):
    """The functions of a compiled crate, by Rust name (also as attributes)."""

    def __init__(self, library: CompiledLibrary, functions: Sequence[CompiledFunction]) -> None:
        self.library = library
        self.functions = {f.name: f for f in functions}

    def __getitem__(self, name: str) -> CompiledFunction:
        try:
            return self.functions[name]
        except KeyError:
            raise KernelCallError(
                f"the crate {self.library.crate_name!r} has no function {name!r}; it has "
                f"{', '.join(self.functions)}"
            ) from None

    def __getattr__(self, name: str) -> CompiledFunction:
        if name.startswith("_") or name in ("library", "functions"):
            raise AttributeError(name)
        return self[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.functions)

    def __len__(self) -> int:
        return len(self.functions)

    def __repr__(self) -> str:
        return f"<compiled crate {self.library.crate_name} ({', '.join(self.functions)})>"


@overload
def compile(
    target: Function,
    *,
    config: RustBackendConfig | None = None,
    build_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> CompiledFunction: ...
@overload
def compile(
    target: CodeGenerationBuilder | str | os.PathLike[str],
    *,
    config: RustBackendConfig | None = None,
    build_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> CompiledCrate: ...
def compile(
    target: Function | CodeGenerationBuilder | str | os.PathLike[str],
    *,
    config: RustBackendConfig | None = None,
    build_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> CompiledFunction | CompiledCrate:
    """Build ``target`` as a shared library and return Python callables of its kernels.

    ``target`` is a :class:`Function` (returns one :class:`CompiledFunction`; ``config`` is its
    :class:`RustBackendConfig`), a ``CodeGenerationBuilder`` or the path of a crate written by
    gradgen (both return a :class:`CompiledCrate`; their configuration is their own). Builds are
    cached under ``build_dir`` (default :func:`default_cache_dir`); ``env`` is the environment
    cargo runs in (default ``os.environ``). Raises :class:`BuildError` when cargo is missing or
    the build fails (with the tail of cargo's output).
    """
    crate = _resolve(target, config)
    cache = pathlib.Path(build_dir) if build_dir is not None else default_cache_dir()
    library, sigs = build_library(crate, cache, os.environ if env is None else env)
    _, scalar, _ = _signatures(json.loads(crate.files["metadata.json"]), crate.name)
    try:
        handle = ctypes.CDLL(str(library.path))
    except OSError as exc:
        raise BuildError(f"cannot load the built library {str(library.path)!r}: {exc}") from exc
    functions = [CompiledFunction(library, handle, s, scalar) for s in sigs]
    if isinstance(target, Function):
        return functions[0]
    return CompiledCrate(library, functions)
