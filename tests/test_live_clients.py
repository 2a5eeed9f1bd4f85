"""Live updates with the real clients: `graphql-ws` (Node) and Apollo Client's GraphQLWsLink,
subscribed to one API process while the change is made through ANOTHER API process (a
separate interpreter on the same database): the announcement crosses processes through
PostgreSQL's NOTIFY.

Invariants guarded here:
- a graphql-ws subscriber and an Apollo subscriber receive a change made by a mutation sent
  to the other process;
- for every principal kind (owner, editor, viewer, partner key, widget key, visitor), the
  payload is exactly what the same selection answers as a query at that moment over HTTP:
  data, errors and the redaction report;
- a subject's magic-link token may not subscribe to spaces (FORBIDDEN), as it may not query
  them;
- revoking the key closes the subscriber's socket with 4401 at the next event;
- another tenant's subscriber to the same space id receives nothing;
- after the server closes the socket going away (1001), the graphql-ws client reconnects,
  subscribes again and receives the next change.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.auth import new_token
from core.db import owner_db
from core.ids import encode_id
from models import ApiToken
from tests.factories import make_access, make_contacts, make_spaces, mint_key
from tests.live_waits import subscribed
from tests.ports import free_port, serve
from tests.test_processes import _env, _serve, _wait_ready
from tests.widgets import REGISTER, by_hash, open_visitor, sha256

HERE = Path(__file__).with_name("js") / "live"
SCRIPT = HERE / "live.mjs"

SELECTION = (
    "id title status contacts(first: 5) { edges { node { state acceptedAt "
    "contact { fullName email phone } } } }"
)
CHANGED = f"subscription S($id: ID!) {{ spaceChanged(id: $id) {{ {SELECTION} }} }}"
AS_QUERY = f"query S($id: ID!) {{ spaceChanged: space(id: $id) {{ {SELECTION} }} }}"
BLOCKS = (
    "subscription B($id: ID!) { blocksChanged(spaceId: $id) { id blocks(first: 10) "
    "{ edges { node { id body } } } } }"
)
UPDATE = (
    "mutation($id: ID!, $t: String!) { spaceUpdate(input: {id: $id, title: $t}) { space { id } } }"
)
BLOCK_UPDATE = (
    "mutation($id: ID!, $b: JSON!) { blockUpdate(input: {id: $id, body: $b}) { block { id } } }"
)
PUBLISH = "mutation($id: ID!) { spacePublish(id: $id) { space { id } } }"
REVOKE = "mutation($id: ID!) { apiKeyRevoke(id: $id) { apiKey { id } } }"


@pytest.fixture(scope="module")
def node_clients() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("Node.js and npm are needed: apt-get install nodejs npm")
    if not (HERE / "node_modules" / "graphql-ws").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    return SCRIPT


@pytest.fixture
async def here(app) -> AsyncIterator[str]:
    """The process the clients subscribe to (this interpreter)."""
    running, task, port = await serve(app)
    try:
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        running.should_exit = True
        await task


@pytest.fixture(scope="module")
def there(settings) -> Iterator[str]:
    """Another API process on the same database: where the changes are made."""
    port = free_port()
    proc = _serve(port, _env(DATABASE_URL=settings.database_url))
    try:
        _wait_ready([proc], (port,))
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


class Subscriber:
    """One Node client process and the lines it printed."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []

    async def until(self, event: str, timeout: float = 20) -> dict[str, Any]:
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                for line in self.lines:
                    if line["event"] == event:
                        self.lines.remove(line)
                        return line
                raw = await self.proc.stdout.readline()
                if not raw:
                    err = await self.proc.stderr.read() if self.proc.stderr else b""
                    raise AssertionError(f"ended without {event}: {self.lines} {err.decode()}")
                self.lines.append(json.loads(raw))

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
        await self.proc.wait()

    async def finish(self) -> list[dict[str, Any]]:
        out, _ = await asyncio.wait_for(self.proc.communicate(), 30)
        rest = [json.loads(line) for line in out.decode().splitlines() if line]
        return self.lines + rest


async def _subscribe(
    script: Path,
    mode: str,
    url: str,
    token: str,
    query: str,
    variables: dict[str, Any],
    *,
    count: int = 1,
    timeout: float = 20,
    reconnect: bool = False,
) -> Subscriber:
    args = [mode, url, token, query, json.dumps(variables), str(count), str(timeout)]
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(script),
        *args,
        *(["reconnect"] if reconnect else []),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=script.parent,
    )
    sub = Subscriber(proc)
    await sub.until("connected")
    return sub


async def _subscribed(app, tenant_id: uuid.UUID, n: int = 1) -> None:
    """Wait until this process holds `n` subscriptions of the tenant, its events announced."""
    await subscribed(app, tenant_id, n)


