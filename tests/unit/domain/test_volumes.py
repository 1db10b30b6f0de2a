"""Every transition of the volume state machine, allowed and forbidden."""

from __future__ import annotations

import itertools

import pytest

from cinderlite.domain.volumes import (
    DELETABLE,
    TRANSITIONS,
    UPLOADABLE,
    UPLOADABLE_FORCED,
    VolumeStatus,
    can_transition,
    status_after_upload,
)

S = VolumeStatus
ALLOWED = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}


@pytest.mark.parametrize(("current", "new"), sorted(itertools.product(S, S)))
def test_transition_table(current: VolumeStatus, new: VolumeStatus) -> None:
    assert can_transition(current, new) == ((current, new) in ALLOWED)


def test_every_status_has_a_row() -> None:
    assert set(TRANSITIONS) == set(S)


@pytest.mark.parametrize(
    ("current", "new"),
    [(S.CREATING, S.AVAILABLE), (S.CREATING, S.ERROR), (S.AVAILABLE, S.IN_USE),
     (S.IN_USE, S.AVAILABLE), (S.AVAILABLE, S.UPLOADING), (S.UPLOADING, S.AVAILABLE),
     (S.UPLOADING, S.IN_USE), (S.AVAILABLE, S.DELETING), (S.ERROR, S.DELETING)],
)
def test_paths_cinderlite_uses(current: VolumeStatus, new: VolumeStatus) -> None:
    assert can_transition(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [(S.UPLOADING, S.ERROR), (S.DELETING, S.AVAILABLE), (S.IN_USE, S.DELETING),
     (S.CREATING, S.UPLOADING), (S.ERROR, S.AVAILABLE)],
)
def test_forbidden_paths(current: VolumeStatus, new: VolumeStatus) -> None:
    assert not can_transition(current, new)


def test_status_sets() -> None:
    # Cinder API.delete's statuses that cinderlite's volumes can take.
    assert {
        S.AVAILABLE, S.ERROR, S.ERROR_DELETING, S.ERROR_RESTORING, S.ERROR_EXTENDING,
    } == DELETABLE
    assert {S.AVAILABLE} == UPLOADABLE
    assert {S.AVAILABLE, S.IN_USE} == UPLOADABLE_FORCED
    assert S.IN_USE.value == "in-use"


def test_status_after_upload() -> None:
    assert status_after_upload(True) is S.IN_USE
    assert status_after_upload(False) is S.AVAILABLE
