"""Plain async factories that write straight to the database as the owner."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from core.db import owner_db
from core.ids import decode_id, encode_id
from models import Block, Space

# one owner engine per database for the session (tests share one event loop): a new
# connection per factory call would start a PostgreSQL backend each time
_ENGINES: dict[str, AsyncEngine] = {}


def _owner(url: URL) -> AsyncEngine:
    key = url.render_as_string(hide_password=False)
    if key not in _ENGINES:
        _ENGINES[key] = create_async_engine(url)
    return _ENGINES[key]


async def dispose_engines() -> None:
    while _ENGINES:
        await _ENGINES.popitem()[1].dispose()


async def make_spaces(
    url: URL, tenant_id: uuid.UUID, count: int, blocks_each: int = 0, **space: Any
) -> list[uuid.UUID]:
    """`count` spaces, each with `blocks_each` heading blocks; returns their ids."""
    ids = []
    async with owner_db(_owner(url), tenant_id) as db:
        for i in range(count):
            sid = uuid.uuid4()
            ids.append(sid)
            db.add(
                Space(
                    id=sid,
                    title=space.get("title", f"Space {i}"),
                    slug=f"space-{sid.hex[:12]}",
                    description="",
                    # published: the revision below sets it, as spacePublish does
                    status="archived" if space.get("status") == "archived" else "draft",
                )
            )
        await db.flush()
        for sid in ids:
            for p in range(blocks_each):
                db.add(
                    Block(
                        id=uuid.uuid4(),
                        space_id=sid,
                        kind="heading",
                        position=p,
                        body={"text": f"Block {p}", "level": 2},
                    )
                )
        await db.flush()
        if space.get("status") == "published":
            for sid in ids:
                await _publish(db, tenant_id, sid)
    return ids


async def _publish(db: Any, tenant_id: uuid.UUID, space_id: uuid.UUID) -> None:
    await db.execute(
        text("SELECT app_space_publish(:t, :s, 'system', NULL, 'factory')"),
        {"t": tenant_id, "s": space_id},
    )


async def publish(url: URL, tenant_id: uuid.UUID, *space_ids: uuid.UUID | str) -> None:
    """Publish each space's draft as a new revision (as `spacePublish` does, without the
    audit entry and the event): what widgets and visitors see."""
    async with owner_db(_owner(url), tenant_id) as db:
        for sid in space_ids:
            await _publish(
                db, tenant_id, sid if isinstance(sid, uuid.UUID) else decode_id(sid, "Space")
            )


async def make_space(url: URL, tenant_id: uuid.UUID, blocks: int = 0) -> tuple[str, list[str]]:
    """One space with `blocks` blocks; returns global IDs (space, [blocks])."""
    sid = (await make_spaces(url, tenant_id, 1, blocks))[0]
    async with owner_db(_owner(url), tenant_id) as db:
        from sqlalchemy import select

        rows = await db.scalars(
            select(Block.id).where(Block.space_id == sid).order_by(Block.position)
        )
    return encode_id("Space", sid), [encode_id("Block", b) for b in rows]


async def make_contacts(
    url: URL, tenant_id: uuid.UUID, count: int, *, consents: tuple[str, ...] = (), **fields: Any
) -> list[uuid.UUID]:
    """`count` contacts, each granting `consents` (purposes); returns their ids."""
    from models import ConsentEvent, Contact

    ids = []
    async with owner_db(_owner(url), tenant_id) as db:
        for i in range(count):
            cid = uuid.uuid4()
            ids.append(cid)
            db.add(
                Contact(
                    id=cid,
                    email=f"c{i}-{cid.hex[:8]}@example.com",
                    full_name=fields.get("full_name", f"Contact {i}"),
                    company=fields.get("company"),
                )
            )
        await db.flush()
        for cid in ids:
            for purpose in consents:
                db.add(
                    ConsentEvent(
                        id=uuid.uuid4(),
                        contact_id=cid,
                        purpose=purpose,
                        action="granted",
                        source="import",
                        policy_version="v1",
                    )
                )
        await db.flush()
    return ids


async def make_access(
    url: URL, tenant_id: uuid.UUID, space_id: uuid.UUID, contact_ids: list[uuid.UUID]
) -> None:
    """Invite the contacts to the space (no e-mail queued)."""
    from models import SpaceAccess

    async with owner_db(_owner(url), tenant_id) as db:
        for cid in contact_ids:
            db.add(SpaceAccess(id=uuid.uuid4(), space_id=space_id, contact_id=cid, state="invited"))
        await db.flush()


async def make_key(url: URL, tenant_id: uuid.UUID, kind: str, scopes: list[str]) -> str:
    """A partner (or widget) key with these scopes; returns the token."""
    from core.auth import new_token
    from models import ApiToken

    token, digest = new_token(kind)
    async with owner_db(_owner(url), tenant_id) as db:
        db.add(ApiToken(id=uuid.uuid4(), kind=kind, token_hash=digest, name="test", scopes=scopes))
    return token


async def make_full_contact(url: URL, tenant_id: uuid.UUID) -> uuid.UUID:
    """A contact with every personal field set, a consent with evidence, an accepted access."""
    from datetime import UTC, datetime

    from models import ConsentEvent, Contact, SpaceAccess

    space_id = (await make_spaces(url, tenant_id, 1))[0]
    cid = uuid.uuid4()
    async with owner_db(_owner(url), tenant_id) as db:
        db.add(
            Contact(
                id=cid,
                email=f"jane.doe-{cid.hex[:6]}@example.com",
                full_name="Jane Doe",
                company="Initech",
                job_title="CTO",
                phone="+44 20 7946 0958",
                locale="en-GB",
            )
        )
        await db.flush()
        db.add(
            ConsentEvent(
                id=uuid.uuid4(),
                contact_id=cid,
                purpose="marketing_email",
                action="granted",
                source="form",
                policy_version="v1",
                evidence="Ticked the box at signup",
            )
        )
        db.add(
            SpaceAccess(
                id=uuid.uuid4(),
                space_id=space_id,
                contact_id=cid,
                state="accepted",
                accepted_at=datetime.now(UTC),
            )
        )
    return cid


API_KEY_CREATE = """mutation($input: ApiKeyCreateInput!) { apiKeyCreate(input: $input) {
  apiKey { id kind scopes } secret userErrors { code field message } } }"""


async def mint_key(owner: Any, kind: str, scopes: list[str], **extra: Any) -> str:
    """A partner or widget key issued through `apiKeyCreate` by `owner` (a bound API client
    of an owner or admin); returns its secret, as an integration would receive it."""
    variables = {"input": {"kind": kind.upper(), "name": f"test {kind}", "scopes": scopes, **extra}}
    result = await owner(API_KEY_CREATE, variables)
    payload = result["data"]["apiKeyCreate"]
    assert payload["userErrors"] == [], payload
    return str(payload["secret"])
