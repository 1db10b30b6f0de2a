"""QoS specs: what a spec is and its rules, without I/O (Cinder's
cinder/volume/qos_specs.py, cinder/objects/qos_specs.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from cinderlite.domain.errors import InvalidRequest, NotFound

# cinder/objects/fields.py QoSConsumerValues, in its order; back-end is the default.
CONSUMERS = ("back-end", "front-end", "both")
DEFAULT_CONSUMER = "back-end"
# Cinder's message names the field by its repr (oslo.versionedobjects
# BaseEnumField.__repr__), which is what its clients are shown.
_CONSUMER_FIELD = (
    "QoSConsumerValues(default=<class 'oslo_versionedobjects.fields.UnspecifiedDefault'>,"
    f"nullable=False,valid_values={CONSUMERS!r})"
)
MAX_LENGTH = 255


@dataclass(frozen=True)
class QosSpec:
    id: str
    name: str
    consumer: str
    created_at: datetime
    updated_at: datetime | None = None
    # The keys without `consumer`; a value may be None.
    specs: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Association:
    """A volume type a spec is associated with (the only kind of entity Cinder has)."""

    id: str
    name: str


def spec_not_found(spec_id: str) -> NotFound:
    return NotFound(f"No such QoS spec {spec_id}.")


def key_not_found(spec_id: str, key: str) -> NotFound:
    return NotFound(f"QoS spec {spec_id} has no spec with key {key}.")


def check_consumer(value: object) -> str:
    """The consumer, or Cinder's InvalidQoSSpecs (400) for anything but the three
    values; None means the default."""
    if value is None:
        return DEFAULT_CONSUMER
    if isinstance(value, str) and value in CONSUMERS:
        return value
    raise InvalidRequest(
        f"Invalid qos specs: Valid consumer of QoS specs are: {_CONSUMER_FIELD}"
    )


def check_lengths(specs: Mapping[str, object]) -> None:
    """cinder/utils.py validate_dictionary_string_length: keys of 1 to 255
    characters, values strings of at most 255 (or null); Cinder's InvalidInput."""
    for key, value in specs.items():
        _check_string(key, f'Key "{key}"', 1)
        if value is not None:
            _check_string(value, f'Value for key "{key}"', 0)


def _check_string(value: object, name: str, min_length: int) -> None:
    # oslo_utils.strutils.check_string_length's messages.
    if not isinstance(value, str):
        reason = f"{name} is not a string or unicode"
    elif len(value) < min_length:
        reason = f"{name} has {len(value)} characters, less than {min_length}."
    elif len(value) > MAX_LENGTH:
        reason = f"{name} has {len(value)} characters, more than {MAX_LENGTH}."
    else:
        return
    raise InvalidRequest(f"Invalid input received: {reason}")


# The rate keys a spec may give per GB of the volume (cinder/volume/manager.py
# _parse_connection_options): `<key>_per_gb`, with `<key>_per_gb_min` and `<key>_max`.
PER_GB_KEYS = ("read_iops_sec", "read_bytes_sec", "write_iops_sec", "write_bytes_sec",
               "total_iops_sec", "total_bytes_sec")


def connection_specs(spec: QosSpec | None, size_gb: int) -> dict[str, object] | None:
    """The `qos_specs` of a volume's connection info: a front-end (or both) spec's
    keys, for the consumer (the hypervisor) to enforce, with the per-GB keys
    turned into the volume's figures; None for a back-end spec or none.

    A per-GB figure that is not an integer is passed on as written (Cinder
    fails the connection with a 500 there)."""
    if spec is None or spec.consumer not in ("front-end", "both"):
        return None
    specs: dict[str, object] = dict(spec.specs)
    for key in PER_GB_KEYS:
        per_gb = f"{key}_per_gb"
        if per_gb not in specs:
            continue
        try:
            minimum = int(str(specs.get(f"{per_gb}_min", 0)))
            value = max(minimum, int(str(specs[per_gb])) * size_gb)
            maximum = int(str(specs.get(f"{key}_max", value)))
        except ValueError:
            continue
        specs.pop(f"{per_gb}_min", None)
        specs.pop(f"{key}_max", None)
        specs.pop(per_gb)
        specs[key] = min(value, maximum)
    return specs


def retype_keeps_front_end(old: QosSpec | None, new: QosSpec | None) -> bool:
    """Whether an in-use volume may change from a type with spec `old` to one with
    `new`: the same spec, or no front-end (or both) spec on either side; the
    consumer already enforces the old one (cinder/db/api.py volume_qos_allows_retype)."""
    if old is not None and new is not None and old.id == new.id:
        return True
    return all(s is None or s.consumer == "back-end" for s in (old, new))


__all__ = [
    "CONSUMERS", "DEFAULT_CONSUMER", "PER_GB_KEYS", "Association", "QosSpec", "check_consumer",
    "check_lengths", "connection_specs", "key_not_found", "retype_keeps_front_end",
    "spec_not_found",
]
