"""The gate's verdict (tests/tempest/gate.py), on made-up results: what fails it."""

from __future__ import annotations

from pathlib import Path

from tests.tempest.gate import judge, read_list

C = "tempest.api.volume.test_x.XTest"


def test_listed_failures_hold_the_gate() -> None:
    v = judge({f"{C}.test_a": "failure", f"{C}.test_b": "success", f"{C}.test_c": "skip"},
              {f"{C}.test_a": "snapshots"})
    assert v.holds
    assert (v.expected, v.passed, v.skipped) == ([f"{C}.test_a"], [f"{C}.test_b"],
                                                 [f"{C}.test_c"])


def test_an_unlisted_failure_fails_the_gate() -> None:
    v = judge({f"{C}.test_a": "failure", f"{C}.test_b": "fail"}, {f"{C}.test_a": "x"})
    assert not v.holds
    assert v.unexpected_failures == [f"{C}.test_b"]


def test_a_listed_test_that_passes_fails_the_gate() -> None:
    v = judge({f"{C}.test_a": "success"}, {f"{C}.test_a": "snapshots"})
    assert not v.holds
    assert v.unexpected_passes == [f"{C}.test_a"]


def test_a_listed_class_covers_its_tests_until_one_passes() -> None:
    failing = judge({C: "failure", f"{C}.test_a": "failure"}, {C: "set-up needs quotas"})
    assert failing.holds
    passing = judge({f"{C}.test_a": "success", f"{C}.test_b": "failure"},
                    {C: "set-up needs quotas"})
    assert passing.unexpected_passes == [f"{C}.test_a"]
    assert not passing.holds


def test_entries_that_did_not_run_are_reported_but_do_not_fail() -> None:
    v = judge({f"{C}.test_a": "success"}, {f"{C}.test_gone": "renamed"})
    assert v.holds
    assert v.stale == [f"{C}.test_gone"]


def test_list_lines_keep_their_reasons(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text(f"# header\n\n{C}.test_a  # snapshots (issue 12)\n{C}.test_b\n")
    assert read_list(path) == {f"{C}.test_a": "snapshots (issue 12)", f"{C}.test_b": ""}


def test_the_kept_list_names_a_feature_on_every_line() -> None:
    path = Path(__file__).with_name("expected-failures.txt")
    assert path.is_file()
    kept = read_list(path)  # empty once every feature Tempest tests is served
    assert all(reason for reason in kept.values()), [t for t, r in kept.items() if not r]
