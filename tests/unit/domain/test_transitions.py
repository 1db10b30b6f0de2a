"""The named transitions of each state machine: every one is allowed by its table."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from cinderlite.domain import backups, images, jobs, snapshots, volumes
from cinderlite.domain.transitions import Transition, named

MACHINES = [volumes, images, jobs, snapshots, backups]
ENUMS = {
    volumes: volumes.VolumeStatus, images: images.ImageStatus, jobs: jobs.JobState,
    snapshots: snapshots.SnapshotStatus, backups: backups.BackupStatus,
}
NAMED = [
    pytest.param(module, rule, id=f"{module.__name__.rsplit('.', 1)[1]}: {rule.name}")
    for module in MACHINES for rule in module.RULES
]


@pytest.mark.parametrize(("module", "rule"), NAMED)
def test_named_transition_is_allowed_by_the_table(
    module: ModuleType, rule: Transition[Any]
) -> None:
    assert rule.source
    for current in rule.source:
        assert rule.target in module.TRANSITIONS[current], (current, rule.target)
        assert module.can_transition(current, rule.target)


@pytest.mark.parametrize("module", MACHINES)
def test_rules_lists_every_named_transition(module: ModuleType) -> None:
    # OVERRIDES: the few changes a machine declares outside its table (admin and
    # cascade deletes of snapshots), listed apart so the table check skips them.
    overrides = getattr(module, "OVERRIDES", ())
    defined = [v for v in vars(module).values() if isinstance(v, Transition)]
    assert sorted(r.name for r in defined) == sorted(r.name for r in (*module.RULES, *overrides))
    assert len({r.name for r in module.RULES}) == len(module.RULES)


@pytest.mark.parametrize("module", MACHINES)
def test_every_status_has_a_row(module: ModuleType) -> None:
    assert set(module.TRANSITIONS) == set(ENUMS[module])


def test_a_transition_outside_the_table_is_refused() -> None:
    S = volumes.VolumeStatus
    with pytest.raises(ValueError, match="'upload from creating'"):
        named(volumes.can_transition, "upload from creating", {S.CREATING, S.AVAILABLE},
              S.UPLOADING)
    with pytest.raises(ValueError, match="nothing"):
        named(volumes.can_transition, "from nowhere", set(), S.AVAILABLE)
    rule = named(volumes.can_transition, "upload", {S.AVAILABLE}, S.UPLOADING)
    assert rule == Transition("upload", frozenset({S.AVAILABLE}), S.UPLOADING)


def test_volume_transitions() -> None:
    S = volumes.VolumeStatus
    assert volumes.START_UPLOAD.source == volumes.UPLOADABLE
    assert volumes.START_UPLOAD_FORCED.source == volumes.UPLOADABLE_FORCED
    assert volumes.START_UPLOAD.target is volumes.START_UPLOAD_FORCED.target is S.UPLOADING
    assert volumes.BEGIN_DELETE.source == volumes.DELETABLE
    assert volumes.BEGIN_DELETE.target is S.DELETING
    # The end of an upload is one statement choosing between the two: same source.
    assert volumes.FINISH_UPLOAD.source == volumes.FINISH_UPLOAD_ATTACHED.source == {S.UPLOADING}
    assert volumes.ATTACH.source == {S.AVAILABLE, S.RESERVED, S.ATTACHING}
    assert volumes.ATTACH.target is S.IN_USE
    assert volumes.DETACH.source == {S.IN_USE, S.DETACHING, S.ATTACHING}
    assert volumes.DETACH.target is S.AVAILABLE
    assert (volumes.FINISH_CREATE.source, volumes.FINISH_CREATE.target) == (
        {S.CREATING}, S.AVAILABLE)
    assert (volumes.FAIL_CREATE.source, volumes.FAIL_CREATE.target) == ({S.CREATING}, S.ERROR)
    assert (volumes.FAIL_DELETE.source, volumes.FAIL_DELETE.target) == (
        {S.DELETING}, S.ERROR_DELETING)


def test_image_transitions() -> None:
    S = images.ImageStatus
    assert (images.BEGIN_SAVING.source, images.BEGIN_SAVING.target) == ({S.QUEUED}, S.SAVING)
    assert (images.ACTIVATE.source, images.ACTIVATE.target) == ({S.SAVING}, S.ACTIVE)
    assert (images.BACK_TO_QUEUED.source, images.BACK_TO_QUEUED.target) == (
        {S.SAVING}, S.QUEUED)
    assert {S.QUEUED, S.SAVING} == images.UNFINISHED
    assert {S.SAVING, S.UPLOADING, S.IMPORTING} == images.WRITING
    assert not images.TRANSITIONS[S.DELETED]


def test_job_transitions() -> None:
    S = jobs.JobState
    assert {S.QUEUED, S.RUNNING} == jobs.UNFINISHED
    assert (jobs.CLAIM.source, jobs.CLAIM.target) == ({S.QUEUED}, S.RUNNING)
    assert (jobs.RECLAIM.source, jobs.RECLAIM.target) == ({S.RUNNING}, S.RUNNING)
    for rule, target in ((jobs.SUCCEED, S.DONE), (jobs.FAIL, S.FAILED),
                         (jobs.CANCEL, S.CANCELLED)):
        assert (rule.source, rule.target) == (jobs.UNFINISHED, target)
    for ended in (S.DONE, S.FAILED, S.CANCELLED):
        assert not jobs.TRANSITIONS[ended]


def test_snapshot_transitions() -> None:
    S = snapshots.SnapshotStatus
    assert snapshots.BEGIN_DELETE.source == {S.AVAILABLE, S.ERROR}
    assert snapshots.FINISH_CREATE.source == {S.CREATING}
    assert snapshots.FINISH_CREATE.target is S.AVAILABLE
    # A snapshot still being copied, or being deleted, is not deleted by a user.
    assert S.CREATING not in snapshots.BEGIN_DELETE.source
    assert S.DELETING not in snapshots.BEGIN_DELETE.source
    # An admin's force delete takes any status; a cascade only deletable ones.
    assert snapshots.FORCE_DELETE.source == set(S)
    assert snapshots.CASCADE_DELETE.source == {S.AVAILABLE, S.ERROR, S.DELETING}
    assert not snapshots.can_transition(S.ERROR_DELETING, S.AVAILABLE)
