"""gradgen: symbolic functions and their derivatives, compiled to safe, no_std-ready Rust.

This package is the public façade; the compiler lives in ``ir`` (data structures), ``passes``
(transformations) and ``backends`` (Rust printing and crate writing).
"""

from ir.errors import (
    BuildError,
    ConfigError,
    DifferentiationError,
    EvaluationArgumentError,
    FunctionDefinitionError,
    GradgenError,
    GradgenTypeError,
    InvalidLevelError,
    KernelCallError,
    InvalidNameError,
    ProjectWriteError,
    ShapeError,
    UnknownPassError,
    VerificationError,
)
from backends.config import RustBackendConfig
from ir.expr import SX

from .api import cse, simplify
from .builder import CodeGenerationBuilder, FunctionBundle  # multi-kernel crates (issue 4)
from .codegen import create_rust_project
from .compile import compile  # noqa: A004 (gradgen.compile, issue 7)
from .derivatives import (  # automatic differentiation (issue 3)
    create_rust_derivative_bundle,
    derivative,
    gradient,
    hessian,
    hvp,
    jacobian,
    jvp,
    vjp,
)
from .function import Function
from .functions import (
    acos,
    acosh,
    asin,
    asinh,
    atan,
    atan2,
    atanh,
    bilinear_form,
    cbrt,
    ceil,
    cos,
    cosh,
    dot,
    eq,
    erf,
    erfc,
    exp,
    expm1,
    fabs,
    floor,
    hypot,
    if_else,
    log,
    log1p,
    log10,
    matvec,
    maximum,
    minimum,
    ne,
    norm1,
    norm2,
    norm2sq,
    norm_inf,
    norm_p,
    norm_p_to_p,
    pow,
    quadform,
    round,
    signum,
    sin,
    sinh,
    sqrt,
    tan,
    tanh,
    trunc,
)
from .vector import SXVector, vector

__version__ = "0.1.0"

__all__ = [
    "SX",
    "SXVector",
    "Function",
    "vector",
    "simplify",
    "cse",
    "RustBackendConfig",
    "create_rust_project",
    "CodeGenerationBuilder", "FunctionBundle",  # multi-kernel crates (issue 4)
    "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh",
    "acosh", "atanh", "exp", "expm1", "log", "log1p", "log10", "sqrt", "cbrt", "erf", "erfc",
    "floor", "ceil", "round", "trunc", "signum", "fabs", "hypot", "maximum", "minimum", "pow",
    "eq", "ne", "if_else", "matvec", "quadform", "bilinear_form", "dot", "norm1", "norm2",
    "norm2sq", "norm_inf", "norm_p", "norm_p_to_p",
    # automatic differentiation (issue 3)
    "derivative", "gradient", "jacobian", "hessian", "jvp", "vjp", "hvp",
    "create_rust_derivative_bundle",
    "GradgenError", "GradgenTypeError", "FunctionDefinitionError", "EvaluationArgumentError",
    "InvalidLevelError", "ConfigError", "InvalidNameError", "DifferentiationError",
    "UnknownPassError", "VerificationError", "ProjectWriteError", "BuildError", "ShapeError",
    "compile", "KernelCallError",  # calling compiled kernels from Python (issue 7)
]
