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


__all__ = [
    "CONSUMERS", "DEFAULT_CONSUMER", "Association", "QosSpec", "check_consumer",
    "check_lengths", "key_not_found", "spec_not_found",
]
