"""Access and portability exports, through HTTP.

Invariants:
- the export holds every value planted in every personal-data column about the subject,
  and nothing of another contact of the tenant or of another tenant (even one with the
  same e-mail address and the same keyed hash);
- the exported tables and columns are those the models declare; no hash column leaves;
- a link works only unexpired, untampered, with a bearer of its own tenant holding the
  right `SubjectRequest` `export`, for a completed request; a link shown to another tenant
  answers exactly like one that never existed;
- every download is audited per contact and never cached.

Over 300 lines on purpose: one module per promise, with its matrix and its cases together.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import URL

from core.audit import append_entries
from core.config import Settings
from core.db import owner_db
from files.storage import asset_key
from microspace.commands.tenants import Created, create_member, create_tenant
from models import (
    ApiToken,
    Asset,
    AuditEntry,
    Base,
    Block,
    ConsentEvent,
    Contact,
    EmailSent,
    OutboxMessage,
    PersonalisationJob,
    PersonalisationJobContact,
    SignIn,
    Space,
    SpaceAccess,
    SubjectRequest,
    SubjectRequestEvent,
    UsageEvent,
)
from models.pii import personal_columns_of
from models.privacy import subject_models
from privacy.links import LinkExpired, LinkInvalid, sign_link, verify_link
from tests.factories import make_full_contact, make_spaces

NOW = datetime.now(UTC)


@dataclass
class Footprint:
    """One person's rows in one tenant, each personal value carrying a unique marker."""

    contact_id: uuid.UUID
    email: str
    markers: list[str] = field(default_factory=list)
    token_hash: bytes = b""
    request_id: uuid.UUID | None = None

    def mark(self, label: str) -> str:
        value = f"{label}-{uuid.uuid4().hex[:10]}"
        self.markers.append(value)
        return value


def keyed_hash(settings: Settings, email: str) -> bytes:
    return hmac.new(settings.secret(), email.strip().lower().encode(), hashlib.sha256).digest()


