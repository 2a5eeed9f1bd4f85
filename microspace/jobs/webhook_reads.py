"""The object a webhook delivers, read as the subscribing key: its scopes, the tenant's
policy overrides and the same redaction extension as any GraphQL read, and audited as the
key's read (in a short transaction of its own, before the POST)."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from core.auth import Principal, act_as_key
from core.config import Settings
from core.db import Db, unit_of_work
from models import ApiToken, DomainEvent, Tenant
from policies.authz import Authorizer, TenantPolicies, load_tenant_policies
from resolvers.webhook_payloads import READS
from schema.context import Context
from store.events import envelope
from store.loaders import Loaders


class Reader(Protocol):
    """What a read needs: the schema, the policies, a session maker and the settings."""

    schema: strawberry.Schema
    policies: TenantPolicies
    sessionmaker: async_sessionmaker[AsyncSession]
    settings: Settings


async def payload_for(reader: Reader, db: Db, key: ApiToken, event: DomainEvent) -> dict[str, Any]:
    """The delivery body: the event and the object as this key reads it now."""
    ref = event.payload or {}
    obj, redactions = None, []
    query = READS.get(str(ref.get("type")))
    if query is not None and not event.topic.endswith((".deleted", ".erased")):
        result = await read_as(reader, db, key, query, {"id": ref.get("id")})
        obj = (result.data or {}).get("object")
        redactions = (result.extensions or {}).get("redactions", [])
    return envelope(event.topic, event.id, event.created_at.isoformat(), ref, obj, redactions)


async def read_as(
    reader: Reader, db: Db, key: ApiToken, query: str, variables: dict[str, Any]
) -> Any:
    """Run a GraphQL read as the key, in this transaction; its personal-data reads are
    audited like an API request's (once per attempt: each attempt discloses them)."""
    version = await db.scalar(select(Tenant.policy_version))
    principal = Principal(
        kind="partner",
        tenant_id=key.tenant_id,
        subjects=tuple(key.scopes or ()),
        token_id=key.id,
        policy_version=version or 0,
    )
    await load_tenant_policies(db, reader.policies, principal)
    request_id = f"webhook-{uuid.uuid4().hex[:12]}"
    context = Context(
        request=Request({"type": "http", "method": "POST", "path": "/webhooks", "headers": []}),
        request_id=request_id,
        principal=principal,
        db=db,
        loaders=Loaders(db),
        authz=Authorizer(reader.policies.enforcer, principal, reader.policies),
        settings=reader.settings,
        json_passthrough=False,  # the payload is built from `result.data`
    )
    result = await reader.schema.execute(query, variable_values=variables, context_value=context)
    # audited in a short transaction of its own: appending takes the tenant's audit-chain
    # lock, which must not be held through the POST that follows (API requests wait on it)
    audit_db = Db(reader.sessionmaker, statement_timeout=reader.settings.statement_timeout)
    async with unit_of_work(audit_db):
        # as the key: the audit chain takes its principal from the transaction's lookup
        if not await act_as_key(audit_db, key.token_hash):
            await audit_db.set_tenant(key.tenant_id)
        await context.audit.flush(audit_db)
    return result
