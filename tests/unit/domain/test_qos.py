"""QoS spec rules: the consumer, key and value lengths, and the connection's
qos_specs with per-GB keys (cinder/volume/manager.py _parse_connection_options)."""

from __future__ import annotations

from datetime import datetime

import pytest

from cinderlite.domain.errors import InvalidRequest
from cinderlite.domain.qos import QosSpec, check_consumer, check_lengths, connection_specs


def _spec(consumer: str, **specs: str | None) -> QosSpec:
    return QosSpec(id="s", name="n", consumer=consumer, created_at=datetime(2026, 1, 1),
                   specs=specs)


def test_consumer_defaults_to_back_end() -> None:
    assert check_consumer(None) == "back-end"
    assert [check_consumer(c) for c in ("front-end", "back-end", "both")] == [
        "front-end", "back-end", "both"]


@pytest.mark.parametrize("value", ["", "Front-End", "front_end", 1, True])
def test_other_consumers_are_refused(value: object) -> None:
    with pytest.raises(InvalidRequest, match=r"^Invalid qos specs: Valid consumer"):
        check_consumer(value)


def test_lengths() -> None:
    check_lengths({"k" * 255: "v" * 255, "n": None, "e": ""})
    with pytest.raises(InvalidRequest, match=r'Key "" has 0 characters, less than 1\.$'):
        check_lengths({"": "v"})
    with pytest.raises(InvalidRequest, match=r"has 256 characters, more than 255\.$"):
        check_lengths({"k": "v" * 256})
    with pytest.raises(InvalidRequest, match=r"is not a string or unicode$"):
        check_lengths({"k": 5})


def test_back_end_specs_are_not_for_the_consumer() -> None:
    assert connection_specs(None, 10) is None
    assert connection_specs(_spec("back-end", total_iops_sec="100"), 10) is None


@pytest.mark.parametrize("consumer", ["front-end", "both"])
def test_front_end_specs_go_to_the_consumer(consumer: str) -> None:
    assert connection_specs(_spec(consumer, total_iops_sec="100", other=None), 10) == {
        "total_iops_sec": "100", "other": None}


def test_per_gb_keys_become_the_volume_figures() -> None:
    spec = _spec("front-end", read_iops_sec_per_gb="10", write_bytes_sec_per_gb="100",
                 write_bytes_sec_per_gb_min="5000", total_iops_sec_per_gb="50",
                 total_iops_sec_max="300")
    assert connection_specs(spec, 20) == {
        "read_iops_sec": 200,
        "write_bytes_sec": 5000,  # 100 x 20 is below the minimum
        "total_iops_sec": 300,  # 50 x 20 is above the maximum
    }


def test_a_per_gb_key_that_is_no_integer_is_passed_on() -> None:
    spec = _spec("both", read_iops_sec_per_gb="lots")
    assert connection_specs(spec, 3) == {"read_iops_sec_per_gb": "lots"}