async def plant(
    url: URL, settings: Settings, tenant_id: uuid.UUID, email: str, *, state: str = "completed"
) -> Footprint:
    """A contact with a marker in every personal column of every table that can hold one."""
    space_id = (await make_spaces(url, tenant_id, 1))[0]
    fp = Footprint(contact_id=uuid.uuid4(), email=email)
    fp.markers.append(email)
    outbox_id, request_id = uuid.uuid4(), uuid.uuid4()
    fp.token_hash = hashlib.sha256(uuid.uuid4().bytes).digest()
    locale = f"en-x-lc{uuid.uuid4().hex[:6]}"  # a valid tag: the private-use subtag is the marker
    fp.markers.append(locale)
    async with owner_db(url, tenant_id) as db:
        db.add(
            Contact(
                id=fp.contact_id,
                email=email,
                full_name=fp.mark("name"),
                company=fp.mark("company"),
                job_title=fp.mark("title"),
                phone=fp.mark("+44"),
                locale=locale,
            )
        )
        await db.flush()
        db.add(
            ConsentEvent(
                id=uuid.uuid4(),
                contact_id=fp.contact_id,
                purpose="marketing_email",
                action="granted",
                source="form",
                policy_version="v1",
                evidence=fp.mark("evidence"),
            )
        )
        db.add(
            SpaceAccess(
                id=uuid.uuid4(),
                space_id=space_id,
                contact_id=fp.contact_id,
                state="accepted",
                accepted_at=NOW,
            )
        )
        db.add(
            Block(
                id=(block_id := uuid.uuid4()),
                space_id=space_id,
                kind="heading",
                position=0,
                body={},
            )
        )
        await db.flush()
        # a file about them (its bytes are not needed here: tests/test_files.py has them)
        asset_id = uuid.uuid4()
        db.add(
            Asset(
                id=asset_id,
                kind="document",
                name=fp.mark("contract.pdf"),
                media_type="application/pdf",
                byte_size=10,
                storage_key=asset_key(tenant_id, asset_id),
                contact_id=fp.contact_id,
            )
        )
        db.add(UsageEvent(id=uuid.uuid4(), contact_id=fp.contact_id, space_id=space_id))
        # a space personalised for them: theirs (their erasure deletes it)
        db.add(
            Space(
                id=uuid.uuid4(),
                title="Welcome",
                slug=f"welcome-{uuid.uuid4().hex[:12]}",
                contact_id=fp.contact_id,
            )
        )
        # a personalisation job queued for them, waiting for the worker
        job_id = uuid.uuid4()
        db.add(
            PersonalisationJob(
                id=job_id,
                template_id=None,
                requested=1,
                requested_by_kind="member",
                requested_by_principal=uuid.uuid4(),
            )
        )
        await db.flush()
        db.add(PersonalisationJobContact(id=uuid.uuid4(), job_id=job_id, contact_id=fp.contact_id))
        db.add(
            SignIn(
                id=uuid.uuid4(),
                contact_id=fp.contact_id,
                user_agent_family="Firefox",
                network="203.0.113.0/24",
            )
        )
        db.add(
            UsageEvent(
                id=uuid.uuid4(), contact_id=fp.contact_id, space_id=space_id, block_id=block_id
            )
        )
        db.add(
            OutboxMessage(
                id=outbox_id,
                kind="space_invitation",
                contact_id=fp.contact_id,
                space_id=space_id,
                payload={"message": fp.mark("payload")},
                status="sent",
                last_error=fp.mark("smtp"),
            )
        )
        db.add(
            ApiToken(
                id=uuid.uuid4(),
                kind="subject",
                contact_id=fp.contact_id,
                name=fp.mark("tokenname"),
                token_hash=fp.token_hash,
                scopes=[],
            )
        )
        await db.flush()
        db.add(
            EmailSent(
                id=uuid.uuid4(),
                contact_id=fp.contact_id,
                outbox_id=outbox_id,
                kind="space_invitation",
                to_address=f"{fp.mark('to')}@example.com",
                subject=fp.mark("subject"),
                message_id=f"<{uuid.uuid4().hex}@test>",
            )
        )
        await append_entries(
            db,
            "member",
            None,
            fp.mark("auditreq"),
            [
                {
                    "operation": "read",
                    "subjects": [str(fp.contact_id)],
                    "fields": [fp.mark("auditfield")],
                }
            ],
        )
        db.add(
            SubjectRequest(
                id=request_id,
                kind="access",
                subject_email=email,
                subject_hash=keyed_hash(settings, email),
                contact_ids=[fp.contact_id],
                state=state,
                due_at=NOW + timedelta(days=30),
                changes={"full_name": fp.mark("changes")},
                rejection_reason=fp.mark("rejection"),
                extension_reason=fp.mark("extension"),
                created_by_kind="member",
                verification_hash=b"\x01" * 32,
                completed_at=NOW if state == "completed" else None,
            )
        )
        await db.flush()
        db.add(
            SubjectRequestEvent(
                id=uuid.uuid4(),
                request_id=request_id,
                from_state="verified",
                to_state=state,
                actor_kind="member",
                note=fp.mark("note"),
            )
        )
    fp.request_id = request_id
    return fp


@dataclass
class World:
    tenant: Created
    subject: Footprint
    neighbour: Footprint
    stranger: Footprint  # the same address, in another tenant
    other_tenant: Created
    viewer: Created
    officer: Created
    pending: Footprint


@pytest.fixture(scope="module")
async def world(database_url: URL, settings: Settings) -> World:
    tag = uuid.uuid4().hex[:6]
    tenant = await create_tenant(database_url, f"Export {tag}", f"owner-{tag}@example.com")
    other = await create_tenant(database_url, f"Other {tag}", f"owner-{tag}@example.com")
    email = f"subject-{tag}@example.com"
    return World(
        tenant=tenant,
        subject=await plant(database_url, settings, tenant.tenant_id, email),
        neighbour=await plant(
            database_url, settings, tenant.tenant_id, f"neighbour-{tag}@example.com"
        ),
        stranger=await plant(database_url, settings, other.tenant_id, email),
        other_tenant=other,
        viewer=await create_member(
            database_url, str(tenant.tenant_id), f"viewer-{tag}@example.com", "viewer"
        ),
        officer=await create_member(
            database_url, str(tenant.tenant_id), f"dpo-{tag}@example.com", "privacy_officer"
        ),
        pending=await plant(
            database_url,
            settings,
            tenant.tenant_id,
            f"pending-{tag}@example.com",
            state="processing",
        ),
    )


