"""`/unsubscribe/{token}`: the one-click opt-out endpoint (RFC 8058), no login needed.

POST withdraws the consent the signed token names (a mail provider sends
`List-Unsubscribe=One-Click` as the body), the same withdrawal as `consentWithdraw`
(privacy/consent.py): ledger, audit entry, `consent.withdrawn` event, cancelled e-mail.
GET only shows a page with a button that POSTs: link scanners and previews fetch URLs, and
must not unsubscribe anyone.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from core.db import Db, unit_of_work
from core.http import error_response
from microspace.web.state import AppState
from privacy.unsubscribe import UnsubscribeInvalid, verify, withdraw_by_link

log = logging.getLogger("microspace.endpoints.unsubscribe")
DONE = "<!doctype html><title>Unsubscribed</title><p>You will receive no more of these e-mails.</p>"


def unsubscribe_endpoint(state: AppState) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            # read per request: a server without the key still starts (and refuses links)
            tenant_id, contact_id, purpose = verify(state.settings.secret(), token)
        except UnsubscribeInvalid:
            # a tampered or foreign link: the same answer as one that never existed
            return error_response(404, "NOT_FOUND", "This unsubscribe link is not valid.")
        if request.method == "GET":
            action = html.escape(f"/unsubscribe/{token}", quote=True)
            return HTMLResponse(
                "<!doctype html><title>Unsubscribe</title>"
                f'<form method="post" action="{action}">'
                '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
                "<button>Unsubscribe from these e-mails</button></form>"
            )
        try:
            db = Db(state.sessionmaker, statement_timeout=state.settings.statement_timeout)
            async with unit_of_work(db):
                await db.set_tenant(tenant_id)
                request_id = getattr(request.state, "request_id", None) or ""
                changed = await withdraw_by_link(db, contact_id, purpose, request_id)
        except Exception:
            log.exception("unsubscribe failed")
            return error_response(500, "INTERNAL_SERVER_ERROR", "Please try again later.")
        if changed:
            log.info("one-click unsubscribe recorded")
        # the same answer whether it changed anything: no oracle on the contact's state
        return HTMLResponse(DONE)

    return endpoint
