"""The ``where`` filters of the published SDLs (HotChocolate's filter inputs), applied to register data.

``and``/``or`` combine; a field's operation input (``eq``, ``neq``, ``in``, ``nin``, ``gt``, ``gte``,
``lt``, ``lte``, ``contains``, ``startsWith``, ``endsWith`` and their ``n`` negations) tests its value;
a nested object filter tests a nested object; ``some``/``all``/``none``/``any`` test a list. A value the
policy withheld is absent, so a filter on it does not match: a filter reveals nothing the answer hides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_MISSING = object()


def _cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def test(value: Any, arg: Any) -> bool:
        if value is _MISSING or value is None or arg is None:
            return False
        try:
            return op(value, arg)
        except TypeError:
            return op(str(value), str(arg))
    return test


def _text(op: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    return lambda value, arg: isinstance(value, str) and isinstance(arg, str) and op(value, arg)


OPERATIONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda v, a: (v is None or v is _MISSING) if a is None else v is not _MISSING and str(v) == str(a),
    "in": lambda v, a: v is not _MISSING and str(v) in {str(x) for x in a or ()},
    "gt": _cmp(lambda v, a: v > a), "gte": _cmp(lambda v, a: v >= a),
    "lt": _cmp(lambda v, a: v < a), "lte": _cmp(lambda v, a: v <= a),
    "contains": _text(lambda v, a: a in v), "startsWith": _text(str.startswith), "endsWith": _text(str.endswith),
}


def _operation(name: str) -> Callable[[Any, Any], bool] | None:
    if name in OPERATIONS:
        return OPERATIONS[name]
    if name.startswith("n"):
        base = name[1].lower() + name[2:]
        positive = OPERATIONS.get(base) or OPERATIONS.get(name[1:])
        if positive is not None:
            return lambda v, a: not positive(v, a)
    return None


def matches(data: Any, where: dict[str, Any] | None) -> bool:
    """Whether ``data`` (a record's filtered attributes) passes the ``where`` filter."""
    if not where:
        return True
    for key, cond in where.items():
        if cond is None:
            continue
        if key == "and":
            if not all(matches(data, c) for c in cond):
                return False
        elif key == "or":
            if not any(matches(data, c) for c in cond):
                return False
        elif not _field(data.get(key, _MISSING) if isinstance(data, dict) else _MISSING, cond):
            return False
    return True


def _field(value: Any, cond: dict[str, Any]) -> bool:
    for name, arg in cond.items():
        op = _operation(name)
        if op is not None:
            if not op(value, arg):
                return False
        elif name in ("some", "all", "none", "any"):
            items = value if isinstance(value, list) else []
            if name == "any":
                if bool(items) != bool(arg):
                    return False
            elif name == "some" and not any(matches(i, arg) for i in items):
                return False
            elif name == "all" and not all(matches(i, arg) for i in items):
                return False
            elif name == "none" and any(matches(i, arg) for i in items):
                return False
        elif not matches(value if isinstance(value, dict) else {}, {name: arg}):  # a nested object filter
            return False
    return True
