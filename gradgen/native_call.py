"""``gradgen.compile``: generated kernels built as a shared library and called from Python.

:mod:`gradgen.native_build` writes the crate with its C ABI, builds it with cargo and caches the
library; this module loads it with :mod:`ctypes` and calls each function by its
:class:`~backends.signature.FunctionSignature`.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from gradgen.backends import ffi
from gradgen.backends.paths import user_path
from gradgen.backends.scalars import SCALARS
from gradgen.backends.signature import Argument, FunctionSignature, SignatureView
from gradgen.config import RustBackendConfig
from gradgen.errors import BuildError, KernelCallError
from gradgen.ir.ordered import is_unordered

from .function import Function
from .native_build import CompiledLibrary, build_library, default_cache_dir, resolve, signatures

if TYPE_CHECKING:  # pragma: no cover
    from .builder import CodeGenerationBuilder

_CTYPES = {name: s.ctypes_type for name, s in SCALARS.items()}
_DTYPES = {name: s.numpy_dtype for name, s in SCALARS.items()}
#: the most arguments a ``ctypes`` foreign function takes
CTYPES_MAX_ARGUMENTS = 1024


#: NumPy dtype kinds a kernel argument may have: bool, signed, unsigned, float
_REAL_KINDS = "biuf"


def _not_real(value: object) -> bool:
    """A complex number or a NumPy scalar that is not real (``float()`` would drop a part)."""
    if isinstance(value, complex):
        return True
    dtype = getattr(value, "dtype", None)
    return dtype is not None and getattr(dtype, "kind", "f") not in _REAL_KINDS


def _numpy() -> Any:
    """NumPy if the program imported it (a NumPy array can only come from there)."""
    return sys.modules.get("numpy")


class CompiledFunction(SignatureView):
    """A generated Rust function loaded from a shared library, called like the Rust function
    with its inputs only: ``f(x, u) -> y`` or ``(y0, y1)`` for several outputs.

    Inputs are floats, sequences of floats or NumPy arrays (1-D). Results are floats (scalar
    outputs) and lists, or NumPy arrays (and NumPy scalars) of the kernel's dtype when any input
    is a NumPy array. f32 kernels round the inputs to f32. The workspace is allocated once; a
    lock serialises calls from several threads.
    """

    def __init__(
        self, library: CompiledLibrary, handle: ctypes.CDLL, sig: FunctionSignature, scalar: str
    ) -> None:
        self.name = sig.function_name
        self.library = library
        self.signature = sig
        self.scalar_type = scalar
        self._ctype = _CTYPES[scalar]
        self._dtype = _DTYPES[scalar]
        n = ffi.slice_count(sig)
        self._cfunc = getattr(handle, ffi.symbol(sig))
        if 2 * n <= CTYPES_MAX_ARGUMENTS:
            self._cfunc.argtypes = [ctypes.c_void_p, ctypes.c_size_t] * n
        self._cfunc.restype = ctypes.c_int32
        # calls go through the array variant: ctypes passes at most 1024 arguments
        self._afunc = getattr(handle, ffi.array_symbol(sig))
        self._afunc.argtypes = [
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.POINTER(ctypes.c_size_t),
            ctypes.c_size_t,
        ]
        self._afunc.restype = ctypes.c_int32
        self._pointers = ctypes.c_void_p * n
        self._lengths = (ctypes.c_size_t * n)(*(s.size for s in sig.inputs + sig.outputs), sig.workspace_size)
        self._work = (self._ctype * max(sig.workspace_size, 1))()
        self._lock = threading.Lock()

    @property
    def c_function(self) -> Any:
        """The raw ``ctypes`` function: (pointer, length) per input, output and the workspace.
        ``ctypes`` passes at most 1024 arguments: for a function with more than 511 inputs plus
        outputs this raises :class:`KernelCallError`; use :attr:`c_array_function`."""
        n = ffi.slice_count(self.signature)
        if 2 * n > CTYPES_MAX_ARGUMENTS:
            raise KernelCallError(
                f"{self.name!r} takes {2 * n} C arguments and ctypes passes at most "
                f"{CTYPES_MAX_ARGUMENTS}; call c_array_function (pointers, lengths, {n}) instead"
            )
        return self._cfunc

    @property
    def c_array_function(self) -> Any:
        """The raw ``ctypes`` function taking the slices as arrays: ``(pointers, lengths, count)``
        for the ``count`` slices (inputs, outputs, workspace); what calls use."""
        return self._afunc

    def __repr__(self) -> str:
        ins = ", ".join(f"{s.name}[{s.size}]" for s in self.signature.inputs)
        outs = ", ".join(f"{s.name}[{s.size}]" for s in self.signature.outputs)
        return f"<compiled {self.scalar_type} kernel {self.name}({ins}) -> ({outs})>"

    def _input(self, slot: Argument, arg: Any) -> tuple[Any, bool]:
        """The buffer for one argument and whether it came from NumPy."""
        np = _numpy()
        what = "a number" if slot.size == 1 else f"a sequence of {slot.size} numbers"
        if np is not None and isinstance(arg, np.ndarray):
            if arg.ndim > 1:
                raise KernelCallError(
                    f"argument {slot.name!r} of {self.name!r} must be {what}, "
                    f"got an array of shape {arg.shape}"
                )
            if arg.dtype.kind not in _REAL_KINDS:
                raise KernelCallError(
                    f"argument {slot.name!r} of {self.name!r} must be {what}, got an array of dtype "
                    f"{arg.dtype} (only real numeric arrays: a complex or object array is never "
                    "converted, that would drop parts of it)"
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
        if is_unordered(arg):
            raise KernelCallError(
                f"argument {slot.name!r} of {self.name!r} must be {what} in your order, not a "
                f"{type(arg).__name__} (its iteration order is not one you chose)"
            )
        try:
            if isinstance(arg, (str, bytes, bytearray)):
                raise TypeError
            items = list(arg) if hasattr(arg, "__len__") else [arg]
            if any(_not_real(v) for v in items):
                raise TypeError
            values = [float(v) for v in items]
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
        pointers = self._pointers(
            *(
                buf.ctypes.data if hasattr(buf, "ctypes") else ctypes.addressof(buf)
                for buf in [b for b, _ in buffers] + outs
            ),
            ctypes.addressof(self._work),
        )
        with self._lock:
            status = self._afunc(pointers, self._lengths, len(pointers))
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
        names = [s.name for s in sig.inputs + sig.outputs] + ["work"]
        decoded = ffi.decode_status(status)  # the table of backends.ffi, as ffi.rs declares it
        if decoded is not None:
            code, k = decoded
            lengths = {"input": sig.inputs, "output": sig.outputs}.get(code.family or "")
            if lengths is not None and k is not None and k < len(lengths):
                raise KernelCallError(
                    f"{self.name!r} rejected its {code.family} {lengths[k].name!r}: wrong length, "
                    f"expected {lengths[k].size} (status {status})"
                )
            if code.value == ffi.NULL_POINTER and k is not None and k < len(names):
                raise KernelCallError(f"{self.name!r} got a null pointer for {names[k]!r} (status {status})")
            if code.value == ffi.WORKSPACE_LENGTH:
                raise KernelCallError(
                    f"{self.name!r} rejected its workspace: expected at least {sig.workspace_size} "
                    f"(status {status})"
                )
            if code.value == ffi.ARGUMENT_COUNT:
                raise KernelCallError(
                    f"{self.name!r} rejected its argument arrays: expected {len(names)} pointers and "
                    f"lengths (status {status})"
                )
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
    crate = resolve(target, config)
    cache = user_path(build_dir, "build_dir") if build_dir is not None else default_cache_dir()
    library, sigs = build_library(crate, cache, os.environ if env is None else env)
    _, scalar, _ = signatures(json.loads(crate.files["metadata.json"]), crate.name)
    try:
        handle = ctypes.CDLL(str(library.path))
    except OSError as exc:
        raise BuildError(f"cannot load the built library {str(library.path)!r}: {exc}") from exc
    functions = [CompiledFunction(library, handle, s, scalar) for s in sigs]
    if isinstance(target, Function):
        return functions[0]
    return CompiledCrate(library, functions)
