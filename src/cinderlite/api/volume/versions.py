"""Version discovery documents and the `OpenStack-API-Version` microversion header."""

from __future__ import annotations

import re
from collections.abc import Mapping

from cinderlite.api.volume.context import MAX_VERSION, MIN_VERSION, ApiVersion

MIN = ApiVersion(*MIN_VERSION)
MAX = ApiVersion(*MAX_VERSION)
HEADER = "OpenStack-API-Version"
SERVICE = "volume"
# cinder/api/openstack/api_version_request.py: major and minor without leading zeros.
_VERSION_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")
# The date of the newest microversion we serve (Cinder's constant for its max).
UPDATED = "2023-08-31T00:00:00Z"
GENERIC_400 = (
    "The server could not comply with the request since it is either malformed or otherwise "
    "incorrect."
)


class VersionError(Exception):
    """A bad microversion header: `status` is 400 or 406."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_header(value: str | None) -> ApiVersion:
    """The requested volume microversion; 3.0 without a header (Cinder's default).

    Raises VersionError(400) for a malformed version or a header without a
    `volume` entry, VersionError(406) for a version outside [MIN, MAX].
    """
    if value is None:
        return MIN
    requested: str | None = None
    for item in value.split(","):
        parts = item.strip().split(None, 1)
        if parts and parts[0].lower() == SERVICE:
            requested = parts[1].strip() if len(parts) > 1 else ""
            break
    if requested is None:
        raise VersionError(400, GENERIC_400)
    if requested.lower() == "latest":
        return MAX
    match = _VERSION_RE.match(requested)
    if match is None:
        raise VersionError(
            400,
            f"API Version String {requested} is of invalid format. Must be of format "
            "MajorNum.MinorNum.",
        )
    version = ApiVersion(int(match.group(1)), int(match.group(2)))
    if not MIN <= version <= MAX:
        raise VersionError(
            406,
            f"Version {requested} is not supported by the API. Minimum is {MIN} and maximum "
            f"is {MAX}.",
        )
    return version


def response_headers(version: ApiVersion) -> Mapping[str, str]:
    return {HEADER: f"{SERVICE} {version}", "Vary": HEADER}


# The v2 API as Cinder listed it while it still served it: no microversions.
V2_UPDATED = "2017-02-25T12:00:00Z"


def _links(base_url: str, major: str) -> list[dict[str, str]]:
    return [
        {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
        {"rel": "self", "href": f"{base_url.rstrip('/')}/{major}/"},
    ]


def _media_types(major: str) -> list[dict[str, str]]:
    return [{"base": "application/json",
             "type": f"application/vnd.openstack.volume+json;version={major[1:]}"}]


def version_entry(base_url: str) -> dict[str, object]:
    """The v3 entry of the version documents (cinder/api/views/versions.py)."""
    return {
        "id": "v3.0",
        "status": "CURRENT",
        "version": str(MAX),
        "min_version": str(MIN),
        "updated": UPDATED,
        "links": _links(base_url, "v3"),
        "media-types": _media_types("v3"),
    }


def v2_version_entry(base_url: str) -> dict[str, object]:
    """The v2 entry, DEPRECATED as Cinder marked it before removing v2 (docs/api-v2.md)."""
    return {
        "id": "v2.0",
        "status": "DEPRECATED",
        "version": "",
        "min_version": "",
        "updated": V2_UPDATED,
        "links": _links(base_url, "v2"),
        "media-types": _media_types("v2"),
    }


def versions_document(base_url: str) -> dict[str, object]:
    """`GET /`: every API served (answered 300, Multiple Choices)."""
    return {"versions": [v2_version_entry(base_url), version_entry(base_url)]}


def version_document(base_url: str, api: str) -> dict[str, object]:
    """`GET /v2/` or `GET /v3/`: the one API at that root (Cinder's versions controller)."""
    entry = v2_version_entry(base_url) if api == "v2" else version_entry(base_url)
    return {"versions": [entry]}
