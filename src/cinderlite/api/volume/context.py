"""What every volume-API handler knows about its request: who, which API, which version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cinderlite.domain.identity import Caller

MIN_VERSION = (3, 0)
# Advertise only a maximum whose fields and rules are really served.
MAX_VERSION = (3, 3)


@dataclass(frozen=True, order=True)
class ApiVersion:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def at_least(self, major: int, minor: int) -> bool:
        return (self.major, self.minor) >= (major, minor)


V2 = ApiVersion(2, 0)


@dataclass(frozen=True)
class VolumeContext:
    caller: Caller
    # "v2": the /v2/{tenant_id} API (docs/api-v2.md); "v3": modern Cinder.
    api: Literal["v2", "v3"]
    # (2, 0) on /v2; the negotiated microversion on /v3 (3.0 without a header).
    version: ApiVersion
    request_id: str
    # The project id segment of the URL, None on project-less /v3 routes.
    url_project_id: str | None = None

    @property
    def project_id(self) -> str:
        return self.caller.project_id
