"""Image sharing (Glance v2 image members): add, list, show, update status, delete.

Who may do what (Glance's secure-RBAC defaults, glance/policies/image.py, and
glance/api/v2/image_members.py): only `shared` images have members. The owner
project's members (role member) and admins add and remove members; the owner
project's readers, the member projects and admins read them, a member project
seeing only its own membership. Only the member project (or an admin) changes a
membership's status: the owner cannot accept on a member's behalf. A new
membership is `pending`; a shared image shows in a member's default image list
once `accepted`, but a member can read it (and download it, and make a volume
from it) whatever the status, as in Glance.
"""

from __future__ import annotations

from collections.abc import Sequence

from cinderlite.db.image_members import ImageMemberRow
from cinderlite.db.images import ImageRepository, ImageRow
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import Forbidden, InvalidRequest, NotFound, TooLarge
from cinderlite.domain.identity import ADMIN_ROLE, MEMBER_ROLE, READER_ROLE, Caller
from cinderlite.domain.images import IMAGE_MEMBER_QUOTA, MEMBER_STATUS_MESSAGE, MemberStatus
from cinderlite.services.images import sees_without_membership
from cinderlite.services.units import Unit, Units

ONLY_SHARED = "Only shared images have members."


def _not_authorized(action: str) -> Forbidden:
    return Forbidden(f"You are not authorized to complete {action} action.")


def _is_owner(caller: Caller, image: ImageRow) -> bool:
    return image.owner is not None and image.owner == caller.project_id


def _can_manage(caller: Caller, image: ImageRow) -> bool:
    """add_member / delete_member: admin, or a member of the owner project."""
    return caller.is_admin or (MEMBER_ROLE in caller.roles and _is_owner(caller, image))


def _can_read(caller: Caller, image: ImageRow) -> bool:
    """get_member(s): admin, or a reader of the owner project or of a member project
    (a visible shared image that is not ours is one we are a member of)."""
    if caller.is_admin:
        return True
    return bool(caller.roles & {READER_ROLE, MEMBER_ROLE, ADMIN_ROLE}) and (
        _is_owner(caller, image) or image.visibility == "shared"
    )


def _can_change_status(caller: Caller, image: ImageRow) -> bool:
    """modify_member: admin, or a member of the member project (never the owner)."""
    if caller.is_admin:
        return True
    return MEMBER_ROLE in caller.roles and image.visibility == "shared" and not _is_owner(
        caller, image
    )


