"""The exception types the IR raises, and :class:`GradgenError`, the base of every gradgen error.

Each subclasses the built-in it specialises, so callers can catch either the precise gradgen type
or the familiar built-in one. Errors raised by the passes, the backends and the façade live in
their own ``errors`` modules; ``gradgen.errors`` re-exports them all.
"""

from __future__ import annotations


class GradgenError(Exception):
    """Base class of every error raised by gradgen."""


class GradgenTypeError(GradgenError, TypeError):
    """A value of the wrong kind was given (e.g. a string where an expression was expected)."""


class ConstantOverflowError(GradgenTypeError, OverflowError):
    """A number is too large to become a floating-point constant (``x + 10**400``)."""


class FunctionDefinitionError(GradgenError, ValueError):
    """A ``Function`` is ill-formed: non-symbol or duplicate inputs, free symbols, name counts."""


class ConfigError(GradgenError, ValueError):
    """An invalid configuration value (a pass option, a backend mode, a scalar type, ...)."""


class VerificationError(GradgenError, RuntimeError):
    """The IR broke one of its invariants (reported with the pass that broke it)."""


class CustomFunctionError(GradgenError, ValueError):
    """A custom elementary function is ill-defined or its callback returned a bad value."""