def link(
    settings: Settings, tenant_id: uuid.UUID, request_id: uuid.UUID | None, *, ttl: float = 600
) -> str:
    assert request_id is not None
    return sign_link(
        settings.secret(),
        tenant_id=tenant_id,
        request_id=request_id,
        expires_at=datetime.now(UTC) + timedelta(seconds=ttl),
    )


async def download(
    client: httpx.AsyncClient, token: str | None, link_token: str, fmt: str = "json"
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.get(f"/exports/{link_token}", params={"format": fmt}, headers=headers)


def code_of(response: httpx.Response) -> str:
    return response.json()["errors"][0]["extensions"]["code"]


def exported_tables() -> set[str]:
    return {m.__tablename__ for m, _ in subject_models(Base)} | {
        "subject_requests",
        "subject_request_events",
    }


async def test_json_export_holds_every_marker_of_the_subject_and_nothing_else(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    # when
    response = await download(
        client, world.tenant.token, link(settings, world.tenant.tenant_id, world.subject.request_id)
    )
    # then
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-disposition"].startswith("attachment")
    text = response.text
    missing = [m for m in world.subject.markers if m not in text]
    assert not missing, f"subject markers missing from the export: {missing}"
    leaked = [
        m
        for m in world.neighbour.markers + world.stranger.markers
        if m not in world.subject.markers and m in text
    ]
    assert not leaked, f"another person's data in the export: {leaked}"
    for other in (
        world.neighbour.contact_id,
        world.stranger.contact_id,
        world.other_tenant.tenant_id,
    ):
        assert str(other) not in text
    doc = response.json()
    assert (doc["format"], doc["version"]) == ("microspace.subject-export", 1)
    assert doc["tenant"] == {"id": str(world.tenant.tenant_id), "name": doc["tenant"]["name"]}
    assert doc["tenant"]["name"].startswith("Export ")
    assert set(doc["data"]) == exported_tables()
    assert all(doc["data"][t] for t in exported_tables()), "every table holds the subject's rows"


async def test_no_hash_column_leaves(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    response = await download(
        client, world.tenant.token, link(settings, world.tenant.tenant_id, world.subject.request_id)
    )
    doc = response.json()
    for rows in doc["data"].values():
        for row in rows:
            assert not [k for k in row if k == "hash" or k.endswith("_hash")]
    assert world.subject.token_hash.hex() not in response.text
    assert keyed_hash(settings, world.subject.email).hex() not in response.text
    assert (b"\x01" * 32).hex() not in response.text  # the verification hash


async def test_manifest_names_categories_and_erasure_actions(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    doc = (
        await download(
            client,
            world.tenant.token,
            link(settings, world.tenant.tenant_id, world.subject.request_id),
        )
    ).json()
    categories = {c["category"]: c["columns"] for c in doc["manifest"]["categories"]}
    assert "contacts.email" in categories["user.contact.email"]
    assert "emails_sent.to_address" in categories["user.contact.email"]
    assert categories["user.name"] == ["contacts.full_name"]
    # the seed plants a value in every personal column of every exported table: each shows up
    declared = {
        f"{m.__tablename__}.{c.name}"
        for m in [*(m for m, _ in subject_models(Base)), SubjectRequest, SubjectRequestEvent]
        for c in personal_columns_of(m.__table__)
    }
    assert {col for cols in categories.values() for col in cols} == declared
    tables = {t["table"]: t for t in doc["manifest"]["tables"]}
    assert tables["contacts"]["erasure"] == "delete"
    assert tables["audit_log"]["erasure"] == "keep" and tables["audit_log"]["legalBasis"]
    assert "token_hash" not in tables["api_tokens"]["columns"]


async def test_zip_has_a_csv_per_table_holding_the_markers(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    response = await download(
        client,
        world.tenant.token,
        link(settings, world.tenant.tenant_id, world.subject.request_id),
        "zip",
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["cache-control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    assert names == {f"{t}.csv" for t in exported_tables()} | {"manifest.json", "export.json"}
    csvs = {n: archive.read(n).decode() for n in names if n.endswith(".csv")}
    everything = "".join(csvs.values())
    assert not [m for m in world.subject.markers if m not in everything]
    assert not [m for m in world.neighbour.markers if m in everything]
    header = next(csv.reader(io.StringIO(csvs["contacts.csv"])))
    assert {"id", "email", "full_name", "locale"} <= set(header)
    outbox = list(csv.DictReader(io.StringIO(csvs["outbox.csv"])))
    assert json.loads(outbox[0]["payload"]) == {
        "message": next(m for m in world.subject.markers if m.startswith("payload-"))
    }
    assert json.loads(archive.read("export.json"))["format"] == "microspace.subject-export"
    assert "categories" in json.loads(archive.read("manifest.json"))


async def test_download_is_audited_per_contact(
    client: httpx.AsyncClient, world: World, settings: Settings, database_url: URL
) -> None:
    response = await download(
        client,
        world.officer.token,
        link(settings, world.tenant.tenant_id, world.subject.request_id),
    )
    assert response.status_code == 200, response.text
    async with owner_db(database_url, world.tenant.tenant_id) as db:
        entries = (
            await db.execute(
                select(AuditEntry.fields, AuditEntry.principal_id).where(
                    AuditEntry.operation == "export",
                    AuditEntry.subject_contact_ids.contains([world.subject.contact_id]),
                    AuditEntry.request_id == response.headers["x-request-id"],
                )
            )
        ).all()
    assert len(entries) == 1
    assert entries[0].principal_id == world.officer.member_id
    assert {"contacts", "consent_events", "subject_requests"} <= set(entries[0].fields)


async def test_expired_link_is_gone(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    expired = link(settings, world.tenant.tenant_id, world.subject.request_id, ttl=-1)
    response = await download(client, world.tenant.token, expired)
    assert (response.status_code, code_of(response)) == (410, "EXPORT_LINK_EXPIRED")
    assert response.headers["cache-control"] == "no-store"


def flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


@pytest.mark.parametrize("where", ["payload", "signature", "truncated", "garbage"])
async def test_tampered_link_is_invalid(
    client: httpx.AsyncClient, world: World, settings: Settings, where: str
) -> None:
    good = link(settings, world.tenant.tenant_id, world.subject.request_id)
    dot = good.index(".")
    bad = {
        "payload": flip(good, dot // 2),
        "signature": flip(good, len(good) - 1),
        "truncated": good[:-3],
        "garbage": "not-a-link",
    }[where]
    response = await download(client, world.tenant.token, bad)
    assert (response.status_code, code_of(response)) == (404, "EXPORT_LINK_INVALID")


async def test_other_tenant_sees_a_link_that_never_existed(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    genuine = link(settings, world.tenant.tenant_id, world.subject.request_id)
    expired = link(settings, world.tenant.tenant_id, world.subject.request_id, ttl=-1)
    never = link(settings, world.tenant.tenant_id, uuid.uuid4())
    answers = [
        await download(client, world.other_tenant.token, t)
        for t in (genuine, expired, never, "x.y")
    ]
    assert {(r.status_code, code_of(r)) for r in answers} == {(404, "EXPORT_LINK_INVALID")}
    assert len({r.text for r in answers}) == 1


async def test_link_needs_a_bearer(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    good = link(settings, world.tenant.tenant_id, world.subject.request_id)
    for token in (None, "msm_not-a-real-token"):
        response = await download(client, token, good)
        assert (response.status_code, code_of(response)) == (401, "UNAUTHENTICATED")


async def test_viewer_may_not_export(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    response = await download(
        client, world.viewer.token, link(settings, world.tenant.tenant_id, world.subject.request_id)
    )
    assert (response.status_code, code_of(response)) == (403, "FORBIDDEN")


async def test_request_not_completed_is_not_ready(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    response = await download(
        client, world.tenant.token, link(settings, world.tenant.tenant_id, world.pending.request_id)
    )
    assert (response.status_code, code_of(response)) == (409, "EXPORT_NOT_READY")


async def test_unknown_format_is_refused(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    response = await download(
        client,
        world.tenant.token,
        link(settings, world.tenant.tenant_id, world.subject.request_id),
        "xml",
    )
    assert (response.status_code, code_of(response)) == (400, "BAD_REQUEST")


def test_links_round_trip_and_refuse_other_keys() -> None:
    tenant_id, request_id = uuid.uuid4(), uuid.uuid4()
    token = sign_link(
        b"k1", tenant_id=tenant_id, request_id=request_id, expires_at=NOW + timedelta(minutes=5)
    )
    assert verify_link(b"k1", token, now=NOW) == (tenant_id, request_id)
    with pytest.raises(LinkInvalid):
        verify_link(b"k2", token, now=NOW)
    with pytest.raises(LinkExpired) as expired:
        verify_link(b"k1", token, now=NOW + timedelta(minutes=5))
    assert (expired.value.tenant_id, expired.value.request_id) == (tenant_id, request_id)
    for bad in ("", ".", "a.b.c", "é.é", token + "=", "." + token.split(".")[1]):
        with pytest.raises(LinkInvalid):
            verify_link(b"k1", bad, now=NOW)


def test_links_expiring_beyond_the_configured_maximum_are_refused() -> None:
    tenant_id, request_id = uuid.uuid4(), uuid.uuid4()
    forged = sign_link(
        b"k1", tenant_id=tenant_id, request_id=request_id, expires_at=NOW + timedelta(days=3650)
    )
    with pytest.raises(LinkInvalid):
        verify_link(b"k1", forged, now=NOW, max_ttl=3600)
    fine = sign_link(
        b"k1", tenant_id=tenant_id, request_id=request_id, expires_at=NOW + timedelta(hours=1)
    )
    assert verify_link(b"k1", fine, now=NOW, max_ttl=3600) == (tenant_id, request_id)


async def test_a_ten_year_link_does_not_download(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    ten_years = link(
        settings, world.tenant.tenant_id, world.subject.request_id, ttl=10 * 365 * 86400
    )
    response = await download(client, world.tenant.token, ten_years)
    assert (response.status_code, code_of(response)) == (404, "EXPORT_LINK_INVALID")


FILE_ACCESS = "mutation($e: String) { subjectAccessRequest(input: {email: $e}) { request { id } userErrors { code } } }"
ATTEST = (
    "mutation($id: ID!, $a: String) { subjectRequestVerify(input: {id: $id, attestation: $a}) "
    "{ userErrors { code } } }"
)
PROCESS = "mutation($id: ID!) { subjectRequestProcess(id: $id) { exportLink { url jsonUrl zipUrl } userErrors { code } } }"


async def test_link_from_processing_downloads(
    api, new_tenant, new_member, owner_url, client
) -> None:
    # given an access request filed, attested and processed through the API
    tenant = await new_tenant()
    cid = await make_full_contact(owner_url, tenant.tenant_id)
    officer = await new_member(tenant.tenant_id, "privacy_officer")
    call = api(officer.token)
    async with owner_db(owner_url, tenant.tenant_id) as db:
        email = await db.scalar(select(Contact.email).where(Contact.id == cid))
    filed = (await call(FILE_ACCESS, {"e": email}))["data"]["subjectAccessRequest"]
    request_id = filed["request"]["id"]
    assert (await call(ATTEST, {"id": request_id, "a": "Passport seen"}))["data"][
        "subjectRequestVerify"
    ]["userErrors"] == []
    processed = (await call(PROCESS, {"id": request_id}))["data"]["subjectRequestProcess"]
    # when the officer follows the link
    response = await client.get(
        processed["exportLink"]["zipUrl"], headers={"Authorization": f"Bearer {officer.token}"}
    )
    # then it is the subject's export
    assert response.status_code == 200, response.text
    doc = json.loads(zipfile.ZipFile(io.BytesIO(response.content)).read("export.json"))
    assert doc["subject"]["email"] == email
    assert [c["id"] for c in doc["data"]["contacts"]] == [str(cid)]
    assert doc["data"]["consent_events"][0]["evidence"] == "Ticked the box at signup"
