"""`GET /invitations/{token}`: a contact opens the link of their invitation e-mail.

The signed link (core/invitation_links.py) names the tenant, the space and the contact.
Opening it accepts the invitation (`SpaceAccess` ACCEPTED with `acceptedAt`, once) and opens
a visitor session: a token of kind `visitor` for that contact, which sees the published
spaces shared with them and their own consent, nothing else (store/audience.py).

When the tenant set the page that embeds its widget (`visitor_url`), the answer is a
redirect there with the session in the URL fragment (which no server, referrer or log
receives); otherwise a JSON document with the session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from core.config import Settings
from core.db import Db
from core.http import Refusal
from core.ids import encode_id
from core.invitation_links import (
    InvitationLinkError,
    InvitationLinkExpired,
    verify_invitation,
)
from microspace.web.pipeline import Pipeline
from models import SpaceAccess, Tenant
from models.space_access import AccessState
from schema.context import Context
from store.events import emit
from store.tokens import mint_token

# the session is a credential: no cache may keep the answer
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def invitation_endpoint(pipeline: Pipeline) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        async def step(context: Context) -> Response:
            return await _open(request, pipeline.state.settings, context.db)

        response = await pipeline.serve(request, step)
        response.headers.update(NO_STORE)
        return response

    return endpoint


async def _open(request: Request, settings: Settings, db: Db) -> Response:
    now = datetime.now(UTC)
    try:
        invitation = verify_invitation(settings.secret(), request.path_params["token"], now=now)
    except InvitationLinkError as error:
        status = 410 if isinstance(error, InvitationLinkExpired) else 404
        raise Refusal(status, error.code, str(error)) from None
    await db.set_tenant(invitation.tenant_id)
    access = await db.scalar(
        select(SpaceAccess).where(
            SpaceAccess.space_id == invitation.space_id,
            SpaceAccess.contact_id == invitation.contact_id,
        )
    )
    if access is None or access.state == AccessState.REVOKED.value:
        # revoked, erased or never there (another tenant's link cannot verify): one answer
        raise Refusal(
            410, "INVITATION_REVOKED", "This invitation is no longer valid; ask the sender."
        )
    if access.state != AccessState.ACCEPTED.value:
        access.state, access.accepted_at = AccessState.ACCEPTED.value, now
        await emit(db, "access.accepted", access.id, ["state", "acceptedAt"], actor="visitor")
    expires = now + timedelta(seconds=settings.visitor_session_ttl)
    _, token = await mint_token(
        db, "visitor", name="visitor session", contact_id=invitation.contact_id, expires_at=expires
    )
    session = {
        "visitorToken": token,
        "contactId": encode_id("Contact", invitation.contact_id),
        "spaceId": encode_id("Space", invitation.space_id),
        "expiresAt": expires.isoformat(),
    }
    landing = await db.scalar(select(Tenant.visitor_url).where(Tenant.id == invitation.tenant_id))
    if landing:
        fragment = urlencode({f"microspace-{k}": v for k, v in session.items()})
        return RedirectResponse(f"{landing}#{fragment}", status_code=303, headers=NO_STORE)
    return JSONResponse(session, headers=NO_STORE)
