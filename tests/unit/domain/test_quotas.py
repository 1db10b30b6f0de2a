"""Quota rules: which limit a demand passes and Cinder's answer for it."""

from __future__ import annotations

import pytest

from cinderlite.domain import quotas as q
from cinderlite.domain.errors import InvalidRequest, TooLarge

LIMITS = {"volumes": 2, "gigabytes": 10, "snapshots": 1, "backups": 1,
          "backup_gigabytes": 5, "per_volume_gigabytes": -1, "groups": 1,
          "volumes_fast": 1, "gigabytes_fast": -1, "snapshots_fast": -1}


def test_a_demand_within_every_limit_passes() -> None:
    q.check(q.volume_demand(10, "fast"), LIMITS, {})
    q.check(q.volume_demand(10**6, None), {"gigabytes": -1, "volumes": -1}, {})


def test_gigabytes_are_named_first_with_cinder_text() -> None:
    with pytest.raises(q.VolumeSizeExceedsAvailableQuota) as err:
        q.check(q.volume_demand(3, None), LIMITS, {"volumes": 2, "gigabytes": 8})
    assert err.value.message == (
        "Requested volume or snapshot exceeds allowed gigabytes quota. Requested 3G, "
        "quota is 10G and 8G has been consumed.")
    assert isinstance(err.value, TooLarge)


def test_counts_name_their_resource() -> None:
    with pytest.raises(q.VolumeLimitExceeded, match=r"\(1\) exceeded for quota 'volumes_fast'"):
        q.check(q.volume_demand(1, "fast"), LIMITS, {"volumes_fast": 1})
    with pytest.raises(q.SnapshotLimitExceeded, match=r"^Maximum number of snapshots allowed"):
        q.check(q.snapshot_demand(1, None), LIMITS, {"snapshots": 1})
    with pytest.raises(q.BackupLimitExceeded):
        q.check(q.backup_demand(1), LIMITS, {"backups": 1})
    with pytest.raises(q.VolumeBackupSizeExceedsAvailableQuota, match="Backup gigabytes"):
        q.check(q.backup_demand(6), LIMITS, {})


def test_per_volume_limit() -> None:
    q.check_volume_size(10**6, LIMITS)
    with pytest.raises(q.VolumeSizeExceedsLimit, match=r"^Requested volume size 6G is larger"):
        q.check_volume_size(6, {"per_volume_gigabytes": 5})


@pytest.mark.parametrize(("value", "message"), [
    (-2, "volumes must be >= -1"), ("x", "volumes must be an integer"),
    (1.5, "volumes must be an integer"), (True, "volumes must be an integer"),
    (2**31, "volumes must be <= 2147483647"),
])
def test_validate_limits_refuses_with_oslo_messages(value: object, message: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        q.validate_limits({"volumes": value}, q.resource_names([]))
    assert err.value.message == message


def test_validate_limits_keys() -> None:
    assert q.validate_limits({"volumes": "3", "id": "p"}, q.resource_names([])) == {"volumes": 3}
    with pytest.raises(InvalidRequest, match=r"Bad key\(s\) in quota set: nope"):
        q.validate_limits({"nope": 1}, q.resource_names([]))
    with pytest.raises(InvalidRequest, match="quota class set: id"):
        q.validate_limits({"id": 1}, q.resource_names([]), class_set=True)
    assert "volumes_fast" in q.resource_names(["fast"])


def test_limit_below_usage_is_refused_unless_unlimited() -> None:
    q.check_not_below_usage({"volumes": -1, "per_volume_gigabytes": 0}, {"volumes": 3})
    with pytest.raises(InvalidRequest, match="Current usage is 3 and the requested limit is 2"):
        q.check_not_below_usage({"volumes": 2}, {"volumes": 3})
