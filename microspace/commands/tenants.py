"""Operator actions on tenants and members: create, mint tokens, seed the demo."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import Db, owner_db
from models import Block, Member, Role, Space, Tenant
from models.base import EMAIL_MAX
from store.tokens import mint_token

ROLES = [r.value for r in Role]


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
    if role not in ROLES:
        raise OperatorError(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")
    email = normalise_email(email)
    if await db.scalar(select(Member.id).where(Member.email == email)):
        raise OperatorError(f"{email} is already a member of this tenant")
    member = Member(id=uuid.uuid4(), email=email, role=role)
    db.add(member)
    await db.flush()
    _, token = await mint_token(db, "member", name="cli", member_id=member.id)
    assert db.tenant_id is not None
    return Created(tenant_id=db.tenant_id, member_id=member.id, role=role, token=token)


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


async def seed_demo(owner_url: URL) -> Created:
    """Create the demo tenant once (with spaces and blocks); mint a fresh owner token."""
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
            return await add_member(db, "owner@demo.example", "owner")
        owner = await db.scalar(select(Member).where(Member.email == "owner@demo.example"))
        _, token = await mint_token(db, "member", name="demo", member_id=owner.id)
        return Created(tenant_id=DEMO_TENANT_ID, member_id=owner.id, role="owner", token=token)
