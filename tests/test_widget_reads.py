"""Widget keys through HTTP: read-only, published spaces of the key only, no contact data,
trusted documents only.

Invariants:
- a widget key reads the published spaces bound to it and their blocks, nothing else;
- a draft, an archived space, a published space not bound to the key, another tenant's
  space and a random ID all answer the same NOT_FOUND;
- it reads no contact data and changes nothing;
- it runs only trusted documents (PERSISTED_QUERY_REQUIRED otherwise).
"""

from __future__ import annotations

import uuid

import pytest

from core.ids import encode_id
from microspace.web.widget_documents import DOCUMENTS, HASHES
from tests.conftest import error_codes
from tests.factories import make_contacts, make_spaces, mint_key
from tests.widgets import PersistedApi, by_hash, sha256

SPACE = "query($id: ID!) { space(id: $id) { id title status blocks { edges { node { id } } } } }"
NODE = "query($id: ID!) { node(id: $id) { id } }"
BLOCK = "query($id: ID!) { block(id: $id) { id body } }"
SPACES = "{ spaces(first: 50) { edges { node { id status } } } }"
CONTACTS = "{ contacts(first: 50) { edges { node { id email } } } }"
SPACE_CONTACTS = "query($id: ID!) { space(id: $id) { id contacts { edges { node { id } } } } }"
UPDATE = 'mutation($id: ID!) { spaceUpdate(input: {id: $id, title: "x"}) { space { id } } }'


def _strip(result: dict) -> dict:
    return {
        "data": result.get("data"),
        "errors": [{k: v for k, v in e.items() if k != "locations"} for e in result["errors"]],
    }


async def _setup(api, new_tenant, owner_url):
    t = await new_tenant("W")
    published, draft, archived, unbound = [
        (await make_spaces(owner_url, t.tenant_id, 1, blocks_each=2, status=s))[0]
        for s in ("published", "draft", "archived", "published")
    ]
    bound = [encode_id("Space", s) for s in (published, draft, archived)]
    key = await mint_key(
        api(t.token), "widget", [], spaceIds=bound, allowedOrigins=["https://shop.example"]
    )
    ids = {"published": published, "draft": draft, "archived": archived, "unbound": unbound}
    return t, key, {k: encode_id("Space", v) for k, v in ids.items()}


async def test_widget_reads_only_published_spaces_bound_to_it(api, client, new_tenant, owner_url):
    t, key, ids = await _setup(api, new_tenant, owner_url)
    widget = PersistedApi(client, key, api(t.token))

    shown = await widget(SPACE, {"id": ids["published"]})
    assert shown["data"]["space"]["status"] == "PUBLISHED"
    assert len(shown["data"]["space"]["blocks"]["edges"]) == 2

    listed = await widget(SPACES)
    assert [e["node"]["id"] for e in listed["data"]["spaces"]["edges"]] == [ids["published"]]


@pytest.mark.parametrize("which", ["draft", "archived", "unbound", "foreign"])
@pytest.mark.parametrize("query", [SPACE, NODE])
async def test_hidden_spaces_answer_like_a_random_id(
    api, client, new_tenant, owner_url, which, query
):
    t, key, ids = await _setup(api, new_tenant, owner_url)
    other = await new_tenant("Other")
    foreign = encode_id(
        "Space", (await make_spaces(owner_url, other.tenant_id, 1, status="published"))[0]
    )
    widget = PersistedApi(client, key, api(t.token))
    hidden = foreign if which == "foreign" else ids[which]

    on_hidden = await widget(query, {"id": hidden})
    on_random = await widget(query, {"id": encode_id("Space", uuid.uuid4())})

    assert error_codes(on_hidden) == ["NOT_FOUND"]
    assert _strip(on_hidden) == _strip(on_random)


async def test_blocks_of_a_draft_are_not_found(api, client, new_tenant, owner_url):
    t, key, ids = await _setup(api, new_tenant, owner_url)
    blocks = await api(t.token)(SPACE, {"id": ids["draft"]})
    block_id = blocks["data"]["space"]["blocks"]["edges"][0]["node"]["id"]
    widget = PersistedApi(client, key, api(t.token))
    assert error_codes(await widget(BLOCK, {"id": block_id})) == ["NOT_FOUND"]


async def test_widget_reads_no_contact_data_and_changes_nothing(api, client, new_tenant, owner_url):
    t, key, ids = await _setup(api, new_tenant, owner_url)
    await make_contacts(owner_url, t.tenant_id, 2)
    widget = PersistedApi(client, key, api(t.token))
    assert error_codes(await widget(CONTACTS)) == ["FORBIDDEN"]
    nested = await widget(SPACE_CONTACTS, {"id": ids["published"]})
    assert nested["data"]["space"]["contacts"] is None
    assert error_codes(nested) == ["FORBIDDEN"]
    assert error_codes(await widget(UPDATE, {"id": ids["published"]})) == ["FORBIDDEN"]


