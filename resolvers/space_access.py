"""Space access: invite contacts to a space, revoke access, read it from either side."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import strawberry
from sqlalchemy import and_, or_, select, update

from core.errors import NotFound
from core.ids import decode_id
from models import ApiToken as ApiTokenModel
from models import Contact as ContactModel
from models import OutboxMessage
from models import Space as SpaceModel
from models import SpaceAccess as SpaceAccessModel
from models.outbox import EmailKind, OutboxStatus
from models.space_access import AccessState
from resolvers.emails import MAX_MESSAGE
from resolvers.spaces import load_space
from schema.context import Info
from schema.space_access import (
    SpaceAccess,
    SpaceAccessErrorCode,
    SpaceAccessPayload,
    SpaceAccessUserError,
    SpaceInviteInput,
    SpaceInvitePayload,
)
from store.contacts import forget_contact
from store.loaders import load_by_global_id
from store.outbox import enqueue

MAX_INVITES = 100


async def load_space_access(info: Info, global_id: str) -> SpaceAccessModel:
    """The space access of the caller's tenant with this ID; NOT_FOUND otherwise."""
    return await load_by_global_id(
        info.context.loaders.space_access_by_id, global_id, "SpaceAccess"
    )


def _invite_errors(input: SpaceInviteInput) -> list[SpaceAccessUserError]:
    if not input.contact_ids:
        return [
            SpaceAccessUserError(
                code=SpaceAccessErrorCode.REQUIRED,
                field=["contactIds"],
                message="Name at least one contact.",
            )
        ]
    if len(input.contact_ids) > MAX_INVITES:
        return [
            SpaceAccessUserError(
                code=SpaceAccessErrorCode.TOO_MANY,
                field=["contactIds"],
                message=f"At most {MAX_INVITES} contacts per invitation.",
            )
        ]
    if input.message is not None and len(input.message) > MAX_MESSAGE:
        return [
            SpaceAccessUserError(
                code=SpaceAccessErrorCode.TOO_LONG,
                field=["message"],
                message=f"message may be at most {MAX_MESSAGE} characters.",
            )
        ]
    return []


async def invite_to_space(info: Info, input: SpaceInviteInput) -> SpaceInvitePayload:
    """Invite contacts to a space and queue their invitation e-mail (new or revoked only)."""
    space = await load_space(info, input.space_id)
    errors = _invite_errors(input)
    if errors:
        return SpaceInvitePayload(user_errors=errors)
    ids = list(dict.fromkeys(decode_id(i, "Contact") for i in input.contact_ids))
    db = info.context.db
    found = set(await db.scalars(select(ContactModel.id).where(ContactModel.id.in_(ids))))
    if len(found) != len(ids):
        raise NotFound()  # an unknown or foreign contact ID: nobody is invited
    # the space row lock serialises invitations to one space: two concurrent invitations of
    # the same contact cannot both insert (and fail on the unique key)
    await db.execute(select(SpaceModel.id).where(SpaceModel.id == space.id).with_for_update())
    stmt = select(SpaceAccessModel).where(
        SpaceAccessModel.space_id == space.id, SpaceAccessModel.contact_id.in_(ids)
    )
    existing = {row.contact_id: row for row in await db.scalars(stmt)}
    now = datetime.now(UTC)
    to_mail: list[uuid.UUID] = []
    for cid in ids:
        row = existing.get(cid)
        if row is None:
            row = SpaceAccessModel(
                id=uuid.uuid4(),
                space_id=space.id,
                contact_id=cid,
                state=AccessState.INVITED.value,
                invited_at=now,
            )
            db.add(row)
            existing[cid] = row
        elif row.state == AccessState.REVOKED.value:
            row.state, row.invited_at, row.revoked_at, row.accepted_at = (
                AccessState.INVITED.value,
                now,
                None,
                None,
            )
        else:
            continue  # already invited or accepted: no second e-mail
        to_mail.append(cid)
    await db.flush()
    payload = {"message": input.message.strip()} if input.message and input.message.strip() else {}
    await enqueue(db, EmailKind.SPACE_INVITATION, to_mail, space_id=space.id, payload=payload)
    for cid in ids:
        forget_contact(info.context.loaders, cid)
    await info.context.emit("access.granted", [existing[cid].id for cid in to_mail], ["state"])
    return SpaceInvitePayload(space_accesses=[SpaceAccess.from_model(existing[cid]) for cid in ids])


async def revoke_space_access(info: Info, id: strawberry.ID) -> SpaceAccessPayload:
    """Revoke a contact's access to a space; its queued e-mail about the space is cancelled
    and its visitor session revoked."""
    row = await load_space_access(info, id)
    if row.state != AccessState.REVOKED.value:
        row.state = AccessState.REVOKED.value
        row.revoked_at = datetime.now(UTC)
        db = info.context.db
        await db.flush()
        await db.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.contact_id == row.contact_id,
                OutboxMessage.space_id == row.space_id,
                OutboxMessage.status == OutboxStatus.PENDING.value,
            )
            .values(
                status=OutboxStatus.CANCELLED.value,
                cancelled_at=row.revoked_at,
                last_error="access revoked",
            )
        )
        # the access's visitor session ends with it. Sessions opened before they named their
        # access (migration 0018) cannot tell which access opened them: all of the contact's go
        await db.execute(
            update(ApiTokenModel)
            .where(
                ApiTokenModel.kind == "visitor",
                ApiTokenModel.revoked_at.is_(None),
                or_(
                    ApiTokenModel.space_access_id == row.id,
                    and_(
                        ApiTokenModel.space_access_id.is_(None),
                        ApiTokenModel.contact_id == row.contact_id,
                    ),
                ),
            )
            .values(revoked_at=row.revoked_at)
        )
        await db.refresh(row)
        forget_contact(info.context.loaders, row.contact_id)
        await info.context.emit("access.revoked", row.id, ["state"])
    return SpaceAccessPayload(space_access=SpaceAccess.from_model(row))
