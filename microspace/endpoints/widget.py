"""`GET /widget.js`: the reference widget, with the hashes of its trusted documents."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from microspace.web.state import AppState
from microspace.web.widget_documents import HASHES

SCRIPT = Path(__file__).with_name("static") / "widget.js"


def widget_script(state: AppState) -> Callable[[Request], Awaitable[Response]]:
    # built once: the script and its documents change only with a deployment
    body = SCRIPT.read_text().replace(
        "__MICROSPACE_DOCUMENTS__", json.dumps(HASHES, sort_keys=True)
    )
    headers = {
        "Cache-Control": "public, max-age=300",
        "X-Content-Type-Options": "nosniff",
        # any site may embed the script; it carries nothing of any tenant
        "Cross-Origin-Resource-Policy": "cross-origin",
    }

    async def endpoint(_: Request) -> Response:
        return Response(body, media_type="application/javascript; charset=utf-8", headers=headers)

    return endpoint
