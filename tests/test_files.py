"""Files through HTTP, the same tests on local disk and on a real S3 server (SeaweedFS):
uploads (GraphQL multipart request, and upload URL then complete), downloads by signed
link (ranges, caching, expiry, alteration), refusals with their codes, the library, and
isolation between tenants (docs/files.md)."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from core.config import Settings
from core.ids import encode_id
from files.assets import download_url, forget_expired_uploads
from files.storage import Storage, asset_key, asset_prefix
from microspace.app import create_app
from microspace.commands.plans import set_plan
from microspace.commands.tenants import OperatorError
from models import Asset
from models.plan import RESOURCES
from tests.s3_server import S3Server, ready_storage

# a 1x1 PNG: sniffed as image/png whatever the client says
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
PDF = b"%PDF-1.4\n" + b"contract for one client\n" * 200 + b"%%EOF\n"
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 200

UPLOAD = """mutation($input: AssetUploadInput!) { assetUpload(input: $input) {
  asset { id name kind mediaType byteSize url contactId } userErrors { code field message } } }"""
START = """mutation($input: AssetUploadStartInput!) { assetUploadStart(input: $input) {
  asset { id } uploadUrl expiresAt userErrors { code message } } }"""
COMPLETE = """mutation($id: ID!) { assetUploadComplete(id: $id) {
  asset { id name mediaType byteSize url } userErrors { code message } } }"""
DELETE = """mutation($id: ID!) { assetDelete(id: $id) { deletedAssetId userErrors { code } } }"""
ASSET = "query($id: ID!) { asset(id: $id) { id name mediaType url } }"
LIBRARY = """query($search: String, $kind: AssetKind, $mediaType: String, $first: Int) {
  assets(search: $search, kind: $kind, mediaType: $mediaType, first: $first) {
  totalCount edges { node { name kind } } pageInfo { hasNextPage } } }"""


@pytest.fixture(scope="module", params=["local", "s3"])
async def files_app(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Starlette]:
    """The app on local disk (the session's) or on a bucket of the S3 server."""
    if request.param == "local":
        application = create_app(settings)
    else:
        server: S3Server = request.getfixturevalue("s3_server")
        bucket = f"files-{uuid.uuid4().hex[:12]}"
        await (await ready_storage(server, bucket)).close()
        application = create_app(
            replace(
                settings,
                storage="s3",
                s3_bucket=bucket,
                s3_endpoint_url=server.endpoint_url,
                s3_access_key_id=server.access_key,
                s3_secret_access_key=server.secret_key,
            )
        )
    yield application
    await application.state.microspace.storage.close()
    await application.state.microspace.engine.dispose()


@pytest.fixture
async def http(files_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=files_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def storage_of(app: Starlette) -> Storage:
    storage: Storage = app.state.microspace.storage
    return storage


async def gql(
    http: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer = await http.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def upload(
    http: httpx.AsyncClient,
    token: str | None,
    content: bytes,
    *,
    filename: str = "file.bin",
    client_type: str = "text/plain",
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A GraphQL multipart request (the spec's `operations`, `map` and one file)."""
    operations = {"query": UPLOAD, "variables": {"input": {"file": None, **(extra or {})}}}
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return await http.post(
        "/graphql",
        data={
            "operations": json.dumps(operations),
            "map": json.dumps({"0": ["variables.input.file"]}),
        },
        files={"0": (filename, content, client_type)},
        headers=sent,
    )


async def uploaded(http: httpx.AsyncClient, token: str, content: bytes, **kw: Any) -> Any:
    answer = await upload(http, token, content, **kw)
    assert answer.status_code == 200, answer.text
    result = answer.json()["data"]["assetUpload"]
    assert result["userErrors"] == [], result
    return result["asset"]


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def fetch(http: httpx.AsyncClient, url: str, **kw: Any) -> httpx.Response:
    """A download link, asked of the app (its public URL is the app's own origin)."""
    return await http.get(path_of(url), **kw)


async def test_multipart_upload_then_download(http, new_tenant) -> None:
    tenant = await new_tenant()
    asset = await uploaded(http, tenant.token, PNG, filename="dot.png", client_type="text/html")
    assert asset["name"] == "dot.png"
    # the type is read from the bytes, never the client's word
    assert (asset["kind"], asset["mediaType"], asset["byteSize"]) == (
        "IMAGE",
        "image/png",
        len(PNG),
    )
    got = await fetch(http, asset["url"])
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-type"] == "image/png"
    assert got.headers["cache-control"].startswith("private, max-age=")
    assert got.headers["accept-ranges"] == "bytes"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert (await gql(http, tenant.token, ASSET, {"id": asset["id"]}))["data"]["asset"]["name"] == (
        "dot.png"
    )


async def test_range_requests_answer_206(http, new_tenant) -> None:
    tenant = await new_tenant()
    asset = await uploaded(http, tenant.token, PDF, filename="contract.pdf")
    part = await fetch(http, asset["url"], headers={"Range": "bytes=9-31"})
    assert part.status_code == 206
    assert part.content == PDF[9:32]
    assert part.headers["content-range"] == f"bytes 9-31/{len(PDF)}"
    tail = await fetch(http, asset["url"], headers={"Range": "bytes=-6"})
    assert (tail.status_code, tail.content) == (206, b"%%EOF\n")
    past = await fetch(http, asset["url"], headers={"Range": f"bytes={len(PDF)}-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{len(PDF)}"
    head = await http.head(path_of(asset["url"]))
    assert head.status_code == 200 and head.headers["content-length"] == str(len(PDF))


async def test_upload_url_then_complete(http, new_tenant, files_app) -> None:
    tenant = await new_tenant()
    started = (await gql(http, tenant.token, START, {"input": {"name": "big contract.pdf"}}))[
        "data"
    ]["assetUploadStart"]
    assert started["userErrors"] == []
    url, asset_id = started["uploadUrl"], started["asset"]["id"]
    # pending: not in the library, not readable, until completed
    assert (await gql(http, tenant.token, ASSET, {"id": asset_id}))["errors"][0]["extensions"][
        "code"
    ] == "NOT_FOUND"
    early = (await gql(http, tenant.token, COMPLETE, {"id": asset_id}))["data"]
    assert [e["code"] for e in early["assetUploadComplete"]["userErrors"]] == ["UPLOAD_MISSING"]
    if storage_of(files_app).kind == "s3":
        async with httpx.AsyncClient() as outside:
            sent = await outside.put(url, content=PDF)
    else:
        sent = await http.put(path_of(url), content=PDF)
    assert sent.status_code == 200, sent.text
    done = (await gql(http, tenant.token, COMPLETE, {"id": asset_id}))["data"]
    asset = done["assetUploadComplete"]["asset"]
    assert done["assetUploadComplete"]["userErrors"] == []
    assert (asset["mediaType"], asset["byteSize"]) == ("application/pdf", len(PDF))
    assert (await fetch(http, asset["url"])).content == PDF
    again = (await gql(http, tenant.token, COMPLETE, {"id": asset_id}))["data"]
    assert [e["code"] for e in again["assetUploadComplete"]["userErrors"]] == [
        "UPLOAD_ALREADY_COMPLETE"
    ]
    if storage_of(files_app).kind == "local":
        # the upload link cannot replace the checked bytes afterwards
        replay = await http.put(path_of(url), content=ELF)
        assert replay.json()["errors"][0]["extensions"]["code"] == "UPLOAD_ALREADY_COMPLETE"
        forged = await http.put(path_of(url)[:-3] + "abc", content=ELF)
        assert (forged.status_code, forged.json()["errors"][0]["extensions"]["code"]) == (
            403,
            "UPLOAD_LINK_INVALID",
        )
    assert (await fetch(http, asset["url"])).content == PDF


async def test_a_refused_upload_url_keeps_nothing(http, new_tenant, files_app) -> None:
    tenant = await new_tenant()
    started = (await gql(http, tenant.token, START, {"input": {"name": "a.exe"}}))["data"][
        "assetUploadStart"
    ]
    url, asset_id = started["uploadUrl"], started["asset"]["id"]
    if storage_of(files_app).kind == "s3":
        async with httpx.AsyncClient() as outside:
            await outside.put(url, content=ELF)
    else:
        await http.put(path_of(url), content=ELF)
    refused = (await gql(http, tenant.token, COMPLETE, {"id": asset_id}))["data"]
    assert [e["code"] for e in refused["assetUploadComplete"]["userErrors"]] == [
        "MEDIA_TYPE_NOT_ALLOWED"
    ]
    assert await storage_of(files_app).list(f"t/{tenant.tenant_id}/") == []


async def test_refusals_have_codes_and_keep_nothing(http, new_tenant, files_app) -> None:
    tenant = await new_tenant()

    async def codes(content: bytes, **kw: Any) -> list[str]:
        answer = await upload(http, tenant.token, content, **kw)
        assert answer.status_code == 200, answer.text
        return [e["code"] for e in answer.json()["data"]["assetUpload"]["userErrors"]]

    assert await codes(ELF, filename="run.sh") == ["MEDIA_TYPE_NOT_ALLOWED"]
    assert await codes(b"", filename="empty.txt") == ["FILE_EMPTY"]
    assert await codes(PNG, extra={"name": "bell\u0007.png"}) == ["NAME_INVALID"]
    assert await codes(PNG, extra={"name": "x" * 256}) == ["NAME_INVALID"]
    missing = {"contactId": encode_id("Contact", uuid.uuid4())}
    assert await codes(PNG, extra=missing) == ["CONTACT_NOT_FOUND"]
    assert await storage_of(files_app).list(f"t/{tenant.tenant_id}/") == []


async def test_plan_limits_refuse_large_files_and_storage(
    http, new_tenant, files_app, owner_url
) -> None:
    tenant = await new_tenant()
    # as `microspace plan-set ... --storage-bytes --file-bytes --media-type` sets them
    limits = {r: None for r in RESOURCES} | {"storage_bytes": len(PNG) * 2}
    with pytest.raises(OperatorError):
        await set_plan(owner_url, str(tenant.tenant_id), "small", limits, media_types=["png"])
    done = await set_plan(
        owner_url,
        str(tenant.tenant_id),
        "small",
        limits,
        file_bytes=1000,
        media_types=["image/png", "Application/PDF"],
    )
    assert done["files"] == {
        "max_file_bytes": 1000,
        "allowed_media_types": ["application/pdf", "image/png"],
    }
    answer = await upload(http, tenant.token, PDF)
    assert [e["code"] for e in answer.json()["data"]["assetUpload"]["userErrors"]] == [
        "FILE_TOO_LARGE"
    ]
    answer = await upload(http, tenant.token, b"plain words")
    assert [e["code"] for e in answer.json()["data"]["assetUpload"]["userErrors"]] == [
        "MEDIA_TYPE_NOT_ALLOWED"
    ]
    await uploaded(http, tenant.token, PNG)
    await uploaded(http, tenant.token, PNG)
    answer = await upload(http, tenant.token, PNG)
    assert [e["code"] for e in answer.json()["data"]["assetUpload"]["userErrors"]] == ["PLAN_LIMIT"]
    usage = await gql(http, tenant.token, "{ tenantUsage { storageBytes { used limit } } }")
    assert usage["data"]["tenantUsage"]["storageBytes"] == {
        "used": len(PNG) * 2,
        "limit": len(PNG) * 2,
    }
    assert len(await storage_of(files_app).list(f"t/{tenant.tenant_id}/")) == 2


async def test_multipart_needs_a_header_no_cross_site_form_can_send(http, new_tenant) -> None:
    tenant = await new_tenant()
    # a cross-site form can post multipart, but never with these headers
    bare = await upload(http, None, PNG)
    assert (bare.status_code, bare.json()["errors"][0]["extensions"]["code"]) == (
        400,
        "PREFLIGHT_REQUIRED",
    )
    anonymous = await upload(http, None, PNG, headers={"GraphQL-Preflight": "1"})
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await upload(http, tenant.token, PNG)).json()["data"]["assetUpload"]["asset"]
    # a malformed map is a coded refusal, not a crash
    answer = await http.post(
        "/graphql",
        data={"operations": json.dumps({"query": UPLOAD}), "map": '{"0": ["query"]}'},
        files={"0": ("a", b"x", "text/plain")},
        headers={"Authorization": f"Bearer {tenant.token}"},
    )
    assert (answer.status_code, answer.json()["errors"][0]["extensions"]["code"]) == (
        400,
        "BAD_REQUEST",
    )


async def test_signed_links_expire_and_refuse_alteration(http, new_tenant, files_app) -> None:
    tenant = await new_tenant()
    asset = await uploaded(http, tenant.token, PNG)
    url = asset["url"]
    token = path_of(url).rsplit("/", 1)[1]
    payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    random_answer = await http.get("/files/" + uuid.uuid4().hex + ".x")
    altered = await http.get(f"/files/{payload}.{flipped}")
    assert altered.status_code == random_answer.status_code == 403
    assert altered.json() == random_answer.json()
    assert altered.json()["errors"][0]["extensions"]["code"] == "FILE_LINK_INVALID"
    settings = files_app.state.microspace.settings
    # the link the API would have made for this asset, at another time or with another key
    key = asset_key(tenant.tenant_id, uuid.UUID(_raw(asset["id"])))
    row = Asset(storage_key=key, media_type="image/png", name="file.bin")
    old = download_url(settings, row, public=False, now=0.0)
    expired = await fetch(http, old)
    assert (expired.status_code, expired.json()["errors"][0]["extensions"]["code"]) == (
        403,
        "FILE_LINK_EXPIRED",
    )
    # a link signed with another key (another installation) is a random one
    other = replace(settings, secret_key="another-installation-key")
    foreign = await fetch(http, download_url(other, row, public=False))
    assert foreign.json() == random_answer.json()


def _raw(global_id: str) -> str:
    import base64

    return base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode().split(":")[1]


async def test_another_tenants_assets_answer_like_random_ones(http, new_tenant) -> None:
    mine, theirs = await new_tenant("Mine"), await new_tenant("Theirs")
    asset = await uploaded(http, theirs.token, PNG)
    random_id = encode_id("Asset", uuid.uuid4())
    for query in (ASSET, "query($id: ID!) { node(id: $id) { id } }"):
        foreign = await gql(http, mine.token, query, {"id": asset["id"]})
        unknown = await gql(http, mine.token, query, {"id": random_id})
        assert foreign["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert [e["extensions"] for e in foreign["errors"]] == [
            e["extensions"] for e in unknown["errors"]
        ]
    for mutation in (DELETE, COMPLETE):
        foreign = await gql(http, mine.token, mutation, {"id": asset["id"]})
        unknown = await gql(http, mine.token, mutation, {"id": random_id})
        assert json.dumps(foreign).replace(asset["id"], "X") == json.dumps(unknown).replace(
            random_id, "X"
        )
    library = await gql(http, mine.token, LIBRARY, {})
    assert library["data"]["assets"]["totalCount"] == 0
    # their file is still theirs
    assert (await fetch(http, asset["url"])).content == PNG


async def test_the_library_searches_by_name_and_type(http, new_tenant) -> None:
    tenant = await new_tenant()
    await uploaded(http, tenant.token, PNG, filename="Team photo.png")
    await uploaded(http, tenant.token, PDF, filename="Contract 2026.pdf")
    await uploaded(http, tenant.token, PDF, filename="Price list.pdf")

    async def names(**variables: Any) -> list[str]:
        found = (await gql(http, tenant.token, LIBRARY, variables))["data"]["assets"]
        return [e["node"]["name"] for e in found["edges"]]

    assert await names(search="contract") == ["Contract 2026.pdf"]
    assert await names(kind="IMAGE") == ["Team photo.png"]
    assert await names(mediaType="application/") == ["Price list.pdf", "Contract 2026.pdf"]
    assert await names(search="%") == []  # a pattern character is a character
    page = (await gql(http, tenant.token, LIBRARY, {"first": 2}))["data"]["assets"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"]


async def test_delete_removes_the_bytes_and_the_links_die(http, new_tenant, files_app) -> None:
    tenant = await new_tenant()
    asset = await uploaded(http, tenant.token, PNG)
    prefix = asset_prefix(tenant.tenant_id, uuid.UUID(_raw(asset["id"])))
    assert await storage_of(files_app).list(prefix) != []
    deleted = (await gql(http, tenant.token, DELETE, {"id": asset["id"]}))["data"]["assetDelete"]
    assert deleted == {"deletedAssetId": asset["id"], "userErrors": []}
    assert await storage_of(files_app).list(prefix) == []
    gone = await fetch(http, asset["url"])
    assert (gone.status_code, gone.json()["errors"][0]["extensions"]["code"]) == (
        403,
        "FILE_LINK_INVALID",
    )


async def test_viewers_read_but_may_not_upload(http, new_tenant, new_member) -> None:
    tenant = await new_tenant()
    viewer = await new_member(tenant.tenant_id, "viewer")
    asset = await uploaded(http, tenant.token, PNG)
    assert (await gql(http, viewer.token, ASSET, {"id": asset["id"]}))["data"]["asset"]["url"]
    refused = (await upload(http, viewer.token, PNG)).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_asset_events(http, new_tenant, files_app, owner_engine: AsyncEngine) -> None:
    tenant = await new_tenant()
    inline = await uploaded(http, tenant.token, PNG)
    started = (await gql(http, tenant.token, START, {"input": {"name": "b.pdf"}}))["data"]
    url, later = started["assetUploadStart"]["uploadUrl"], started["assetUploadStart"]["asset"]
    if storage_of(files_app).kind == "s3":
        async with httpx.AsyncClient() as outside:
            await outside.put(url, content=PDF)
    else:
        await http.put(path_of(url), content=PDF)
    await gql(http, tenant.token, COMPLETE, {"id": later["id"]})
    await gql(http, tenant.token, DELETE, {"id": inline["id"]})
    async with owner_engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT topic, payload->>'id', payload->>'type' FROM domain_events "
                "WHERE tenant_id = :t ORDER BY created_at, topic"
            ),
            {"t": tenant.tenant_id},
        )
        events = [tuple(r) for r in rows]
    assert events == [
        ("asset.created", inline["id"], "Asset"),
        ("asset.created", later["id"], "Asset"),
        ("asset.deleted", inline["id"], "Asset"),
    ]


CONTACT = """mutation($e: String!) { contactCreate(input: {email: $e}) { contact { id } } }"""
FILE_REQUEST = """mutation($e: String!) { %s(input: {email: $e}) { request { id } } }"""
VERIFY = """mutation($id: ID!) { subjectRequestVerify(input: {id: $id, attestation: "seen"}) {
  userErrors { code } } }"""
PROCESS = """mutation($id: ID!) { subjectRequestProcess(id: $id) {
  request { state } exportLink { zipUrl } userErrors { code } } }"""


async def _contact_with_files(http, token: str) -> tuple[str, str, list[Any]]:
    email = f"client-{uuid.uuid4().hex[:8]}@example.com"
    cid = (await gql(http, token, CONTACT, {"e": email}))["data"]["contactCreate"]["contact"]["id"]
    files = [
        await uploaded(http, token, PDF, filename="contract.pdf", extra={"contactId": cid}),
        await uploaded(http, token, PNG, filename="signature.png", extra={"contactId": cid}),
    ]
    assert files[0]["contactId"] == cid
    return email, cid, files


async def _request(http, token: str, kind: str, email: str) -> dict[str, Any]:
    filed = await gql(http, token, FILE_REQUEST % kind, {"e": email})
    rid = filed["data"][kind]["request"]["id"]
    assert (await gql(http, token, VERIFY, {"id": rid}))["data"]["subjectRequestVerify"][
        "userErrors"
    ] == []
    done: dict[str, Any] = (await gql(http, token, PROCESS, {"id": rid}))["data"][
        "subjectRequestProcess"
    ]
    assert done["userErrors"] == [], done
    return done


async def test_a_contacts_erasure_deletes_their_files_from_storage(
    http, new_tenant, files_app
) -> None:
    tenant = await new_tenant()
    email, _, files = await _contact_with_files(http, tenant.token)
    kept = await uploaded(http, tenant.token, PNG, filename="logo.png")
    storage = storage_of(files_app)
    variant = asset_prefix(tenant.tenant_id, uuid.UUID(_raw(files[1]["id"]))) + "v/w400.webp"
    await storage.put(variant, b"a variant of their signature")
    before = await storage.list(f"t/{tenant.tenant_id}/")
    assert len(before) == 4
    done = await _request(http, tenant.token, "subjectErasureRequest", email)
    assert done["request"]["state"] == "COMPLETED"
    # the bucket holds the other file only: their originals and the variant are gone
    left = await storage.list(f"t/{tenant.tenant_id}/")
    assert left == [asset_key(tenant.tenant_id, uuid.UUID(_raw(kept["id"])))]
    for gone in files:
        answer = await fetch(http, gone["url"])
        assert answer.json()["errors"][0]["extensions"]["code"] == "FILE_LINK_INVALID"
        lookup = await gql(http, tenant.token, ASSET, {"id": gone["id"]})
        assert lookup["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_contacts_export_contains_their_files(http, new_tenant) -> None:
    tenant = await new_tenant()
    email, _, files = await _contact_with_files(http, tenant.token)
    await uploaded(http, tenant.token, PNG, filename="not theirs.png")
    done = await _request(http, tenant.token, "subjectAccessRequest", email)
    answer = await http.get(
        path_of(done["exportLink"]["zipUrl"]), headers={"Authorization": f"Bearer {tenant.token}"}
    )
    assert answer.status_code == 200, answer.text
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    inside = {n: archive.read(n) for n in archive.namelist() if n.startswith("files/")}
    assert inside == {
        f"files/{_raw(files[0]['id'])}/contract.pdf": PDF,
        f"files/{_raw(files[1]['id'])}/signature.png": PNG,
    }
    rows = json.loads(archive.read("export.json"))["data"]["assets"]
    assert sorted(r["name"] for r in rows) == ["contract.pdf", "signature.png"]


async def test_uploads_never_completed_are_forgotten(
    http, new_tenant, files_app, owner_engine: AsyncEngine
) -> None:
    tenant = await new_tenant()
    started = (await gql(http, tenant.token, START, {"input": {"name": "left.pdf"}}))["data"]
    url, pending = started["assetUploadStart"]["uploadUrl"], started["assetUploadStart"]["asset"]
    if storage_of(files_app).kind == "s3":
        async with httpx.AsyncClient() as outside:
            await outside.put(url, content=PDF)
    else:
        await http.put(path_of(url), content=PDF)
    kept = (await gql(http, tenant.token, START, {"input": {"name": "later.pdf"}}))["data"]
    storage = storage_of(files_app)
    assert len(await storage.list(f"t/{tenant.tenant_id}/")) == 1
    state = files_app.state.microspace
    # not yet expired: kept
    assert await forget_expired_uploads(state.sessionmaker, storage) == 0
    async with owner_engine.begin() as conn:
        await conn.execute(
            text("UPDATE assets SET expires_at = now() - interval '1 second' WHERE id = :a"),
            {"a": uuid.UUID(_raw(pending["id"]))},
        )
    assert await forget_expired_uploads(state.sessionmaker, storage) == 1
    assert await storage.list(f"t/{tenant.tenant_id}/") == []
    async with owner_engine.connect() as conn:
        left = await conn.scalars(
            text("SELECT name FROM assets WHERE tenant_id = :t"), {"t": tenant.tenant_id}
        )
        assert list(left) == ["later.pdf"]
    assert kept["assetUploadStart"]["userErrors"] == []
