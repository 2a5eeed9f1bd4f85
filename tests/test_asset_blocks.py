"""Blocks that show assets: image and gallery blocks (docs/files.md). Through HTTP: typed
content in, the asset and its signed URL out; a widget and a visitor read the assets of the
blocks they may read, and no other."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from core.db import owner_db
from core.ids import decode_id, encode_id
from models import Contact
from tests.factories import make_access, mint_key
from tests.test_files import PDF, PNG, UPLOAD, path_of
from tests.widgets import PersistedApi, open_visitor

SPACE = """mutation($t: String!) { spaceCreate(input: {title: $t}) { space { id } } }"""
PUBLISH = "mutation($id: ID!) { spacePublish(id: $id) { userErrors { code } } }"
ADD = """mutation($input: BlockAddInput!) { blockAdd(input: $input) {
  block { id kind } userErrors { code field message } } }"""
READ = """query($id: ID!) { space(id: $id) { blocks { edges { node { kind content {
  __typename
  ... on ImageBody { alt caption asset { name mediaType url } }
  ... on GalleryBody { items { caption asset { name } } }
  ... on VideoBody { url caption } } } } } } }"""
ASSET = "query($id: ID!) { asset(id: $id) { id name url } }"


async def _upload(client: httpx.AsyncClient, token: str, content: bytes, name: str) -> Any:
    import json

    answer = await client.post(
        "/graphql",
        data={
            "operations": json.dumps({"query": UPLOAD, "variables": {"input": {"file": None}}}),
            "map": json.dumps({"0": ["variables.input.file"]}),
        },
        files={"0": (name, content, "application/octet-stream")},
        headers={"Authorization": f"Bearer {token}"},
    )
    return answer.json()["data"]["assetUpload"]["asset"]


async def _space_with_asset_blocks(api, client, token: str) -> tuple[str, list[Any]]:
    owner = api(token)
    photo = await _upload(client, token, PNG, "photo.png")
    other = await _upload(client, token, PNG, "other.png")
    contract = await _upload(client, token, PDF, "contract.pdf")
    space = (await owner(SPACE, {"t": f"Gallery {uuid.uuid4().hex[:8]}"}))["data"]["spaceCreate"][
        "space"
    ]["id"]
    contents = [
        {"image": {"assetId": photo["id"], "alt": "The team"}},
        {
            "gallery": {
                "items": [{"assetId": photo["id"], "caption": "one"}, {"assetId": other["id"]}]
            }
        },
        {"gallery": {"items": [{"assetId": contract["id"], "caption": "the contract"}]}},
        {"video": {"url": "https://videos.example/v.mp4"}},
    ]
    for content in contents:
        added = (await owner(ADD, {"input": {"spaceId": space, "content": content}}))["data"]
        assert added["blockAdd"]["userErrors"] == [], added
    return space, [photo, other, contract]


async def test_blocks_show_assets_with_signed_urls(api, client, new_tenant) -> None:
    tenant = await new_tenant()
    space, _ = await _space_with_asset_blocks(api, client, tenant.token)
    read = await api(tenant.token)(READ, {"id": space})
    blocks = [e["node"] for e in read["data"]["space"]["blocks"]["edges"]]
    assert [b["kind"] for b in blocks] == ["IMAGE", "GALLERY", "GALLERY", "VIDEO"]
    image, gallery, single, video = (b["content"] for b in blocks)
    assert (image["alt"], image["asset"]["name"]) == ("The team", "photo.png")
    assert (await client.get(path_of(image["asset"]["url"]))).content == PNG
    assert [(i["caption"], i["asset"]["name"]) for i in gallery["items"]] == [
        ("one", "photo.png"),
        (None, "other.png"),
    ]
    assert single["items"] == [{"caption": "the contract", "asset": {"name": "contract.pdf"}}]
    assert video == {
        "__typename": "VideoBody",
        "url": "https://videos.example/v.mp4",
        "caption": None,
    }


async def test_asset_content_is_checked(api, client, new_tenant) -> None:
    tenant = await new_tenant()
    owner = api(tenant.token)
    space = (await owner(SPACE, {"t": f"Gallery {uuid.uuid4().hex[:8]}"}))["data"]["spaceCreate"][
        "space"
    ]["id"]
    photo = await _upload(client, tenant.token, PNG, "photo.png")

    async def refused(content: dict[str, Any]) -> Any:
        return await owner(ADD, {"input": {"spaceId": space, "content": content}})

    ok = await refused({"image": {"assetId": photo["id"], "alt": "a"}})
    assert ok["data"]["blockAdd"]["userErrors"] == []
    # an ID of another type or a malformed one is refused as such
    not_asset = await refused({"image": {"assetId": space}})
    assert not_asset["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    malformed = await refused({"image": {"assetId": "nope"}})
    assert malformed["errors"][0]["extensions"]["code"] == "INVALID_ID"
    # the untyped body holds an asset's own id, checked as one
    raw = await owner(
        ADD, {"input": {"spaceId": space, "kind": "IMAGE", "body": {"assetId": "1 OR 1=1"}}}
    )
    assert [e["code"] for e in raw["data"]["blockAdd"]["userErrors"]] == ["INVALID_BODY"]
    empty = await refused({"gallery": {"items": []}})
    assert [e["code"] for e in empty["data"]["blockAdd"]["userErrors"]] == ["INVALID_BODY"]


async def test_another_tenants_asset_in_a_block_shows_nothing(api, client, new_tenant) -> None:
    mine, theirs = await new_tenant("Mine"), await new_tenant("Theirs")
    foreign = await _upload(client, theirs.token, PNG, "theirs.png")
    owner = api(mine.token)
    space = (await owner(SPACE, {"t": f"Gallery {uuid.uuid4().hex[:8]}"}))["data"]["spaceCreate"][
        "space"
    ]["id"]
    for asset_id in (foreign["id"], encode_id("Asset", uuid.uuid4())):
        content = {"image": {"assetId": asset_id}}
        added = await owner(ADD, {"input": {"spaceId": space, "content": content}})
        assert added["data"]["blockAdd"]["userErrors"] == []
    read = await owner(READ, {"id": space})
    shown = [e["node"]["content"]["asset"] for e in read["data"]["space"]["blocks"]["edges"]]
    assert shown == [None, None]


async def test_a_widget_reads_the_assets_its_blocks_use_and_no_other(
    api, client, new_tenant
) -> None:
    tenant = await new_tenant()
    space, (photo, other, contract) = await _space_with_asset_blocks(api, client, tenant.token)
    unused = await _upload(client, tenant.token, PNG, "unused.png")
    owner = api(tenant.token)
    assert (await owner(PUBLISH, {"id": space}))["data"]["spacePublish"]["userErrors"] == []
    key = await mint_key(owner, "widget", [], spaceIds=[space], allowedOrigins=[])
    widget = PersistedApi(client, key, owner)
    read = await widget(READ, {"id": space})
    image = read["data"]["space"]["blocks"]["edges"][0]["node"]["content"]
    got = await client.get(path_of(image["asset"]["url"]))
    assert got.content == PNG
    # what a widget shows may sit in shared caches
    assert got.headers["cache-control"].startswith("public, max-age=")
    for used in (photo, other, contract):
        assert (await widget(ASSET, {"id": used["id"]}))["data"]["asset"]["id"] == used["id"]
    hidden = await widget(ASSET, {"id": unused["id"]})
    unknown = await widget(ASSET, {"id": encode_id("Asset", uuid.uuid4())})
    assert hidden["errors"][0]["extensions"] == unknown["errors"][0]["extensions"]
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_visitor_reads_the_assets_of_their_shared_spaces_only(
    api, client, new_tenant, owner_url, settings
) -> None:
    tenant = await new_tenant()
    owner = api(tenant.token)
    shared, (photo, _, _) = await _space_with_asset_blocks(api, client, tenant.token)
    unshared, (elsewhere, _, _) = await _space_with_asset_blocks(api, client, tenant.token)
    for space in (shared, unshared):
        assert (await owner(PUBLISH, {"id": space}))["data"]["spacePublish"]["userErrors"] == []
    contact = uuid.uuid4()
    async with owner_db(owner_url, tenant.tenant_id) as db:
        db.add(Contact(id=contact, email=f"v-{contact.hex[:8]}@example.com"))
    await make_access(owner_url, tenant.tenant_id, decode_id(shared, "Space"), [contact])
    session = await open_visitor(
        client, settings.secret(), tenant.tenant_id, decode_id(shared, "Space"), contact
    )
    visitor = PersistedApi(client, session["visitorToken"], owner)
    read = await visitor(READ, {"id": shared})
    image = read["data"]["space"]["blocks"]["edges"][0]["node"]["content"]
    got = await client.get(path_of(image["asset"]["url"]))
    assert got.content == PNG
    assert got.headers["cache-control"].startswith("private, max-age=")
    assert (await visitor(ASSET, {"id": photo["id"]}))["data"]["asset"]["id"] == photo["id"]
    hidden = await visitor(ASSET, {"id": elsewhere["id"]})
    unknown = await visitor(ASSET, {"id": encode_id("Asset", uuid.uuid4())})
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert hidden["errors"][0]["extensions"] == unknown["errors"][0]["extensions"]


async def test_who_a_file_is_about_is_for_those_who_read_contacts(api, client, new_tenant) -> None:
    import json

    tenant = await new_tenant()
    owner = api(tenant.token)
    email = f"c-{uuid.uuid4().hex[:8]}@example.com"
    created = await owner(
        "mutation($e: String!) { contactCreate(input: {email: $e}) { contact { id } } }",
        {"e": email},
    )
    cid = created["data"]["contactCreate"]["contact"]["id"]
    operations = {"query": UPLOAD, "variables": {"input": {"file": None, "contactId": cid}}}
    sent = await client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": '{"0": ["variables.input.file"]}'},
        files={"0": ("contract.pdf", PDF, "application/pdf")},
        headers={"Authorization": f"Bearer {tenant.token}"},
    )
    asset = sent.json()["data"]["assetUpload"]["asset"]
    query = "query($id: ID!) { asset(id: $id) { name contactId } }"
    assert (await owner(query, {"id": asset["id"]}))["data"]["asset"]["contactId"] == cid
    partner = await mint_key(owner, "partner", ["spaces:read"])
    seen = await api(partner)(query, {"id": asset["id"]})
    assert seen["data"]["asset"] == {"name": "contract.pdf", "contactId": None}
    assert [e["extensions"]["code"] for e in seen["errors"]] == ["FORBIDDEN"]
