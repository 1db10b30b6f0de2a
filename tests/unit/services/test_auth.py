"""services/auth.py: the token validator's cache, single-flight lookups and
background refresh, with the database lookup replaced by a scripted fake and the
clock by a counter."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import DependencyUnavailable, Unauthenticated
from cinderlite.domain.identity import Caller
from cinderlite.services.auth import EmbeddedTokenValidator


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeValidator(EmbeddedTokenValidator):
    """read_caller answers from `callers` (an exception there is raised) and, while
    `gate` is set, waits for it before answering: the test decides when a lookup
    finishes."""

    def __init__(self, clock: Clock, **kwargs: float) -> None:
        super().__init__(None, clock=clock, **kwargs)  # type: ignore[arg-type]
        self.callers: dict[str, Caller | Exception] = {}
        self.lookups: list[str] = []
        self.gate: asyncio.Event | None = None

    async def read_caller(self, token: str) -> Caller:
        self.lookups.append(token)
        # Read first, then wait: a lookup sees the database as it was when it began.
        answer = self.callers.get(token, Unauthenticated())
        if self.gate is not None:
            await self.gate.wait()
        if isinstance(answer, Exception):
            raise answer
        return answer


def caller(name: str = "demo", *, expires_in: float = 3600.0) -> Caller:
    return Caller(
        user_id=f"{name}-id", user_name=name, project_id="p", project_name="demo",
        roles=frozenset({"member"}), expires_at=utcnow() + timedelta(seconds=expires_in),
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def validator(clock: Clock) -> FakeValidator:
    v = FakeValidator(clock, cache_seconds=10.0, refresh_ahead_seconds=2.0)
    v.callers["tok"] = caller()
    return v


async def settle() -> None:
    """Let every ready task run (lookups finishing, waiters waking up)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_concurrent_misses_share_one_lookup(validator: FakeValidator) -> None:
    validator.gate = asyncio.Event()
    waiters = [asyncio.create_task(validator.validate("tok")) for _ in range(64)]
    await settle()
    assert validator.lookups == ["tok"]
    validator.gate.set()
    results = await asyncio.gather(*waiters)
    assert {r.user_name for r in results} == {"demo"}
    assert validator.lookups == ["tok"]


async def test_hits_come_from_the_cache_until_it_expires(
    validator: FakeValidator, clock: Clock
) -> None:
    await validator.validate("tok")
    clock.now += 7.9  # before the refresh window
    await validator.validate("tok")
    assert validator.lookups == ["tok"]
    clock.now += 2.2  # past the 10 s deadline
    await validator.validate("tok")
    assert validator.lookups == ["tok", "tok"]


async def test_refresh_ahead_revalidates_in_the_background(
    validator: FakeValidator, clock: Clock
) -> None:
    await validator.validate("tok")
    validator.gate = asyncio.Event()
    clock.now += 8.5  # inside the last 2 s
    # Answered from the cache at once, while one refresh starts behind it.
    for _ in range(10):
        assert (await validator.validate("tok")).user_name == "demo"
    await settle()
    assert validator.lookups == ["tok", "tok"]
    validator.gate.set()
    await settle()
    clock.now += 9.0  # 17.5 s after the first lookup, 9 s after the refresh
    await validator.validate("tok")
    assert validator.lookups == ["tok", "tok"]


async def test_background_refresh_of_a_revoked_token_evicts_it(
    validator: FakeValidator, clock: Clock
) -> None:
    await validator.validate("tok")
    validator.callers["tok"] = Unauthenticated()  # revoked by another process
    clock.now += 8.5
    await validator.validate("tok")  # still cached; starts the refresh
    await settle()
    with pytest.raises(Unauthenticated):
        await validator.validate("tok")


async def test_forget_during_a_lookup_does_not_cache_its_result(
    validator: FakeValidator,
) -> None:
    validator.gate = asyncio.Event()
    before = asyncio.create_task(validator.validate("tok"))
    await settle()
    validator.callers["tok"] = Unauthenticated()  # the revocation commits...
    await validator.forget("tok")  # ...and evicts while the old lookup still runs
    after = asyncio.create_task(validator.validate("tok"))
    await settle()
    assert validator.lookups == ["tok", "tok"]  # the new request did not join the old one
    validator.gate.set()
    assert (await before).user_name == "demo"  # started before the revocation
    with pytest.raises(Unauthenticated):
        await after
    validator.gate = None
    with pytest.raises(Unauthenticated):
        await validator.validate("tok")


async def test_clear_during_a_lookup_does_not_cache_its_result(
    validator: FakeValidator,
) -> None:
    validator.gate = asyncio.Event()
    before = asyncio.create_task(validator.validate("tok"))
    await settle()
    await validator.clear()
    validator.gate.set()
    await before
    await validator.validate("tok")
    assert validator.lookups == ["tok", "tok"]


async def test_cache_never_outlives_the_token(validator: FakeValidator, clock: Clock) -> None:
    validator.callers["short"] = caller(expires_in=3.0)
    await validator.validate("short")
    clock.now += 1.0  # the refresh window does not apply: a refresh could not extend it
    await validator.validate("short")
    await settle()
    assert validator.lookups == ["short"]
    validator.callers["short"] = Unauthenticated()  # expired in the database
    clock.now += 2.5
    with pytest.raises(Unauthenticated):
        await validator.validate("short")
    assert validator.lookups == ["short", "short"]


async def test_failures_reach_every_waiter_and_are_not_cached(validator: FakeValidator) -> None:
    validator.callers["tok"] = DependencyUnavailable("identity", "down")
    validator.gate = asyncio.Event()
    waiters = [asyncio.create_task(validator.validate("tok")) for _ in range(3)]
    await settle()
    validator.gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, DependencyUnavailable) for r in results)
    validator.gate = None
    validator.callers["tok"] = caller()
    assert (await validator.validate("tok")).user_name == "demo"
    assert len(validator.lookups) == 2


async def test_a_cancelled_request_does_not_cancel_the_shared_lookup(
    validator: FakeValidator,
) -> None:
    validator.gate = asyncio.Event()
    first = asyncio.create_task(validator.validate("tok"))
    second = asyncio.create_task(validator.validate("tok"))
    await settle()
    first.cancel()
    await settle()
    validator.gate.set()
    assert (await second).user_name == "demo"
    assert first.cancelled()
    assert validator.lookups == ["tok"]


async def test_unknown_token_is_unauthenticated(validator: FakeValidator) -> None:
    with pytest.raises(Unauthenticated):
        await validator.validate("nope")


def test_revocation_notice_is_seen_once_per_bump_by_every_reader(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cinderlite.services.auth import RevocationNotice

    path = tmp_path / "revoked"
    writer, reader = RevocationNotice(path), RevocationNotice(path)
    assert not reader.changed()
    for _ in range(3):  # bumps in quick succession are each seen
        writer.bump()
        assert reader.changed()
        assert not reader.changed()
    assert not writer.changed()  # its own bumps are not news to itself
    assert oct(path.stat().st_mode & 0o777) == "0o600"
