"""services/policy.py: oslo.policy decisions, remembered for a second."""

from __future__ import annotations

import os

import pytest

from cinderlite.domain.identity import Caller
from cinderlite.services import policy as P


def caller(*roles: str, project: str = "p1") -> Caller:
    return Caller(
        user_id="u", user_name="u", project_id=project, project_name=project,
        roles=frozenset(roles),
    )


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(P.time, "monotonic", lambda: now[0])
    return now


def test_decisions_follow_roles_and_target(clock: list[float]) -> None:
    policy = P.Policy()
    member, reader = caller("member", "reader"), caller("reader")
    for _ in range(2):  # the second round comes from the memo
        assert policy.allows(member, P.UPLOAD_IMAGE, {"project_id": "p1"})
        assert not policy.allows(member, P.UPLOAD_IMAGE, {"project_id": "p2"})
        assert not policy.allows(reader, P.UPLOAD_IMAGE, {"project_id": "p1"})
        assert policy.allows(reader, P.VOLUME_GET, {"project_id": "p1"})
        assert not policy.allows(member, P.UPLOAD_PUBLIC)
    with pytest.raises(P.PolicyNotAuthorized):
        policy.authorize(reader, P.UPLOAD_IMAGE)


def test_a_changed_policy_file_applies_once_the_memo_expires(
    tmp_path, clock: list[float]
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(f'"{P.UPLOAD_PUBLIC}": "role:member"\n')
    policy = P.Policy(path)
    member = caller("member")
    assert policy.allows(member, P.UPLOAD_PUBLIC)
    path.write_text(f'"{P.UPLOAD_PUBLIC}": "!"\n')
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert policy.allows(member, P.UPLOAD_PUBLIC)  # remembered
    clock[0] += P.MEMO_SECONDS + 0.1
    assert not policy.allows(member, P.UPLOAD_PUBLIC)


def test_unhashable_target_values_skip_the_memo(clock: list[float]) -> None:
    policy = P.Policy()
    assert policy.allows(caller("reader"), P.VOLUME_GET, {"project_id": "p1", "tags": ["a"]})



def test_without_a_policy_file_no_other_user_can_plant_one(
    tmp_path, monkeypatch: pytest.MonkeyPatch, clock: list[float]
) -> None:
    # The old code used a fixed name in the shared temp dir, and oslo.policy
    # reloads that file whenever it appears or changes: another local user
    # could write the rules. Plant a rule there and check it is ignored.
    monkeypatch.setattr(P.tempfile, "tempdir", str(tmp_path))
    policy = P.Policy()
    assert policy.allows(caller("reader"), "volume:get")
    (tmp_path / "cinderlite-no-policy-file.yaml").write_text('"volume:get": "!"\n')
    clock[0] += 10
    assert policy.allows(caller("reader"), "volume:get")
    private = [p for p in tmp_path.iterdir() if p.name.startswith("cinderlite-policy-")]
    assert len(private) == 1
    assert private[0].stat().st_mode & 0o077 == 0


def test_system_scoped_callers_have_no_project_to_match(clock: list[float]) -> None:
    """A system admin passes Cinder's admin rules; a system reader or member matches
    no project rule, since its token has no project; the credentials say the scope."""
    policy = P.Policy()

    def system(*roles: str) -> Caller:
        return Caller(user_id="u", user_name="u", project_id="", project_name="",
                      roles=frozenset(roles), system_scope="all")

    admin, reader = system("admin", "member", "reader"), system("reader")
    assert admin.policy_credentials()["system_scope"] == "all"
    assert caller("member").policy_credentials()["system_scope"] is None
    assert policy.allows(admin, P.GET_ALL_TENANTS)
    assert policy.allows(admin, P.VOLUME_GET, {"project_id": "p1"})
    assert not policy.allows(reader, P.VOLUME_GET, {"project_id": "p1"})
    assert not policy.allows(reader, P.GET_ALL_TENANTS)
    assert not policy.allows(system("member"), P.VOLUME_CREATE, {"project_id": ""})
