"""The exception types the passes raise (re-exported by ``gradgen.errors``)."""

from __future__ import annotations

from gradgen.ir.errors import GradgenError


class StagedKernelError(GradgenError, ValueError):
    """A pass that works on straight-line kernels was given a staged one (``ir.staged``)."""


class InvalidLevelError(GradgenError, ValueError):
    """An unknown simplification level."""


class UnknownPassError(GradgenError, ValueError):
    """A pass name that is not registered."""


class DifferentiationError(GradgenError, ValueError):
    """A derivative request is invalid (wrong index, non-scalar output for a gradient, ...)."""


class EvaluationArgumentError(GradgenError, ValueError):
    """A ``Function`` was called with the wrong number of arguments or wrong argument sizes."""
