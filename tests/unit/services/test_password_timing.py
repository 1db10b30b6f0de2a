"""A login for a user that does not exist costs what a wrong password costs.

Otherwise the response time tells an attacker which user names exist (a wrong
password took ~490 ms of Argon2, an unknown name ~5 ms).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from cinderlite.services import identity


@pytest.fixture
def real_cost() -> Iterator[None]:
    """Argon2 at a cost where hashing dominates everything else measured."""
    identity.configure_password_hashing(time_cost=2, memory_kib=32 * 1024)
    yield
    identity.configure_password_hashing(time_cost=3, memory_kib=65536)


def _mean(fn: object, runs: int = 5) -> float:
    started = time.perf_counter()
    for _ in range(runs):
        fn()  # type: ignore[operator]
    return (time.perf_counter() - started) / runs


def test_unknown_user_costs_as_much_as_a_wrong_password(real_cost: None) -> None:
    stored = identity.hash_password("the-right-one")
    assert identity.verify_password(None, "x") is False  # makes the dummy hash once
    wrong = _mean(lambda: identity.verify_password(stored, "wrong"))
    unknown = _mean(lambda: identity.verify_password(None, "wrong"))
    assert not identity.verify_password(stored, "wrong")
    assert identity.verify_password(stored, "the-right-one")
    # Same work (one Argon2 verification of the same cost); generous bounds for a
    # busy 2-core machine. Without the dummy check the ratio is about 0.001.
    assert 0.5 < unknown / wrong < 2.0, (unknown, wrong)


def test_every_missing_hash_is_checked_against_the_dummy(monkeypatch: pytest.MonkeyPatch) -> None:
    real = identity._hasher
    calls: list[str] = []

    class Counting:
        def hash(self, password: str) -> str:
            return real.hash(password)

        def verify(self, hash_: str, password: str) -> bool:
            calls.append(hash_)
            return real.verify(hash_, password)

    monkeypatch.setattr(identity, "_hasher", Counting())
    monkeypatch.setattr(identity, "_dummy_hash", None)
    for missing in (None, ""):
        assert identity.verify_password(missing, "pw") is False
    assert len(calls) == 2
    assert calls[0] == calls[1]