async def _post(url: str, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(
            url,
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert "errors" not in body, body
    return body


async def test_graphql_ws_receives_a_change_made_in_another_process_and_nothing_crosses_tenants(
    app, here, there, node_clients, new_tenant, owner_url, api
):
    # given a member subscribed here, and a member of another tenant to the same space id
    t, other = await new_tenant("Live"), await new_tenant("Other")
    sid = encode_id("Space", (await make_spaces(owner_url, t.tenant_id, 1))[0])
    sub = await _subscribe(node_clients, "graphql-ws", here, t.token, CHANGED, {"id": sid})
    stranger = await _subscribe(
        node_clients, "graphql-ws", here, other.token, CHANGED, {"id": sid}, timeout=4
    )
    await _subscribed(app, t.tenant_id)
    await _subscribed(app, other.tenant_id)
    # when the other process changes the space
    await _post(there, t.token, UPDATE, {"id": sid, "t": "From elsewhere"})
    # then the subscriber gets the space as a query answers it now
    got = await sub.until("next")
    assert got["payload"]["data"]["spaceChanged"]["title"] == "From elsewhere"
    assert got["payload"] == await api(t.token)(AS_QUERY, {"id": sid})
    # and the other tenant's subscriber nothing
    lines = await stranger.finish()
    assert "next" not in [line["event"] for line in lines], lines
    await sub.finish()


async def test_apollo_graphql_ws_link_receives_block_changes_from_another_process(
    app, here, there, node_clients, new_tenant, owner_url
):
    t = await new_tenant("Apollo")
    sid = (await make_spaces(owner_url, t.tenant_id, 1, blocks_each=2))[0]
    space = encode_id("Space", sid)
    sub = await _subscribe(node_clients, "apollo", here, t.token, BLOCKS, {"id": space})
    await _subscribed(app, t.tenant_id)
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(
            there,
            json={
                "query": "query($id: ID!) { space(id: $id) { blocks { edges { node { id } } } } }",
                "variables": {"id": space},
            },
            headers={"Authorization": f"Bearer {t.token}"},
        )
    block = r.json()["data"]["space"]["blocks"]["edges"][0]["node"]["id"]
    body = {"text": "Changed elsewhere", "level": 2}
    await _post(there, t.token, BLOCK_UPDATE, {"id": block, "b": body})
    got = await sub.until("next")
    edges = got["payload"]["data"]["blocksChanged"]["blocks"]["edges"]
    assert edges[0]["node"]["id"] == block
    assert edges[0]["node"]["body"]["text"] == "Changed elsewhere"
    # Apollo asked for __typename too: the same document ran as a query
    assert got["payload"]["data"]["blocksChanged"]["__typename"] == "Space"
    await sub.finish()


async def test_every_principal_kind_receives_what_its_query_answers(
    app, here, there, node_clients, new_tenant, new_member, owner_url, api, client, settings
):
    # given a space shared with a contact who accepted, and one subscriber of each kind
    t = await new_tenant("Kinds")
    space_id = (await make_spaces(owner_url, t.tenant_id, 1))[0]
    sid = encode_id("Space", space_id)
    jane = (await make_contacts(owner_url, t.tenant_id, 1))[0]
    await make_access(owner_url, t.tenant_id, space_id, [jane])
    owner = api(t.token)
    await owner(PUBLISH, {"id": sid})
    visitor = await open_visitor(client, settings.secret(), t.tenant_id, space_id, jane)
    registered = await owner(REGISTER, {"input": {"document": CHANGED}})
    assert registered["data"]["persistedDocumentRegister"]["userErrors"] == [], registered
    registered = await owner(REGISTER, {"input": {"document": AS_QUERY}})
    tokens = {
        "owner": t.token,
        "editor": (await new_member(t.tenant_id, "editor")).token,
        "viewer": (await new_member(t.tenant_id, "viewer")).token,
        "partner": await mint_key(owner, "partner", ["spaces:read"]),
        "widget": await mint_key(owner, "widget", [], spaceIds=[sid]),
        "visitor": visitor["visitorToken"],
    }
    subs = {
        kind: await _subscribe(
            node_clients, "graphql-ws", here, token, CHANGED, {"id": sid}, count=3, timeout=60
        )
        for kind, token in tokens.items()
    }
    await _subscribed(app, t.tenant_id, len(subs))
    # when the space is published again (widgets and visitors follow publishes)
    # (withdrawn first: an archived space cannot be published again)
    await _post(
        there,
        t.token,
        "mutation($id: ID!) { spaceUnpublish(id: $id) { space { id } } }",
        {"id": sid},
    )
    await _post(there, t.token, PUBLISH, {"id": sid})
    # then each payload is the same selection's answer as a query by the same credential
    for kind, token in tokens.items():
        got = (await subs[kind].until("next"))["payload"]
        while (got["data"]["spaceChanged"] or {}).get("status") != "PUBLISHED":
            # the withdrawal came first (unless it coalesced with the publish): members see
            # a draft, widgets and visitors see nothing (null, NOT_FOUND)
            got = (await subs[kind].until("next"))["payload"]
        expected = await _as_query(client, token, kind, api, {"id": sid})
        assert _strip(got) == _strip(expected), kind
    # the kinds differ as their policies say: full, masked, withheld, forbidden
    owner_view = _strip(await _as_query(client, tokens["owner"], "owner", api, {"id": sid}))
    contact = owner_view["data"]["spaceChanged"]["contacts"]["edges"][0]["node"]["contact"]
    assert "@" in contact["email"] and "*" not in contact["email"]
    editor_view = _strip(await _as_query(client, tokens["editor"], "editor", api, {"id": sid}))
    masked = editor_view["data"]["spaceChanged"]["contacts"]["edges"][0]["node"]["contact"]
    assert masked["email"] != contact["email"] and "*" in masked["email"]
    for sub in subs.values():
        await sub.stop()


async def _as_query(
    client, token: str, kind: str, api, variables: dict[str, Any]
) -> dict[str, Any]:
    """The selection as a query over HTTP by the same credential (by hash for a browser)."""
    if kind in ("widget", "visitor"):
        r = await client.post(
            "/graphql",
            json=by_hash(sha256(AS_QUERY), variables),
            headers={"Authorization": f"Bearer {token}"},
        )
        return dict(r.json())
    return dict(await api(token)(AS_QUERY, variables))


def _strip(result: dict[str, Any]) -> dict[str, Any]:
    """Data, errors (without locations) and the redaction report."""
    errors = [{k: v for k, v in e.items() if k != "locations"} for e in result.get("errors") or []]
    return {
        "data": result.get("data"),
        "errors": errors,
        "redactions": (result.get("extensions") or {}).get("redactions"),
    }


async def test_subject_may_not_subscribe_to_spaces(
    app, here, node_clients, new_tenant, owner_url, api
):
    t = await new_tenant("Subject")
    sid = encode_id("Space", (await make_spaces(owner_url, t.tenant_id, 1))[0])
    jane = (await make_contacts(owner_url, t.tenant_id, 1))[0]
    # a magic-link token as the e-mail carries it (subjectLinkCreate does not return it)
    token, digest = new_token("subject")
    async with owner_db(owner_url, t.tenant_id) as db:
        db.add(ApiToken(id=uuid.uuid4(), kind="subject", contact_id=jane, token_hash=digest))
    # as a query answers it: FORBIDDEN
    asked = await api(token)(AS_QUERY, {"id": sid})
    assert asked["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    sub = await _subscribe(node_clients, "graphql-ws", here, token, CHANGED, {"id": sid})
    error = await sub.until("error")
    assert "may not read Space" in error["error"]
    await sub.finish()


async def test_revoked_key_closes_with_4401(
    app, here, there, node_clients, new_tenant, owner_url, api
):
    t = await new_tenant("Revoke")
    sid = encode_id("Space", (await make_spaces(owner_url, t.tenant_id, 1))[0])
    owner = api(t.token)
    key = await mint_key(owner, "partner", ["spaces:read"])
    keys = await owner("{ apiKeys(first: 5) { edges { node { id } } } }")
    key_id = keys["data"]["apiKeys"]["edges"][0]["node"]["id"]
    sub = await _subscribe(node_clients, "graphql-ws", here, key, CHANGED, {"id": sid}, count=5)
    await _subscribed(app, t.tenant_id)
    await _post(there, t.token, REVOKE, {"id": key_id})
    await _post(there, t.token, UPDATE, {"id": sid, "t": "After revocation"})
    closed = await sub.until("closed")
    assert closed["code"] == 4401 and "REVOKED" in closed["reason"]
    lines = await sub.finish()
    assert not [line for line in lines if line["event"] == "next"], lines


async def test_graphql_ws_reconnects_after_going_away_and_resumes(
    app, here, there, node_clients, new_tenant, owner_url
):
    t = await new_tenant("Reconnect")
    sid = encode_id("Space", (await make_spaces(owner_url, t.tenant_id, 1))[0])
    sub = await _subscribe(
        node_clients, "graphql-ws", here, t.token, CHANGED, {"id": sid}, count=1, reconnect=True
    )
    await _subscribed(app, t.tenant_id)
    # when the server closes every socket going away (as on shutdown)
    app.state.live.hub.close_all()
    closed = await sub.until("closed")
    assert closed["code"] == 1001
    # then the client connects again and subscribes again by itself
    again = await sub.until("connected")
    assert again["connections"] == 2
    await _subscribed(app, t.tenant_id)
    await _post(there, t.token, UPDATE, {"id": sid, "t": "After reconnecting"})
    got = await sub.until("next")
    assert got["payload"]["data"]["spaceChanged"]["title"] == "After reconnecting"
    await sub.finish()
