"""A database outage, seen from every endpoint that needs the database.

Invariants guarded here (against a throwaway PostgreSQL that the test stops and starts, as
tests/test_outage.py does for `/graphql`):
- while the database is down, the one-click unsubscribe POST, opening an invitation link,
  an export download, a widget's cross-origin read and its preflight, `/graphql` and
  `/readyz` answer 503 with `Retry-After`, never 500; each logs one line, no traceback;
- what needs no database keeps answering: `/healthz` (liveness: restarting the process
  would not bring the database back), `/widget.js` (a static script, so embedding pages
  still load; its reads get the 503) and the unsubscribe page behind the link;
- when the database is back, the unsubscribe POST answers again without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlalchemy.engine import make_url

from core.devdb import restart_server, start_server, stop_server, url_of
from core.ids import encode_id
from core.migrate import migrate
from microspace.app import create_app
from microspace.commands.tenants import create_tenant
from microspace.web.widget_documents import HASHES
from privacy.links import sign_link
from privacy.unsubscribe import ONE_CLICK_BODY, sign
from tests.conftest import Api
from tests.factories import mint_key
from tests.test_outage import QUERY
from tests.widgets import by_hash, invitation_token

SHOP = "https://shop.example"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_every_endpoint_answers_503_with_retry_after(settings, caplog):
    # outside pytest's root-private tmp_path, as tests/test_outage.py: PostgreSQL runs as an
    # unprivileged user that must reach its data directory
    base = Path(tempfile.mkdtemp(prefix="microspace-outage-"))
    base.chmod(0o755)
    # given an API on its own PostgreSQL, a widget key, and genuine links of every kind
    server = await asyncio.to_thread(start_server, base / "pg")
    try:
        url = url_of(server)
        await migrate(make_url(url), "microspace_app")
        tenant = await create_tenant(make_url(url), "Outage", "owner@example.com")
        app = create_app(replace(settings, database_url=url))
        secret = settings.secret()
        t, contact, space = tenant.tenant_id, uuid.uuid4(), uuid.uuid4()
        link = sign(secret, tenant_id=t, contact_id=contact, purpose="marketing_email")
        unsubscribe = f"/unsubscribe/{link}"
        expires = datetime.now(UTC) + timedelta(hours=1)
        export = sign_link(secret, tenant_id=t, request_id=uuid.uuid4(), expires_at=expires)
        auth = {"Authorization": f"Bearer {tenant.token}"}
        public = _origin(settings.with_public_url().public_url)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            owner = Api(client, tenant.token)
            key = await mint_key(owner, "widget", [], allowedOrigins=[SHOP])
            widget_read = {
                "extensions": json.dumps(by_hash(HASHES["WidgetSpace"])["extensions"]),
                "variables": json.dumps({"id": encode_id("Space", space)}),
                "key": key,
            }
            ok = await client.post(unsubscribe, content=ONE_CLICK_BODY, headers=FORM)
            assert ok.status_code == 200, ok.text  # a pooled connection was in use

            # when PostgreSQL stops
            await asyncio.to_thread(stop_server, server)
            caplog.clear()
            with caplog.at_level(logging.INFO):
                down = {
                    "unsubscribe": await client.post(
                        unsubscribe, content=ONE_CLICK_BODY, headers=FORM
                    ),
                    "export": await client.get(f"/exports/{export}", headers=auth),
                    "widget read": await client.get(
                        "/graphql", params=widget_read, headers={"Origin": SHOP}
                    ),
                    "widget preflight": await client.options(
                        "/graphql",
                        params={"key": key},
                        headers={"Origin": SHOP, "Access-Control-Request-Method": "GET"},
                    ),
                    "graphql": await client.post("/graphql", json=QUERY, headers=auth),
                    "readyz": await client.get("/readyz"),
                }
                # opening an invitation: the GET, and the POST of a page's button (same
                # origin) where the link shows one; whichever accepts needs the database
                invitation = f"/invitations/{invitation_token(secret, t, space, contact)}"
                opened = [
                    await client.get(invitation),
                    await client.post(invitation, headers={"Origin": public}),
                ]
                up = {
                    "healthz": await client.get("/healthz"),
                    "widget.js": await client.get("/widget.js"),
                    "unsubscribe page": await client.get(unsubscribe),
                }

            # then each answers 503 with a retry hint, and none logs a traceback
            for name, answer in down.items():
                assert answer.status_code == 503, (name, answer.status_code, answer.text)
                assert int(answer.headers["retry-after"]) > 0, name
            assert {name: a.status_code for name, a in up.items()} == dict.fromkeys(up, 200)
            # 405: a method the link does not take; 200: a page that needs no database
            codes = sorted(a.status_code for a in opened)
            assert codes in ([405, 503], [200, 503], [503, 503]), codes
            unavailable = [a for a in [*down.values(), *opened] if a.status_code == 503]
            assert all(int(a.headers["retry-after"]) > 0 for a in unavailable)
            warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            assert len(warnings) == len(unavailable), warnings  # one line per request
            assert all(r.exc_info is None for r in caplog.records)
            assert "Traceback" not in caplog.text

            # when PostgreSQL is back, the link answers again without a restart of the API
            await asyncio.to_thread(restart_server, server)
            back = await client.post(unsubscribe, content=ONE_CLICK_BODY, headers=FORM)
            assert back.status_code == 200, back.text
        await app.state.microspace.engine.dispose()
    finally:
        # already stopped when an assertion failed during the outage: keep that failure
        with contextlib.suppress(subprocess.CalledProcessError):
            await asyncio.to_thread(stop_server, server)
        shutil.rmtree(base, ignore_errors=True)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
