"""A real Keystone, as keystonemiddleware's auth_token uses it.

keystoneauth1 does the talking: a session logged in as this service's own user
(v3 password, re-authenticated by the session when its token nears expiry),
`GET /v3/auth/tokens` with the caller's token in `X-Subject-Token`, and the
token body parsed by `keystoneauth1.access`. The cache in front of it is
services/auth.py's (bounded lifetime, never past a token's expiry). keystoneauth1
is synchronous: every call runs in a thread.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from keystoneauth1 import access, session
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1.identity import v3

from cinderlite.domain.errors import DependencyUnavailable, Unauthenticated
from cinderlite.domain.identity import SYSTEM_ALL, Caller

log = logging.getLogger("cinderlite.keystone")

# What a slow Keystone may take before the request is answered 503 (v3) or 401 (v2).
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class ServiceUser:
    """keystonemiddleware [keystone_authtoken]'s password plugin options."""

    auth_url: str
    username: str
    password: str
    project_name: str
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"


def _v3_url(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/v3") else f"{url}/v3"


class Keystone:
    """The service user's session: its token, token validation and catalog look-ups."""

    def __init__(self, user: ServiceUser, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self._url = _v3_url(user.auth_url)
        plugin = v3.Password(
            auth_url=self._url, username=user.username, password=user.password,
            project_name=user.project_name, user_domain_name=user.user_domain_name,
            project_domain_name=user.project_domain_name,
        )
        self._session = session.Session(auth=plugin, timeout=timeout)

    @property
    def url(self) -> str:
        return self._url

    async def service_token(self) -> str:
        """This service's own token (the session renews it before it expires)."""
        return await asyncio.to_thread(self._service_token)

    def _service_token(self) -> str:
        try:
            token = self._session.get_token()
        except ks_exc.Unauthorized as exc:
            raise DependencyUnavailable(
                "identity", f"Keystone refused cinderlite's service user: {exc}"
            ) from exc
        except ks_exc.ClientException as exc:
            raise DependencyUnavailable("identity", f"Keystone unreachable: {exc}") from exc
        if not token:
            raise DependencyUnavailable("identity", "Keystone gave the service user no token")
        return str(token)

    async def endpoint(self, service_type: str, interface: str) -> str | None:
        """The service user's catalog entry for `service_type` at `interface`."""
        return await asyncio.to_thread(self._endpoint, service_type, interface)

    def _endpoint(self, service_type: str, interface: str) -> str | None:
        try:
            url = self._session.get_endpoint(service_type=service_type, interface=interface)
        except ks_exc.EndpointNotFound:
            return None
        except ks_exc.ClientException as exc:
            raise DependencyUnavailable("identity", f"Keystone unreachable: {exc}") from exc
        return str(url) if url else None

    async def caller(self, token: str) -> Caller:
        """The caller `token` stands for, as Keystone says now (raises Unauthenticated;
        DependencyUnavailable when Keystone cannot tell)."""
        return await asyncio.to_thread(self._caller, token)

    def _caller(self, token: str, *, retry: bool = True) -> Caller:
        try:
            resp = self._session.get(
                f"{self._url}/auth/tokens", headers={"X-Subject-Token": token},
                authenticated=True, raise_exc=False,
            )
        except ks_exc.ClientException as exc:
            raise DependencyUnavailable("identity", f"Keystone unreachable: {exc}") from exc
        if resp.status_code == 404:  # invalid, expired or revoked
            raise Unauthenticated()
        if resp.status_code == 401 and retry and self._renewed():
            # Our own token was revoked or expired early: once more with a fresh one.
            return self._caller(token, retry=False)
        if resp.status_code in (401, 403):
            # A service user Keystone does not let validate tokens (its role went).
            log.error("Keystone answered %d to cinderlite's token validation: check the "
                      "service user's roles", resp.status_code)
        if resp.status_code != 200:
            raise DependencyUnavailable(
                "identity", f"Keystone answered {resp.status_code} to a token validation"
            )
        try:
            info = access.create(resp=resp)
        except Exception as exc:  # a body keystoneauth1 cannot read: Keystone is broken
            raise DependencyUnavailable("identity", f"unreadable token body: {exc}") from exc
        return caller_from(info, token)

    def _renewed(self) -> bool:
        """Drop our service token; True when a new one can be had."""
        self._session.invalidate()
        try:
            self._service_token()
        except DependencyUnavailable:
            return False
        return True


def _naive_utc(when: datetime | None) -> datetime | None:
    """Our timestamps are naive UTC (domain/clock.py)."""
    if when is None or when.tzinfo is None:
        return when
    return when.astimezone(UTC).replace(tzinfo=None)


def caller_from(info: access.AccessInfo, token: str) -> Caller:
    """keystonemiddleware's X-User-*/X-Project-*/X-Roles, as our Caller."""
    if not isinstance(info, access.AccessInfoV3):
        raise Unauthenticated()
    system: dict[str, object] = dict(info.system or {})
    return Caller(
        user_id=str(info.user_id or ""),
        user_name=str(info.username or ""),
        project_id=str(info.project_id or ""),
        project_name=str(info.project_name or ""),
        # Keystone lists the implied roles (member and reader under admin) itself.
        roles=frozenset(str(r) for r in (info.role_names or ())),
        user_domain_id=str(info.user_domain_id or ""),
        user_domain_name=str(info.user_domain_name or ""),
        project_domain_id=str(info.project_domain_id or ""),
        project_domain_name=str(info.project_domain_name or ""),
        expires_at=_naive_utc(info.expires),
        system_scope=SYSTEM_ALL if system.get("all") else "",
        auth_token=token,
    )


__all__ = ["Keystone", "ServiceUser", "caller_from"]
