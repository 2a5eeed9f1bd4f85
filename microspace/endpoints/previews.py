"""`/previews/{token}`: the page a preview link opens, showing one space's draft.

The link's secret is a credential of kind `preview` (core/preview_links.py): the page is
the reference widget, served from the API's own origin, which reads the draft with it as
its bearer token and marks it as a preview. The page only checks the link first, to
answer a dead one with its reason (404 invalid, 410 expired or revoked) instead of an
empty widget; every read the widget makes is checked again by the database.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from core.auth import authenticate
from core.http import Refusal
from core.ids import encode_id
from core.preview_links import (
    REFUSED,
    PreviewLinkInvalid,
    PreviewLinkRefused,
    verify_preview,
)
from microspace.web.pipeline import Pipeline
from schema.context import Context

# the widget's languages (microspace/endpoints/static/widget.js)
LANGUAGES = ("en", "de", "fr", "es", "nl")
# the link is a credential: no cache keeps the page, no referrer carries it, no robot
# indexes it, no other site frames it
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; connect-src 'self'; "
        "style-src 'unsafe-inline'; img-src 'self' https: data:; media-src 'self' https:; "
        "frame-src https:; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
}
PAGE = (
    '<!doctype html><html lang="{lang}"><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    '<meta name="robots" content="noindex"><title>Preview</title>'
    '<body style="margin:0 auto;max-width:48rem;padding:1rem">'
    '<microspace-space space-id="{space}" preview="{token}" heading-level="1" '
    'style="display:block;min-height:480px"></microspace-space>'
    '<script src="/widget.js" async></script></body></html>'
)


def preview_endpoint(pipeline: Pipeline) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        async def step(context: Context) -> Response:
            token = request.path_params["token"]
            try:
                link = verify_preview(pipeline.state.settings.secret(), token)
                # revoked, or never stored: the database's answer, as for every read
                principal = await authenticate(context.db, f"Bearer {token}")
                if principal.kind != "preview":
                    raise REFUSED.get(principal.refusal or "", PreviewLinkInvalid)()
            except PreviewLinkRefused as refused:
                status = 404 if isinstance(refused, PreviewLinkInvalid) else 410
                if "text/html" in request.headers.get("accept", ""):
                    return _dead(refused, status)  # a person opened the link
                raise Refusal(status, refused.code, str(refused)) from None
            page = PAGE.format(
                lang=_language(request),
                space=html.escape(encode_id("Space", link.space_id), quote=True),
                token=html.escape(token, quote=True),
            )
            return HTMLResponse(page)

        response = await pipeline.serve(request, step)
        response.headers.update(HEADERS)
        return response

    return endpoint


def _dead(refused: PreviewLinkRefused, status: int) -> Response:
    code = html.escape(refused.code, quote=True)
    return HTMLResponse(
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>Preview</title>'
        f'<p id="refused" data-error="{code}">{html.escape(str(refused))}</p></html>',
        status_code=status,
    )


def _language(request: Request) -> str:
    """The first of the reader's languages the widget speaks, else English."""
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower().split("-")[0]
        if code in LANGUAGES:
            return code
    return "en"
