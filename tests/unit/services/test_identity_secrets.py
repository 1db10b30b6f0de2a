"""Generated tokens and passwords never start with "-".

About one token in 64 did, and `openstack token revoke <token>` then read it as
an option (seen as a random failure of tests/integration/identity/test_cli_identity.py).
"""

from __future__ import annotations

import pytest

from cinderlite.services import identity


def test_a_leading_dash_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter(["-starts-with-dash", "_ok-value"])
    monkeypatch.setattr(identity.secrets, "token_urlsafe", lambda n: next(drawn))
    assert identity.new_secret(48) == "_ok-value"


def test_many_secrets_none_with_a_leading_dash() -> None:
    values = [identity.new_secret(12) for _ in range(5000)]
    assert not [v for v in values if v.startswith("-")]
    assert len(set(values)) == len(values)
    assert all(len(v) == 16 for v in values)
