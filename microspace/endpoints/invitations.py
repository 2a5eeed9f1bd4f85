"""`/invitations/{token}`: a contact opens the link of their invitation e-mail.

The signed link (core/invitation_links.py) names the tenant, the space, the contact and the
invitation it was sent for. GET only shows a page with a button that POSTs: mail scanners
and link previews fetch URLs, and must neither accept an invitation nor open a session.

POST accepts the invitation (`SpaceAccess` ACCEPTED with `acceptedAt`, once) and opens the
access's one visitor session: a token of kind `visitor` for that contact, which sees the
published spaces shared with them and their own consent, nothing else (store/audience.py).
Only its hash is stored, so opening the link again hands out a new secret for the same
session row (the earlier secret stops working) rather than adding a session.

When the tenant set the page that embeds its widget (`visitor_url`), the POST answers with a
redirect there with the session in the URL fragment (which no server, referrer or log
receives); otherwise a JSON document with the session.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from core.config import Settings
from core.db import Db
from core.http import Refusal
from core.ids import encode_id
from core.invitation_links import (
    InvitationLinkError,
    InvitationLinkExpired,
    SignedInvitation,
    verify_invitation,
)
from microspace.web.pipeline import Pipeline
from models import ApiToken, SpaceAccess, Tenant
from models.space_access import AccessState
from schema.context import Context
from store.events import emit
from store.tokens import mint_token, reissue

# the session is a credential: no cache may keep the answer. `same-origin`, not
# `no-referrer`: the button's POST must carry its Origin (checked below), and no other site
# ever sees the link in a Referer
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "same-origin"}
PAGE_HEADERS = {
    **NO_STORE,
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


def invitation_endpoint(pipeline: Pipeline) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        async def step(context: Context) -> Response:
            settings = pipeline.state.settings
            if request.method == "POST":
                return await _open(request, settings, context.db)
            await _live_access(request, settings, context.db)
            return _page(request.path_params["token"])

        response = await pipeline.serve(request, step)
        response.headers.update(NO_STORE)
        return response

    return endpoint


def _page(token: str) -> Response:
    action = html.escape(f"/invitations/{token}", quote=True)
    return HTMLResponse(
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>Your invitation</title>'
        "<p>You have been invited to a shared space.</p>"
        f'<form method="post" action="{action}"><button>Open the space</button></form></html>',
        headers=PAGE_HEADERS,
    )


async def _live_access(
    request: Request, settings: Settings, db: Db, *, lock: bool = False
) -> tuple[SignedInvitation, SpaceAccess]:
    """The access a genuine link names, if the invitation it was sent for still stands."""
    now = datetime.now(UTC)
    try:
        link = verify_invitation(settings.secret(), request.path_params["token"], now=now)
    except InvitationLinkError as error:
        status = 410 if isinstance(error, InvitationLinkExpired) else 404
        raise Refusal(status, error.code, str(error)) from None
    invitation = link.invitation
    await db.set_tenant(invitation.tenant_id)
    stmt = select(SpaceAccess).where(
        SpaceAccess.space_id == invitation.space_id,
        SpaceAccess.contact_id == invitation.contact_id,
    )
    # the row lock serialises two openings of one link: one session row, never two
    access = await db.scalar(stmt.with_for_update() if lock else stmt)
    if access is None or access.state == AccessState.REVOKED.value:
        # revoked, erased or never there (another tenant's link cannot verify): one answer
        raise Refusal(
            410, "INVITATION_REVOKED", "This invitation is no longer valid; ask the sender."
        )
    if not _sent_for(link, access, settings):
        raise Refusal(
            410,
            "INVITATION_SUPERSEDED",
            "A newer invitation replaced this link; open the link of the latest e-mail.",
        )
    return link, access


def _sent_for(link: SignedInvitation, access: SpaceAccess, settings: Settings) -> bool:
    """Whether the link was made for the access's current invitation (not a revoked one)."""
    if link.invitation.invited_at is not None:
        return link.invitation.invited_at == access.invited_at
    # a version 1 link names no invitation: it was made (expiry - TTL, to the second) after
    # the current invitation began, or for an earlier one. Gone once those links expire.
    made = link.expires_at - timedelta(seconds=settings.invitation_link_ttl)
    return made + timedelta(seconds=1) >= access.invited_at


def _same_origin(request: Request, settings: Settings) -> bool:
    origin = request.headers.get("origin")
    if origin is None:  # not a browser's form (a script, a test client)
        return True
    public = urlsplit(settings.public_url)
    return origin in (
        f"{request.url.scheme}://{request.url.netloc}",
        f"{public.scheme}://{public.netloc}",
    )


async def _open(request: Request, settings: Settings, db: Db) -> Response:
    # another site's form could open its own invitation in this browser (a login CSRF)
    if not _same_origin(request, settings):
        raise Refusal(403, "ORIGIN_NOT_ALLOWED", "Open the invitation from its own page.")
    link, access = await _live_access(request, settings, db, lock=True)
    invitation, now = link.invitation, datetime.now(UTC)
    if access.state != AccessState.ACCEPTED.value:
        access.state, access.accepted_at = AccessState.ACCEPTED.value, now
        await emit(db, "access.accepted", access.id, ["state", "acceptedAt"], actor="visitor")
    expires = now + timedelta(seconds=settings.visitor_session_ttl)
    token = await _session(db, access, expires)
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


async def _session(db: Db, access: SpaceAccess, expires: datetime) -> str:
    """The secret of the access's one visitor session: a new row the first time, afterwards
    the same row with a new secret (only hashes are kept, so the old one cannot be shown)."""
    row = await db.scalar(select(ApiToken).where(ApiToken.space_access_id == access.id))
    if row is None:
        _, secret = await mint_token(
            db,
            "visitor",
            name="visitor session",
            contact_id=access.contact_id,
            expires_at=expires,
            space_access_id=access.id,
        )
        return secret
    return await reissue(db, row, expires_at=expires)
