"""A named status change, as data: the statuses it may start from and the one it ends in.

Each state machine (domain/volumes.py, images.py, jobs.py) holds a table of the
changes it allows and names the ones cinderlite performs; a name is refused at
import unless its table allows every step of it. The compare-and-swap updates in
db/ take a named transition: `UPDATE ... SET status = target WHERE status IN source`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

StatusT = TypeVar("StatusT", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class Transition(Generic[StatusT]):
    name: str
    source: frozenset[StatusT]
    target: StatusT


def named(
    can_transition: Callable[[StatusT, StatusT], bool], name: str, source: Iterable[StatusT],
    target: StatusT,
) -> Transition[StatusT]:
    """The transition `name`; ValueError unless `can_transition` allows each of its steps."""
    rule = Transition(name, frozenset(source), target)
    refused = sorted(s for s in rule.source if not can_transition(s, target))
    if not rule.source or refused:
        raise ValueError(f"transition {name!r}: {refused or 'nothing'} -> {target} not allowed")
    return rule


class Table(Generic[StatusT]):
    """Which status may follow which (`allowed[current]`), and the named
    transitions drawn from it (`rule`, refused unless every step is allowed)."""

    def __init__(self, allowed: Mapping[StatusT, frozenset[StatusT]]) -> None:
        self.allowed = allowed

    def allows(self, current: StatusT, new: StatusT) -> bool:
        return new in self.allowed.get(current, frozenset())

    def rule(self, name: str, source: Iterable[StatusT], target: StatusT) -> Transition[StatusT]:
        return named(self.allows, name, source, target)
