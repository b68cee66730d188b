"""The simplification levels: the one vocabulary the passes, the pipelines and the façade share."""

from __future__ import annotations

from .errors import InvalidLevelError

#: level names, indexed by level number (``0`` is no simplification)
LEVELS: tuple[str, ...] = ("none", "basic", "medium", "high", "max")


def level_index(level: str | int) -> int:
    """``"none" .. "max"`` or ``0 .. 4`` -> ``0 .. 4``; anything else is an InvalidLevelError."""
    if isinstance(level, bool):
        raise InvalidLevelError(
            f"unknown simplification level {level!r}; use one of {', '.join(LEVELS)} or 0-4"
        )
    if isinstance(level, int):
        if 0 <= level < len(LEVELS):
            return level
        raise InvalidLevelError(
            f"simplification level {level} is out of range; use 0-4 or one of {', '.join(LEVELS)}"
        )
    if isinstance(level, str) and level in LEVELS:
        return LEVELS.index(level)
    raise InvalidLevelError(f"unknown simplification level {level!r}; use one of {', '.join(LEVELS)} or 0-4")