class ImageMemberService:
    """The image member use cases, each in one unit of work."""

    def __init__(
        self, *, units: Units, repo: ImageRepository, quota: int = IMAGE_MEMBER_QUOTA
    ) -> None:
        self._units = units
        self._repo = repo
        # Glance image_member_quota (negative: unlimited).
        self._quota = quota

    async def _image(
        self, caller: Caller, image_id: str, unit: Unit, *, for_update: bool = False
    ) -> ImageRow:
        """The image if `caller` sees it; Glance's member API says "Image X not found."."""
        image = await self._repo.get(image_id, unit=unit, for_update=for_update)
        if image is not None:
            sees = sees_without_membership(caller, image)
            if sees is None:
                sees = await self._repo.is_member(image.id, caller.project_id, unit=unit)
            if sees:
                return image
        raise NotFound(f"Image {image_id} not found.")

    async def _member(
        self, caller: Caller, image: ImageRow, member_id: str, unit: Unit
    ) -> ImageMemberRow:
        """A membership `caller` may read: Forbidden (lookup) or NotFound. A member
        project sees its own membership only (Glance's image_member_find)."""
        if not _can_read(caller, image):
            raise Forbidden(
                f"You are not authorized to lookup the members of the image {image.id}."
            )
        member = None
        if caller.is_admin or _is_owner(caller, image) or member_id == caller.project_id:
            member = await self._repo.member(unit, image.id, member_id)
        if member is None:
            raise NotFound(f"{member_id} not found in the member list of the image {image.id}.")
        return member

    async def add(self, caller: Caller, image_id: str, member_id: str) -> ImageMemberRow:
        """POST /v2/images/{id}/members: a `pending` membership."""
        async with self._units.write() as unit:
            # Locked: two adds cannot both pass the quota check.
            image = await self._image(caller, image_id, unit, for_update=True)
            if image.visibility != "shared":
                raise Forbidden(f"Not allowed to create members for image {image_id}.")
            if not _can_manage(caller, image):
                raise _not_authorized("add_member")
            if self._quota >= 0:
                attempted = await self._repo.count_members(unit, image.id) + 1
                if attempted > self._quota:
                    raise TooLarge(
                        f"Image member limit exceeded for image {image_id}: The limit has "
                        "been exceeded on the number of allowed image members for this "
                        f"image. Attempted: {attempted}, Maximum: {self._quota}:"
                    )
            return await self._repo.add_member(
                unit, image.id, member_id, status=MemberStatus.PENDING.value, now=utcnow(),
                duplicate=f"Member {member_id} is duplicated for image {image_id}",
            )

    async def list(self, caller: Caller, image_id: str) -> Sequence[ImageMemberRow]:
        """GET /v2/images/{id}/members: all of them for the owner and admins, its own
        for a member project."""
        async with self._units.read() as unit:
            image = await self._image(caller, image_id, unit)
            if image.visibility != "shared":
                raise Forbidden(
                    f"Not allowed to list members for image {image_id}: {ONLY_SHARED}"
                )
            if not _can_read(caller, image):
                raise Forbidden(
                    f"Not allowed to list members for image {image_id}: You are not "
                    "authorized to complete get_members action."
                )
            if caller.is_admin or _is_owner(caller, image):
                return await self._repo.members(unit, image.id)
            return await self._repo.members(unit, image.id, member_id=caller.project_id)

    async def show(self, caller: Caller, image_id: str, member_id: str) -> ImageMemberRow:
        """GET /v2/images/{id}/members/{member}: Glance answers 404 for every refusal."""
        async with self._units.read() as unit:
            image = await self._image(caller, image_id, unit)
            if image.visibility != "shared":
                raise NotFound(ONLY_SHARED)
            try:
                return await self._member(caller, image, member_id, unit)
            except Forbidden as exc:
                raise NotFound(exc.message) from None

    async def update(
        self, caller: Caller, image_id: str, member_id: str, status: object
    ) -> ImageMemberRow:
        """PUT /v2/images/{id}/members/{member}: the member project sets its status."""
        async with self._units.write() as unit:
            image = await self._image(caller, image_id, unit)
            if image.visibility != "shared":
                raise Forbidden(f"Not allowed to update members for image {image_id}.")
            member = await self._member(caller, image, member_id, unit)
            if not _can_change_status(caller, image):
                raise _not_authorized("modify_member")
            if status not in tuple(MemberStatus):
                raise InvalidRequest(f"Incorrect request: {MEMBER_STATUS_MESSAGE}")
            assert isinstance(status, str)
            now = utcnow()
            if not await self._repo.set_member_status(
                unit, image.id, member.member_id, status, now=now
            ):
                raise NotFound(
                    f"{member_id} not found in the member list of the image {image_id}."
                )
            updated = await self._repo.member(unit, image.id, member.member_id)
        assert updated is not None
        return updated

    async def delete(self, caller: Caller, image_id: str, member_id: str) -> None:
        """DELETE /v2/images/{id}/members/{member}: the owner (or an admin) removes it."""
        async with self._units.write() as unit:
            image = await self._image(caller, image_id, unit)
            if image.visibility != "shared":
                raise Forbidden(f"Not allowed to delete members for image {image_id}.")
            member = await self._member(caller, image, member_id, unit)
            if not _can_manage(caller, image):
                raise _not_authorized("delete_member")
            await self._repo.delete_member(unit, image.id, member.member_id)
