"""Group and group snapshot statuses: every named transition is allowed by its
table, the overrides are listed apart, and Cinder's status lists are kept."""

from __future__ import annotations

import pytest

from cinderlite.domain import groups
from cinderlite.domain.transitions import Transition


@pytest.mark.parametrize("rule", groups.RULES, ids=lambda r: r.name)
def test_group_rules_are_allowed_by_the_table(rule: Transition[groups.GroupStatus]) -> None:
    for current in rule.source:
        assert groups.can_transition(current, rule.target), (current, rule.target)


@pytest.mark.parametrize("rule", groups.SNAPSHOT_RULES, ids=lambda r: r.name)
def test_group_snapshot_rules_are_allowed_by_the_table(
    rule: Transition[groups.GroupSnapshotStatus],
) -> None:
    for current in rule.source:
        assert groups.can_transition_snapshot(current, rule.target), (current, rule.target)


def test_every_named_transition_is_a_rule_or_an_override() -> None:
    defined = {v.name for v in vars(groups).values() if isinstance(v, Transition)}
    listed = {r.name for r in (*groups.RULES, *groups.SNAPSHOT_RULES, *groups.OVERRIDES)}
    # DELETE_MEMBER changes volumes, not groups: the group delete's other half.
    assert defined == listed | {groups.DELETE_MEMBER.name}


def test_a_deleting_group_is_not_deleted_again_and_creating_ends_only_by_settling() -> None:
    assert groups.GroupStatus.DELETING not in groups.FORCE_DELETE.source
    assert groups.GroupStatus.CREATING not in groups.BEGIN_DELETE.source
    assert not groups.can_transition(groups.GroupStatus.CREATING, groups.GroupStatus.DELETING)


def test_cinder_status_lists_cover_ours() -> None:
    assert {s.value for s in groups.GroupStatus} <= set(groups.CINDER_GROUP_STATUSES)
    assert {s.value for s in groups.GroupSnapshotStatus} <= set(
        groups.CINDER_GROUP_SNAPSHOT_STATUSES
    )
    # A group's reset is checked against the group snapshot statuses, as Cinder's
    # validator does: `in-use` is in the message but refused.
    assert "in-use" not in groups.CINDER_GROUP_SNAPSHOT_STATUSES
