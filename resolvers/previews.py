"""Preview links: get, list, create, revoke (members who may read or shape the space)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import strawberry

from core.errors import NotFound
from core.ids import encode_id
from models import ApiToken, SpaceStatus
from resolvers.spaces import load_space
from schema.connection import Connection, list_connection
from schema.context import Info
from schema.previews import (
    PREVIEW,
    PreviewLink,
    PreviewLinkCreateInput,
    PreviewLinkCreatePayload,
    PreviewLinkErrorCode,
    PreviewLinkPayload,
    PreviewLinkUserError,
)
from store.api_keys import API_KEY_ORDER
from store.loaders import load_by_global_id
from store.previews import mint_preview, previews_of, revoke_preview

DEFAULT_TTL = timedelta(days=7)
MAX_TTL = timedelta(days=30)
MAX_NOTE = 200


def _error(code: PreviewLinkErrorCode, field: str, message: str) -> PreviewLinkUserError:
    return PreviewLinkUserError(code=code, field=[field], message=message)


def _audit(info: Info, operation: str, row: ApiToken) -> None:
    # ids only: the link names no contact, and its note stays out of the audit log
    info.context.audit.record(operation, None, [encode_id("PreviewLink", row.id)])


async def load_preview(info: Info, global_id: str) -> ApiToken:
    """A preview link of the tenant; NOT_FOUND otherwise (another tenant's, a key, random)."""
    loader = info.context.loaders.api_key_by_id
    row: ApiToken = await load_by_global_id(loader, global_id, "PreviewLink")
    if row.kind != PREVIEW:
        raise NotFound()
    return row


async def get_preview_link(info: Info, id: strawberry.ID) -> PreviewLink:
    """One preview link."""
    return PreviewLink.from_model(await load_preview(info, id))


async def list_preview_links(
    info: Info,
    space_id: strawberry.ID | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Connection[PreviewLink]:
    """The tenant's preview links (of one space if given), newest first; never a secret."""
    space = (await load_space(info, space_id)).id if space_id is not None else None
    where = list(previews_of(space))
    return await list_connection(
        info, ApiToken, where, first, after, order=API_KEY_ORDER, convert=PreviewLink.from_model
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _problems(input: PreviewLinkCreateInput, now: datetime) -> list[PreviewLinkUserError]:
    errors = []
    if input.expires_at is not None:
        expires = _aware(input.expires_at)
        if expires <= now:
            errors.append(
                _error(
                    PreviewLinkErrorCode.INVALID_EXPIRY,
                    "expiresAt",
                    "expiresAt must be in the future.",
                )
            )
        elif expires > now + MAX_TTL:
            errors.append(
                _error(
                    PreviewLinkErrorCode.INVALID_EXPIRY,
                    "expiresAt",
                    f"A preview link lives at most {MAX_TTL.days} days.",
                )
            )
    if len(input.note) > MAX_NOTE:
        errors.append(
            _error(
                PreviewLinkErrorCode.TOO_LONG,
                "note",
                f"note may be at most {MAX_NOTE} characters.",
            )
        )
    return errors


async def create_preview_link(
    info: Info, input: PreviewLinkCreateInput
) -> PreviewLinkCreatePayload:
    """Make a preview link of a space's draft; the payload carries its secret and URL, shown
    this once."""
    ctx = info.context
    space = await load_space(info, input.space_id)
    now = datetime.now(UTC)
    errors = _problems(input, now)
    if space.status == SpaceStatus.ARCHIVED.value:
        errors.append(
            _error(
                PreviewLinkErrorCode.SPACE_ARCHIVED,
                "spaceId",
                "An archived space has no draft to preview; unarchive it first.",
            )
        )
    if errors:
        return PreviewLinkCreatePayload(user_errors=errors)
    # whole seconds: the signed expiry and the stored one must be the same instant
    expires = (_aware(input.expires_at) if input.expires_at else now + DEFAULT_TTL).replace(
        microsecond=0
    )
    row, secret = await mint_preview(
        ctx.db,
        ctx.settings.secret(),
        space.id,
        expires_at=expires,
        note=input.note.strip(),
        created_by=ctx.principal.member_id,
    )
    _audit(info, "preview_link_create", row)
    url = f"{ctx.settings.public_url.rstrip('/')}/previews/{secret}"
    return PreviewLinkCreatePayload(
        preview_link=PreviewLink.from_model(row), secret=secret, url=url
    )


async def revoke_preview_link(info: Info, id: strawberry.ID) -> PreviewLinkPayload:
    """Revoke a preview link at once (the row stays, for the audit trail and the list)."""
    row = await load_preview(info, id)
    if await revoke_preview(info.context.db, row):
        _audit(info, "preview_link_revoke", row)
    return PreviewLinkPayload(preview_link=PreviewLink.from_model(row))
