"""Operator actions on tenants and members: create, mint tokens, seed the demo."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from core.auth import hash_token
from core.db import Db, owner_db
from models import ApiToken, Block, Member, Role, Space, Tenant
from models.base import EMAIL_MAX
from store.tokens import mint_token

ROLES = [r.value for r in Role]
DEMO_OWNER = "owner@demo.example"
# the quick start keeps its demo token and reuses it until then (microspace/commands/serve.py)
DEMO_TOKEN_LIFETIME = timedelta(days=30)


class OperatorError(ValueError):
    """Bad operator input: printed as one line, exit status 2."""


@dataclass
class Created:
    tenant_id: uuid.UUID
    member_id: uuid.UUID
    role: str
    token: str

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant_id": str(self.tenant_id),
            "member_id": str(self.member_id),
            "role": self.role,
            "token": self.token,
        }


def normalise_email(email: str) -> str:
    value = email.strip().lower()
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or len(value) > EMAIL_MAX or " " in value:
        raise OperatorError(f"not an e-mail address: {email!r}")
    return value


async def add_member(db: Db, email: str, role: str) -> Created:
    member = await _new_member(db, email, role)
    _, token = await mint_token(db, "member", name="cli", member_id=member.id)
    assert db.tenant_id is not None
    return Created(tenant_id=db.tenant_id, member_id=member.id, role=role, token=token)


async def _new_member(db: Db, email: str, role: str) -> Member:
    if role not in ROLES:
        raise OperatorError(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")
    email = normalise_email(email)
    if await db.scalar(select(Member.id).where(Member.email == email)):
        raise OperatorError(f"{email} is already a member of this tenant")
    member = Member(id=uuid.uuid4(), email=email, role=role)
    db.add(member)
    await db.flush()
    return member


async def create_tenant(owner_url: URL | AsyncEngine, name: str, owner_email: str) -> Created:
    name = name.strip()
    if not name or len(name) > 200:
        raise OperatorError("the tenant name must be 1 to 200 characters")
    normalise_email(owner_email)
    tenant_id = uuid.uuid4()
    async with owner_db(owner_url, tenant_id) as db:
        db.add(Tenant(id=tenant_id, name=name))
        await db.flush()
        return await add_member(db, owner_email, "owner")


async def create_member(
    owner_url: URL | AsyncEngine, tenant: str, email: str, role: str
) -> Created:
    try:
        tenant_id = uuid.UUID(tenant)
    except ValueError:
        raise OperatorError(f"not a tenant id: {tenant!r}") from None
    async with owner_db(owner_url, tenant_id) as db:
        if await db.scalar(select(Tenant.id).where(Tenant.id == tenant_id)) is None:
            raise OperatorError(f"no tenant {tenant_id}")
        return await add_member(db, email, role)


DEMO_TENANT_ID = uuid.UUID("00000000-0000-4000-8000-00000000de70")
DEMO_SPACES = [
    (
        "Welcome to Acme",
        "welcome",
        "published",
        [
            ("heading", {"text": "Welcome aboard", "level": 1}),
            (
                "rich_text",
                {"format": "markdown", "text": "Everything you need for **onboarding**."},
            ),
            ("link", {"url": "https://example.com/handbook", "label": "Handbook"}),
            (
                "checklist",
                {
                    "items": [
                        {"text": "Sign the contract", "checked": True},
                        {"text": "Book kickoff"},
                    ]
                },
            ),
        ],
    ),
    (
        "Quarterly review",
        "quarterly-review",
        "draft",
        [
            ("heading", {"text": "Q3 in numbers", "level": 2}),
            (
                "file",
                {
                    "url": "https://example.com/q3.pdf",
                    "name": "q3.pdf",
                    "mimeType": "application/pdf",
                },
            ),
            ("video", {"url": "https://example.com/q3.mp4", "caption": "Recap"}),
        ],
    ),
    (
        "Project Atlas",
        "project-atlas",
        "published",
        [
            ("embed", {"url": "https://example.com/board", "title": "Roadmap", "height": 480}),
            ("rich_text", {"format": "plain", "text": "Status: on track."}),
        ],
    ),
]


async def seed_demo(owner_url: URL, kept: str | None = None) -> Created:
    """Create the demo tenant once (with spaces and blocks); return an owner token: `kept`
    while it is a live token of the demo owner, else a new one that expires in 30 days."""
    async with owner_db(owner_url, DEMO_TENANT_ID) as db:
        tenant = await db.scalar(select(Tenant).where(Tenant.id == DEMO_TENANT_ID))
        if tenant is None:
            db.add(Tenant(id=DEMO_TENANT_ID, name="Acme (demo)"))
            await db.flush()
            for title, slug, status, blocks in DEMO_SPACES:
                space = Space(
                    id=uuid.uuid4(), title=title, slug=slug, status=status, description=""
                )
                db.add(space)
                await db.flush()
                for position, (kind, body) in enumerate(blocks):
                    db.add(
                        Block(
                            id=uuid.uuid4(),
                            space_id=space.id,
                            kind=kind,
                            position=position,
                            body=body,
                        )
                    )
            await db.flush()
        owner = await db.scalar(select(Member).where(Member.email == DEMO_OWNER))
        if owner is None:
            owner = await _new_member(db, DEMO_OWNER, "owner")
        if kept is None or not await _live(db, kept, owner.id):
            expires = datetime.now(UTC) + DEMO_TOKEN_LIFETIME
            _, kept = await mint_token(
                db, "member", name="demo", member_id=owner.id, expires_at=expires
            )
        return Created(tenant_id=DEMO_TENANT_ID, member_id=owner.id, role="owner", token=kept)


async def _live(db: Db, token: str, member_id: uuid.UUID) -> bool:
    """Whether `token` is a live credential of that member: not revoked, not expired."""
    found = await db.scalar(
        select(ApiToken.id).where(
            ApiToken.token_hash == hash_token(token),
            ApiToken.member_id == member_id,
            ApiToken.live(),
        )
    )
    return found is not None
