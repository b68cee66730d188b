"""Count arithmetic operations and math calls in generated kernel source (Rust or C).

One tokenizer serves both languages so the counts are comparable. Only assignment statements
are counted (``let v = ...;``, ``work[3] = ...;``, ``y[0] += ...;``, ``a3=(a1*a2);``); length
checks, returns and CasADi's argument loads (``a1=arg[0]? arg[0][0] : 0``) are skipped. In the
right-hand side every binary ``+ - * /`` counts one operation, a compound assignment
(``+=``...) counts one, a unary minus counts one unless it is the sign of a literal, and
``casadi_sq(x)`` counts one multiplication. Calls of elementary functions (``x.sin()``,
``libm::sin(x)``, ``sin(x)``, ``x.powi(2)``, ``casadi_sign``...) are counted separately as math
calls. Nothing here depends on any of the systems.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+\.?\d*(?:[eE][+-]?\d+)?(?:_?f(?:32|64))?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<id>[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)|(?P<op>[-+*/()\[\].,?:]))"
)
_MATH = {
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "atan2",
    "sinh",
    "cosh",
    "tanh",
    "asinh",
    "acosh",
    "atanh",
    "exp",
    "expm1",
    "ln",
    "log",
    "log1p",
    "log10",
    "sqrt",
    "cbrt",
    "powi",
    "powf",
    "pow",
    "hypot",
    "erf",
    "erfc",
    "floor",
    "ceil",
    "round",
    "trunc",
    "abs",
    "fabs",
    "signum",
    "max",
    "min",
    "fmax",
    "fmin",
    "mul_add",
    "casadi_sign",
    "casadi_fmax",
    "casadi_fmin",
    "casadi_fabs",
    "casadi_log1p",
    "casadi_expm1",
    "casadi_hypot",
    "norm2",
    "norm2sq",
    "norm1",
    "norm_inf",
}
_ASSIGN = re.compile(
    r"^(?:let\s+(?:mut\s+)?[A-Za-z_]\w*(?:\s*:\s*\w+)?|[A-Za-z_][\w\.]*(?:\[[^\]]*\])*)\s*([-+*/]?)=(?!=)(.*)$",
    re.S,
)


def _statements(source: str) -> list[str]:
    text = re.sub(r"/\*.*?\*/", " ", source, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    parts = re.split(r"[;{}]", text)
    return [" ".join(p.split()) for p in parts if p.strip()]


def count_ops(source: str) -> tuple[int, int]:
    """(arithmetic operations, math calls) over the assignment statements of ``source``."""
    ops = calls = 0
    for st in _statements(source):
        st = re.sub(r"^if \(res\[\d+\]!=0\) ", "", st)
        if "arg[" in st and "?" in st:
            continue
        m = _ASSIGN.match(st)
        if not m:
            continue
        compound, rhs = m.group(1), m.group(2)
        if compound:
            ops += 1
        toks = [(t.lastgroup, t.group(t.lastgroup)) for t in _TOKEN.finditer(rhs) if t.lastgroup]
        prev: str | None = None  # kind of the previous token: "operand" or "operator"
        for i, (kind, tok) in enumerate(toks):
            nxt = toks[i + 1] if i + 1 < len(toks) else (None, None)
            if kind == "id":
                name = tok.split("::")[-1]
                is_call = nxt[1] == "("
                if is_call and name == "casadi_sq":
                    ops += 1
                elif is_call and name in _MATH:
                    calls += 1
                prev = "operand"
            elif kind == "num":
                prev = "operand"
            elif tok in "+-*/":
                if prev == "operand":
                    ops += 1
                elif tok == "-" and nxt[0] != "num":
                    ops += 1  # negation of an expression; a literal's sign is free
                prev = "operator"
            elif tok in ")]":
                prev = "operand"
            elif tok == ".":
                prev = "operator" if prev != "operand" else "operand"
            else:
                prev = "operator"
    return ops, calls
