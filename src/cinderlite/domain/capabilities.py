"""Whether a backend's capabilities satisfy a volume type's extra specs (no I/O).

Cinder's scheduler keeps the backends whose reported capabilities match every
extra spec of the requested type (cinder/scheduler/filters/capabilities_filter.py,
extra_specs_ops.py): a spec's key names a capability, either plainly
(`storage_protocol`) or in the `capabilities:` scope (`capabilities:vendor_name`,
nested with further colons); any other scope (`RESKEY:`, `QoS:`, `volume_backend_name`
is plain) is for someone else and ignored. The value is either a literal, compared
as is with the capability, or an operator and its operand:

    =  == != >= <=        numbers (`=` means "at least")
    s== s!= s< s<= s> s>= strings
    <in>                  the operand is a substring of the capability
    <is>                  booleans (`<is> True`)
    <or> a <or> b         one of the words

A capability that is a list matches when one of its items does. A spec whose
capability the backend does not report fails.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from oslo_utils import strutils


def _number(op: Callable[[float, float], bool]) -> Callable[[Any, str], bool]:
    return lambda value, operand: op(float(value), float(operand))


def _is(value: Any, operand: str) -> bool:
    return strutils.bool_from_string(value) is strutils.bool_from_string(operand)


_OPERATORS: dict[str, Callable[[Any, str], bool]] = {
    "=": _number(operator.ge),
    "==": _number(operator.eq),
    "!=": _number(operator.ne),
    ">=": _number(operator.ge),
    "<=": _number(operator.le),
    "<in>": lambda value, operand: operand in value,
    "<is>": _is,
    "s==": operator.eq,
    "s!=": operator.ne,
    "s<": operator.lt,
    "s<=": operator.le,
    "s>": operator.gt,
    "s>=": operator.ge,
}


def match(value: Any, requirement: str | None) -> bool:
    """Whether one capability value meets one extra spec's value."""
    if requirement is None:
        return value is None
    words = requirement.split()
    op = words[0] if words else None
    if op != "<or>" and op not in _OPERATORS:
        return bool(value == requirement)
    if value is None:
        return False
    if op == "<or>":
        # "<or> a <or> b": every other word is a choice.
        return value in words[1::2]
    if len(words) < 2:
        return False
    try:
        return bool(_OPERATORS[op](value, words[1]))
    except (TypeError, ValueError):
        return False


def capability_keys(extra_specs: Mapping[str, str] | None) -> list[tuple[str, list[str]]]:
    """(spec key, capability path) of the specs the capabilities filter reads."""
    keys = []
    for key in extra_specs or {}:
        scope = key.split(":")
        if len(scope) > 1 and scope[0] != "capabilities":
            continue
        if scope[0] == "capabilities":
            scope = scope[1:]
        keys.append((key, scope))
    return keys


def unmet(capabilities: Mapping[str, Any], extra_specs: Mapping[str, str] | None) -> str | None:
    """The first extra spec key the capabilities do not satisfy, None when all are met."""
    specs = extra_specs or {}
    for key, path in capability_keys(specs):
        found: Any = capabilities
        for part in path:
            try:
                found = found[part]
            except (TypeError, KeyError, IndexError):
                return key
        values = found if isinstance(found, list) else [found]
        if not any(match(v, specs[key]) for v in values):
            return key
    return None
