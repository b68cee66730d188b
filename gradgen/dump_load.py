"""The dump tool's targets: ``path/to/file.py:NAME`` or ``package.module:NAME`` naming a
``Function``, a staged function, or a zero-argument callable returning one. Every way loading
can fail is a :class:`TargetError` with one line saying why (the tool exits with its target
code)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import pathlib
import sys
from typing import Any

from .composed import ComposedFunction
from .function import Function
from .staged import StagedFunction


class TargetError(Exception):
    """The target cannot be loaded; the message says why."""


def _split_target(target: str) -> tuple[str, str]:
    where, sep, name = target.rpartition(":")
    if not sep or not where or not name:
        raise TargetError(f"target {target!r} must be 'path/to/file.py:NAME' or 'package.module:NAME'")
    return where, name


def _exception_text(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r})"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _load_file(path_text: str) -> Any:
    path = pathlib.Path(path_text)
    if not path.is_file():
        raise TargetError(f"no such file: {path_text!r}")
    module_name = "_gradgen_dump_target"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"cannot load {path_text!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the target's own code may raise anything
        raise TargetError(f"loading {path_text!r} raised {_exception_text(exc)}") from None
    finally:
        sys.modules.pop(module_name, None)
        if folder in sys.path:
            sys.path.remove(folder)
    return module


def _load_module(name: str) -> Any:
    if not all(part.isidentifier() for part in name.split(".")):
        raise TargetError(f"{name!r} is neither a .py file nor a dotted module name")
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise TargetError(f"cannot import module {name!r}: {exc}") from None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the target's own code may raise anything
        raise TargetError(f"importing module {name!r} raised {_exception_text(exc)}") from None
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
            raise TargetError(f"{where!r} has no attribute {name!r}{hint}")
        obj = getattr(obj, part)
    if isinstance(obj, Function):
        return obj
    if isinstance(obj, (StagedFunction, ComposedFunction)):
        return obj.function
    if not callable(obj):
        raise TargetError(
            f"{name!r} in {where!r} is a {type(obj).__name__}, not a Function nor a zero-argument "
            "callable returning one",
        )
    try:
        inspect.signature(obj).bind()
    except TypeError:
        raise TargetError(
            f"{name!r} in {where!r} cannot be called without arguments; NAME must be a Function or a "
            "zero-argument callable returning one",
        ) from None
    except ValueError:
        pass  # no signature available (some builtins): try the call
    try:
        result = obj()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the target's own code may raise anything
        raise TargetError(f"calling {name}() from {where!r} raised {_exception_text(exc)}") from None
    if isinstance(result, (StagedFunction, ComposedFunction)):
        return result.function
    if not isinstance(result, Function):
        raise TargetError(f"{name}() from {where!r} returned a {type(result).__name__}, not a Function")
    return result


# ---- pipeline ----------------------------------------------------------------------------------
