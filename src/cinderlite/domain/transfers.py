"""Volume transfers: the rules of handing a volume to another project, as data and
pure functions (no I/O).

A transfer is an offer: while it exists its volume is `awaiting-transfer`
(domain/volumes.BEGIN_TRANSFER). Whoever presents the transfer's id and its
auth key may accept it: the volume (and, unless `no_snapshots`, its snapshots)
then belongs to the accepting project and user, and the transfer is gone.

The auth key is shown once, in the answer to the create, and never stored:
the row keeps a random salt and a keyed hash of the key (HMAC-SHA256 with the
salt as the key, the same idea as Cinder's salted SHA-1 HMAC), and an offered
key is checked against it in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cinderlite.domain.snapshots import SnapshotStatus

# Characters in a new auth key and salt (Cinder volume_transfer_key_length and
# volume_transfer_salt_length are 16 and 8). Hex digits only: a person reads the
# key out and types it in on the other side.
AUTH_KEY_LENGTH = 16
SALT_LENGTH = 16
# The snapshot statuses a transfer may move a snapshot from (Cinder checks each
# snapshot is available at create, and moves it only from available at accept).
SNAPSHOTS_MOVABLE = frozenset({SnapshotStatus.AVAILABLE})


def new_auth_key() -> str:
    """A fresh auth key: AUTH_KEY_LENGTH hex digits from the system's CSPRNG."""
    return secrets.token_hex(AUTH_KEY_LENGTH // 2)


def new_salt() -> str:
    return secrets.token_hex(SALT_LENGTH // 2)


def key_hash(salt: str, auth_key: str) -> str:
    """What the row stores of `auth_key`: hex HMAC-SHA256 of the key, keyed by the salt."""
    # surrogatepass: a hostile key holding a lone surrogate is hashed (and refused),
    # never an encoding error.
    data = auth_key.encode("utf-8", "surrogatepass")
    return hmac.new(salt.encode(), data, hashlib.sha256).hexdigest()


def key_matches(salt: str, stored_hash: str, offered: str) -> bool:
    """Whether `offered` is the key `stored_hash` was made from. The comparison takes
    the same time wherever the two hashes first differ."""
    return hmac.compare_digest(key_hash(salt, offered), stored_hash)


__all__ = [
    "AUTH_KEY_LENGTH", "SALT_LENGTH", "SNAPSHOTS_MOVABLE", "key_hash", "key_matches",
    "new_auth_key", "new_salt",
]
