"""`/unsubscribe/{token}`: the one-click opt-out endpoint (RFC 8058), no login needed.

Only a POST whose body is the form `List-Unsubscribe=One-Click` (multipart/form-data or
application/x-www-form-urlencoded, RFC 8058 3.2) withdraws the consent the signed token
names, the same withdrawal as `consentWithdraw` (privacy/consent.py): ledger, audit entry,
`consent.withdrawn` event, cancelled e-mail. GET shows a page whose button POSTs that body;
HEAD answers like GET without a body. Link scanners and mail gateways fetch and probe URLs
(GET, HEAD, bare POSTs), and none of that may unsubscribe anyone: any other body is a 400,
any other method a 405, and neither changes anything.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from core import http
from core.db import Db, is_unavailable, unit_of_work
from core.http import Refusal, error_response
from microspace.web.state import AppState
from privacy.unsubscribe import ONE_CLICK_BODY, UnsubscribeInvalid, verify, withdraw_by_link

log = logging.getLogger("microspace.endpoints.unsubscribe")
DONE = "<!doctype html><title>Unsubscribed</title><p>You will receive no more of these e-mails.</p>"
# the page's form sends exactly ONE_CLICK_BODY: one hidden field, a button without a name
PAGE = (
    "<!doctype html><title>Unsubscribe</title>"
    '<form method="post" action="{action}" enctype="application/x-www-form-urlencoded">'
    '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
    "<button>Unsubscribe from these e-mails</button></form>"
)
# the link is a credential for one withdrawal: no cache keeps it, no referrer carries it
PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
ONE_CLICK = parse_qsl(ONE_CLICK_BODY)  # [("List-Unsubscribe", "One-Click")]
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_BODY = 4096


def unsubscribe_endpoint(state: AppState) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            # read per request: a server without the key still starts (and refuses links)
            tenant_id, contact_id, purpose = verify(state.settings.secret(), token)
        except UnsubscribeInvalid:
            # a tampered or foreign link: the same answer as one that never existed
            return error_response(404, "NOT_FOUND", "This unsubscribe link is not valid.")
        if request.method in ("GET", "HEAD"):
            return _page(request, token)
        try:
            await _one_click_body(request)
        except Refusal as refusal:
            return refusal.response()
        request_id = getattr(request.state, "request_id", None) or ""
        try:
            db = Db(state.sessionmaker, statement_timeout=state.settings.statement_timeout)
            async with unit_of_work(db):
                await db.set_tenant(tenant_id)
                changed = await withdraw_by_link(db, contact_id, purpose, request_id)
        except Exception as exc:
            if is_unavailable(exc):
                # an outage is an operating condition: one line, and a 503 the sender retries
                log.warning("database unavailable: request %s answered 503", request_id)
                return http.service_unavailable(request_id)
            log.exception("unsubscribe failed")
            return error_response(500, "INTERNAL_SERVER_ERROR", "Please try again later.")
        if changed:
            log.info("one-click unsubscribe recorded")
        # the same answer whether it changed anything: no oracle on the contact's state
        return HTMLResponse(DONE)

    return endpoint


def _page(request: Request, token: str) -> Response:
    """The confirmation page; for HEAD the same status and headers, without the body."""
    page = HTMLResponse(
        PAGE.format(action=html.escape(f"/unsubscribe/{token}", quote=True)),
        headers=PAGE_HEADERS,
    )
    if request.method == "GET":
        return page
    # the GET page's own Content-Length and Content-Type, so no body is computed here
    return Response(status_code=page.status_code, headers=dict(page.headers))


async def _one_click_body(request: Request) -> None:
    """Refuse (400) unless the body is the one form field RFC 8058 prescribes."""
    body = await http.read_body(request.scope, request.receive, MAX_BODY)
    content_type = request.headers.get("content-type", "")
    kind = http.media_type(content_type)
    try:
        if kind == "application/x-www-form-urlencoded":
            fields = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        elif kind == "multipart/form-data":
            fields = _multipart_fields(content_type, body)
        else:
            fields = None
    except (ValueError, UnicodeDecodeError):
        fields = None
    if fields != ONE_CLICK:
        raise Refusal(
            400,
            "ONE_CLICK_BODY_REQUIRED",
            f"Unsubscribing needs a POST whose body is the form field `{ONE_CLICK_BODY}` "
            f"({' or '.join(FORM_TYPES)}); nothing was changed.",
        )


def _multipart_fields(content_type: str, body: bytes) -> list[tuple[str, str]]:
    """The (name, value) pairs of a multipart/form-data body (RFC 7578)."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart() or message.defects:
        raise ValueError("not a multipart body")
    fields = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        value = part.get_payload(decode=True)
        form_data = part.get_content_disposition() == "form-data"
        if not form_data or not isinstance(name, str) or not isinstance(value, bytes):
            raise ValueError("a part without a name or a value")
        fields.append((name, value.decode("ascii")))
    return fields