async def test_widget_runs_trusted_documents_only(api, client, new_tenant, owner_url):
    _t, key, ids = await _setup(api, new_tenant, owner_url)
    headers = {"Authorization": f"Bearer {key}"}

    # a document as text: refused, even a valid read
    plain = await client.post("/graphql", json={"query": SPACES}, headers=headers)
    assert error_codes(plain.json()) == ["PERSISTED_QUERY_REQUIRED"]
    # an unknown hash, and the text with its hash (not registered): refused too
    unknown = await client.post("/graphql", json=by_hash(sha256(SPACES)), headers=headers)
    assert error_codes(unknown.json()) == ["PERSISTED_QUERY_REQUIRED"]
    with_text = {"query": SPACES, **by_hash(sha256(SPACES))}
    sent = await client.post("/graphql", json=with_text, headers=headers)
    assert error_codes(sent.json()) == ["PERSISTED_QUERY_REQUIRED"]

    # a document shipped with the reference widget runs by its hash
    shipped = await client.post(
        "/graphql", json=by_hash(HASHES["WidgetSpace"], {"id": ids["published"]}), headers=headers
    )
    assert shipped.json()["data"]["space"]["id"] == ids["published"]
    assert sha256(DOCUMENTS["WidgetSpace"]) == HASHES["WidgetSpace"]


async def test_documents_registered_on_the_fly_are_not_trusted(api, client, new_tenant, owner_url):
    """A member's automatic persisted query does not become runnable by widgets."""
    t, key, _ = await _setup(api, new_tenant, owner_url)
    digest = sha256(SPACES)
    member = {"Authorization": f"Bearer {t.token}"}
    registered = await client.post(
        "/graphql", json={"query": SPACES, **by_hash(digest)}, headers=member
    )
    assert "errors" not in registered.json()
    widget = await client.post(
        "/graphql", json=by_hash(digest), headers={"Authorization": f"Bearer {key}"}
    )
    assert error_codes(widget.json()) == ["PERSISTED_QUERY_REQUIRED"]


async def test_widget_get_by_hash_is_cacheable(api, client, new_tenant, owner_url):
    _t, key, ids = await _setup(api, new_tenant, owner_url)
    params = {
        "key": key,
        "operationName": "WidgetSpace",
        "variables": f'{{"id": "{ids["published"]}"}}',
        "extensions": f'{{"persistedQuery": {{"version": 1, "sha256Hash": "{HASHES["WidgetSpace"]}"}}}}',
    }
    first = await client.get("/graphql", params=params)
    assert first.status_code == 200, first.text
    assert first.json()["data"]["space"]["title"]
    assert first.headers["cache-control"] == "public, max-age=60"
    etag = first.headers["etag"]
    assert "Origin" in first.headers["vary"]

    again = await client.get("/graphql", params=params, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag

    # a draft is an error: never cached
    params["variables"] = f'{{"id": "{ids["draft"]}"}}'
    hidden = await client.get("/graphql", params=params)
    assert error_codes(hidden.json()) == ["NOT_FOUND"]
    assert hidden.headers["cache-control"] == "no-store"


async def test_get_with_query_text_runs_queries_by_default(client, new_tenant):
    # GET for queries is on by default (issue 15); MICROSPACE_ALLOW_GET_QUERIES=false turns
    # it off with 405 GET_NOT_ALLOWED (tests/test_security.py), and mutations never run
    member = {"Authorization": f"Bearer {(await new_tenant()).token}"}
    response = await client.get("/graphql", params={"query": "{ viewer { kind } }"}, headers=member)
    assert response.status_code == 200
    assert response.json()["data"]["viewer"]["kind"] == "member"


async def test_an_anonymous_get_with_query_text_is_refused(client):
    # graphql-cop's "GET Method Query Support": `{__typename}` by GET without a credential
    response = await client.get("/graphql", params={"query": "query cop { __typename }"})
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert error_codes(response.json()) == ["GET_NOT_ALLOWED"]


async def test_widget_script_is_served_with_its_document_hashes(client):
    response = await client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert "__MICROSPACE_DOCUMENTS__" not in response.text
    for digest in HASHES.values():
        assert digest in response.text
    # no document text ships in the script: the widget sends hashes only
    assert "query WidgetSpace" not in response.text
