"""Refusing unordered collections where gradgen needs an order.

A set or a dict iterates in an order the caller did not choose (a set of symbols hashes by
identity, a dict by insertion order that is easy to get wrong), so every API that turns a
collection into a sequence of ports, entries or seeds refuses them by name instead of guessing.
"""

from __future__ import annotations

from collections.abc import Mapping, Set, ValuesView

from .errors import GradgenTypeError


def is_unordered(value: object) -> bool:
    """True for sets, frozensets, dicts and the views of a dict."""
    return isinstance(value, (Set, Mapping, ValuesView))


def refuse_unordered(value: object, what: str) -> None:
    """Raise :class:`GradgenTypeError` when ``value`` is a set, a dict or a dict view."""
    if is_unordered(value):
        raise GradgenTypeError(
            f"{what} must be an ordered sequence (a list, a tuple or an array), not a "
            f"{type(value).__name__}: its iteration order is not one you chose"
        )
