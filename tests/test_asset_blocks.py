"""Blocks that show assets: image, gallery, file and video blocks (docs/files.md). Through
HTTP: typed content in, the asset and its signed URL out; a widget and a visitor read the
assets of the blocks they may read, and no other. An asset a block names is the tenant's and
of a kind the block shows; an image is described (alt text) or marked decorative."""

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
  ... on ImageBody { alt decorative caption assetId asset { name mediaType url } }
  ... on GalleryBody { items { alt caption asset { name } } }
  ... on FileBody { url name sizeBytes mimeType assetId }
  ... on VideoBody { url caption assetId } } } } } } }"""
FILES = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on Asset { id name mediaType byteSize url } } }"""
UPDATE = """mutation($input: BlockUpdateInput!) { blockUpdate(input: $input) {
  block { id } userErrors { code field message } } }"""
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 200
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
    clip = await _upload(client, token, MP4, "clip.mp4")
    space = (await owner(SPACE, {"t": f"Gallery {uuid.uuid4().hex[:8]}"}))["data"]["spaceCreate"][
        "space"
    ]["id"]
    contents = [
        {"image": {"assetId": photo["id"], "alt": "The team"}},
        {
            "gallery": {
                "items": [
                    {"assetId": photo["id"], "caption": "one", "alt": "The team again"},
                    {"assetId": other["id"]},
                ]
            }
        },
        {"gallery": {"items": [{"assetId": clip["id"], "caption": "the clip"}]}},
        {"video": {"url": "https://videos.example/v.mp4"}},
        {"file": {"assetId": contract["id"], "name": "Our contract"}},
        {"video": {"assetId": clip["id"], "caption": "Welcome"}},
        {"file": {"url": "https://files.example/p.pdf", "name": "Prices", "sizeBytes": 9}},
        {"image": {"assetId": other["id"], "decorative": True}},
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
    assert [b["kind"] for b in blocks] == [
        "IMAGE", "GALLERY", "GALLERY", "VIDEO", "FILE", "VIDEO", "FILE", "IMAGE"
    ]  # fmt: skip
    image, gallery, single, video, file, clip, external, decorative = (b["content"] for b in blocks)
    assert (image["alt"], image["decorative"], image["asset"]["name"]) == (
        "The team",
        False,
        "photo.png",
    )
    owner = api(tenant.token)
    photo, contract, clip_asset = (
        await owner(FILES, {"ids": [image["assetId"], file["assetId"], clip["assetId"]]})
    )["data"]["nodes"]
    assert (photo["name"], contract["name"], clip_asset["name"]) == (
        "photo.png",
        "contract.pdf",
        "clip.mp4",
    )
    assert (await client.get(path_of(image["asset"]["url"]))).content == PNG
    assert [(i["alt"], i["caption"], i["asset"]["name"]) for i in gallery["items"]] == [
        ("The team again", "one", "photo.png"),
        (None, None, "other.png"),
    ]
    assert single["items"] == [{"alt": None, "caption": "the clip", "asset": {"name": "clip.mp4"}}]
    assert video == {
        "__typename": "VideoBody",
        "url": "https://videos.example/v.mp4",
        "caption": None,
        "assetId": None,
    }
    # a file of the library: its name as the editor wrote it, the rest from the asset
    assert (file["url"], file["name"], file["sizeBytes"], file["mimeType"]) == (
        "",
        "Our contract",
        None,
        None,
    )
    assert (contract["mediaType"], contract["byteSize"]) == ("application/pdf", len(PDF))
    assert (await client.get(path_of(contract["url"]))).content == PDF
    assert (clip["url"], clip["caption"], clip_asset["mediaType"]) == ("", "Welcome", "video/mp4")
    ranged = await client.get(path_of(clip_asset["url"]), headers={"Range": "bytes=0-7"})
    assert (ranged.status_code, ranged.content) == (206, MP4[:8])
    assert (external["url"], external["sizeBytes"], external["assetId"]) == (
        "https://files.example/p.pdf",
        9,
        None,
    )
    assert (decorative["alt"], decorative["decorative"]) == (None, True)


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
    not_asset = await refused({"image": {"assetId": space, "alt": "a"}})
    assert not_asset["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    malformed = await refused({"image": {"assetId": "nope", "alt": "a"}})
    assert malformed["errors"][0]["extensions"]["code"] == "INVALID_ID"
    # the untyped body holds an asset's own id, checked as one
    raw = await owner(
        ADD,
        {"input": {"spaceId": space, "kind": "IMAGE", "body": {"assetId": "1 OR 1=1", "alt": "a"}}},
    )
    assert [e["code"] for e in raw["data"]["blockAdd"]["userErrors"]] == ["INVALID_BODY"]
    empty = await refused({"gallery": {"items": []}})
    assert [e["code"] for e in empty["data"]["blockAdd"]["userErrors"]] == ["INVALID_BODY"]


async def test_another_tenants_asset_is_refused_like_a_random_one(api, client, new_tenant) -> None:
    mine, theirs = await new_tenant("Mine"), await new_tenant("Theirs")
    foreign = await _upload(client, theirs.token, PNG, "theirs.png")
    owner = api(mine.token)
    space = (await owner(SPACE, {"t": f"Gallery {uuid.uuid4().hex[:8]}"}))["data"]["spaceCreate"][
        "space"
    ]["id"]
    answers = []
    for asset_id in (foreign["id"], encode_id("Asset", uuid.uuid4())):
        for content in (
            {"image": {"assetId": asset_id, "alt": "a"}},
            {"file": {"assetId": asset_id, "name": "f"}},
            {"gallery": {"items": [{"assetId": asset_id}]}},
        ):
            added = await owner(ADD, {"input": {"spaceId": space, "content": content}})
            answers.append(added["data"]["blockAdd"])
    assert answers[:3] == answers[3:]
    assert [a["userErrors"][0]["code"] for a in answers] == ["ASSET_NOT_FOUND"] * 6
    assert answers[2]["userErrors"][0]["field"] == ["content", "gallery", "items", "0", "assetId"]
    read = await owner(READ, {"id": space})
    assert read["data"]["space"]["blocks"]["edges"] == []


async def test_file_and_video_sources_are_checked(api, client, new_tenant) -> None:
    tenant = await new_tenant()
    owner = api(tenant.token)
    space = (await owner(SPACE, {"t": f"Files {uuid.uuid4().hex[:8]}"}))["data"]["spaceCreate"][
        "space"
    ]["id"]
    photo = await _upload(client, tenant.token, PNG, "photo.png")
    contract = await _upload(client, tenant.token, PDF, "contract.pdf")

    async def codes(content: dict[str, Any] | None = None, **raw: Any) -> list[Any]:
        given = {"content": content} if content is not None else raw
        added = await owner(ADD, {"input": {"spaceId": space, **given}})
        return [(e["code"], e["field"]) for e in added["data"]["blockAdd"]["userErrors"]]

    url = "https://files.example/a.pdf"
    assert await codes({"file": {"name": "n"}}) == [("SOURCE_MISSING", ["content", "file"])]
    assert await codes({"file": {"name": "n", "url": url, "assetId": contract["id"]}}) == [
        ("SOURCE_CONFLICT", ["content", "file"])
    ]
    assert await codes({"video": {}}) == [("SOURCE_MISSING", ["content", "video"])]
    # the library's file tells its own size and type
    assert await codes({"file": {"name": "n", "assetId": contract["id"], "sizeBytes": 1}}) == [
        ("SOURCE_CONFLICT", ["content", "file"])
    ]
    assert await codes({"video": {"assetId": photo["id"]}}) == [
        ("ASSET_KIND_MISMATCH", ["content", "video", "assetId"])
    ]
    assert await codes({"image": {"assetId": contract["id"], "alt": "a"}}) == [
        ("ASSET_KIND_MISMATCH", ["content", "image", "assetId"])
    ]
    assert await codes({"gallery": {"items": [{"assetId": contract["id"]}]}}) == [
        ("ASSET_KIND_MISMATCH", ["content", "gallery", "items", "0", "assetId"])
    ]
    # the untyped body: the same rules, the same codes
    assert await codes(kind="VIDEO", body={"assetId": decode_id(photo["id"], "Asset").hex}) == [
        ("INVALID_BODY", ["body", "assetId"])  # the body holds the asset's own UUID
    ]
    raw_photo = str(decode_id(photo["id"], "Asset"))
    assert await codes(kind="VIDEO", body={"assetId": raw_photo}) == [
        ("ASSET_KIND_MISMATCH", ["body", "assetId"])
    ]
    assert await codes(kind="FILE", body={"name": "n"}) == [("SOURCE_MISSING", ["body"])]
    # a file block of any library file, and updates checked alike
    assert await codes({"file": {"name": "Photo", "assetId": photo["id"]}}) == []
    read = await owner(READ, {"id": space})
    block = read["data"]["space"]["blocks"]["edges"][0]["node"]
    assert block["content"]["assetId"] == photo["id"]
    block_id = (await owner("query($id: ID!) { space(id: $id) { blocks { edges { node { id } } } } }",
                            {"id": space}))["data"]["space"]["blocks"]["edges"][0]["node"]["id"]  # fmt: skip
    for content, code in (
        ({"file": {"name": "n", "assetId": encode_id("Asset", uuid.uuid4())}}, "ASSET_NOT_FOUND"),
        ({"file": {"name": "n"}}, "SOURCE_MISSING"),
    ):
        updated = await owner(UPDATE, {"input": {"id": block_id, "content": content}})
        assert [e["code"] for e in updated["data"]["blockUpdate"]["userErrors"]] == [code]
    body = {"name": "n", "assetId": str(uuid.uuid4())}
    updated = await owner(UPDATE, {"input": {"id": block_id, "body": body}})
    assert [e["code"] for e in updated["data"]["blockUpdate"]["userErrors"]] == ["ASSET_NOT_FOUND"]
    after = await owner(READ, {"id": space})
    assert after["data"]["space"]["blocks"]["edges"][0]["node"]["content"]["assetId"] == photo["id"]


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


async def test_an_image_needs_alt_text_unless_decorative_on_every_write_path(
    app, api, client, new_tenant
) -> None:
    tenant = await new_tenant()
    owner = api(tenant.token)
    space = (await owner(SPACE, {"t": f"Alt {uuid.uuid4().hex[:8]}"}))["data"]["spaceCreate"][
        "space"
    ]["id"]
    photo = await _upload(client, tenant.token, PNG, "photo.png")
    raw_photo = str(decode_id(photo["id"], "Asset"))

    async def refusal(**given: Any) -> list[Any]:
        added = await owner(ADD, {"input": {"spaceId": space, **given}})
        return [(e["code"], e["field"]) for e in added["data"]["blockAdd"]["userErrors"]]

    typed = ["content", "image", "alt"]
    for image in (
        {"assetId": photo["id"]},
        {"assetId": photo["id"], "alt": "   "},
        {"assetId": photo["id"], "alt": ""},
        {"assetId": photo["id"], "decorative": False},
        {"assetId": photo["id"], "decorative": True, "alt": "a dog"},
    ):
        assert await refusal(content={"image": image}) == [("ALT_TEXT_REQUIRED", typed)], image
    # the untyped body, which the fast lane could take: the same rule, the whole way's answer
    answered = app.state.fast_lane.answered
    for _ in range(2):
        assert await refusal(kind="IMAGE", body={"assetId": raw_photo}) == [
            ("ALT_TEXT_REQUIRED", ["body", "alt"])
        ]
    assert app.state.fast_lane.answered == answered
    assert await refusal(content={"image": {"assetId": photo["id"], "decorative": True}}) == []
    assert await refusal(kind="IMAGE", body={"assetId": raw_photo, "alt": "The team"}) == []
    blocks = await owner(
        "query($id: ID!) { space(id: $id) { blocks { edges { node { id body } } } } }",
        {"id": space},
    )
    edges = blocks["data"]["space"]["blocks"]["edges"]
    assert [e["node"]["body"] for e in edges] == [
        {"assetId": raw_photo, "decorative": True},
        {"assetId": raw_photo, "alt": "The team"},
    ]
    # an update may not take the description away, typed or not
    described = edges[1]["node"]["id"]
    for given in (
        {"content": {"image": {"assetId": photo["id"]}}},
        {"body": {"assetId": raw_photo}},
        {"body": {"assetId": raw_photo, "alt": ""}},
    ):
        updated = await owner(UPDATE, {"input": {"id": described, **given}})
        codes = [e["code"] for e in updated["data"]["blockUpdate"]["userErrors"]]
        assert codes == ["ALT_TEXT_REQUIRED"], (given, codes)
    after = await owner("query($id: ID!) { block(id: $id) { body } }", {"id": described})
    assert after["data"]["block"]["body"] == {"assetId": raw_photo, "alt": "The team"}


async def test_the_widgets_asset_read_takes_a_full_batch(api, client, new_tenant) -> None:
    """The widget reads a space's files 50 IDs at a time (widget.js): within the limits."""
    from microspace.web.widget_documents import DOCUMENTS

    tenant = await new_tenant()
    owner = api(tenant.token)
    space = (await owner(SPACE, {"t": f"Many {uuid.uuid4().hex[:8]}"}))["data"]["spaceCreate"][
        "space"
    ]["id"]
    photos = [await _upload(client, tenant.token, PNG, f"p{i}.png") for i in range(50)]
    items = [{"assetId": p["id"], "alt": f"photo {i}"} for i, p in enumerate(photos)]
    added = await owner(
        ADD, {"input": {"spaceId": space, "content": {"gallery": {"items": items}}}}
    )
    assert added["data"]["blockAdd"]["userErrors"] == []
    assert (await owner(PUBLISH, {"id": space}))["data"]["spacePublish"]["userErrors"] == []
    key = await mint_key(owner, "widget", [], spaceIds=[space], allowedOrigins=[])
    widget = PersistedApi(client, key, owner)
    read = await widget(DOCUMENTS["WidgetAssets"], {"ids": [p["id"] for p in photos]})
    assert "errors" not in read, read.get("errors")
    assert [n["id"] for n in read["data"]["nodes"]] == [p["id"] for p in photos]
    assert all(n["url"] and n["srcset"] is not None for n in read["data"]["nodes"])
