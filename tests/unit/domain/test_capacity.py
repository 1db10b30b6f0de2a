"""Cinder's thin-provisioning capacity rule, on numbers."""

from __future__ import annotations

import pytest

from cinderlite.domain.capacity import Capacity, NoValidBackend, check_fits

GiB = 1 << 30


def cap(total_gib: int, free_gib: int, provisioned: int, ratio: float = 20.0,
        reserved: int = 0) -> Capacity:
    return Capacity(total_gib * GiB, free_gib * GiB, provisioned, ratio, reserved)


def test_thin_volumes_may_promise_up_to_the_ratio() -> None:
    check_fits(1000, cap(100, 100, 0, ratio=10.0))
    with pytest.raises(NoValidBackend, match="has exceeded the maximum over subscription"):
        check_fits(1001, cap(100, 100, 0, ratio=10.0))
    with pytest.raises(NoValidBackend, match="ratio of provisioned capacity"):
        check_fits(10, cap(100, 100, 995, ratio=10.0))


def test_free_space_times_the_ratio_bounds_one_request() -> None:
    with pytest.raises(NoValidBackend, match=r"Insufficient free virtual space \(50GB\)"):
        check_fits(60, cap(100, 5, 0, ratio=10.0))
    check_fits(50, cap(100, 5, 0, ratio=10.0))


def test_reserved_percentage_is_set_aside() -> None:
    check_fits(20, cap(100, 30, 0, ratio=1.0))
    with pytest.raises(NoValidBackend):
        check_fits(20, cap(100, 30, 0, ratio=1.0, reserved=20))


def test_a_ratio_below_one_counts_as_one_and_the_message_is_cinders() -> None:
    with pytest.raises(NoValidBackend) as raised:
        check_fits(101, cap(100, 100, 0, ratio=0.5))
    assert raised.value.message.startswith("No valid backend was found. ")
