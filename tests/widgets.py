"""Helpers for widget keys and visitor sessions in tests: trusted documents by hash, and
visitor sessions opened through the invitation link as a contact would."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from core.db import Db, unit_of_work
from core.invitation_links import EPOCH, Invitation, sign_invitation
from models import SpaceAccess

# the invited_at of no access: a link for an invitation that is not the current one
NO_INVITATION = EPOCH

REGISTER = """mutation($input: PersistedDocumentRegisterInput!) {
  persistedDocumentRegister(input: $input) { document { sha256 trusted } userErrors { code } } }"""


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def by_hash(digest: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
    if variables is not None:
        body["variables"] = variables
    return body


class PersistedApi:
    """A client for a widget key or visitor session: each document is registered as trusted
    by the tenant's owner (`owner`, a bound Api) on first use, then sent by hash only."""

    def __init__(self, client: httpx.AsyncClient, token: str, owner: Any) -> None:
        self.client, self.token, self.owner = client, token, owner
        self.registered: set[str] = set()

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        digest = sha256(query)
        if digest not in self.registered:
            result = await self.owner(REGISTER, {"input": {"document": query}})
            assert result["data"]["persistedDocumentRegister"]["userErrors"] == [], result
            self.registered.add(digest)
        headers = {"Authorization": f"Bearer {self.token}"}
        return await self.client.post("/graphql", json=by_hash(digest, variables), headers=headers)

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.post(query, variables)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        # a refused query would let "before == after" comparisons pass without checking
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
        assert "COST_LIMIT" not in codes, "mark the test `big_queries`"
        return body


def invitation_token(
    secret: bytes,
    tenant_id: uuid.UUID,
    space_id: uuid.UUID,
    contact_id: uuid.UUID,
    *,
    invited_at: datetime | None = None,
    **ttl: Any,
) -> str:
    """A link as the worker signs it; without `invited_at` (the access's, see
    `invited_at_of`) a link of no current invitation, which answers INVITATION_SUPERSEDED."""
    expires = datetime.now(UTC) + timedelta(**(ttl or {"hours": 1}))
    invitation = Invitation(tenant_id, space_id, contact_id, invited_at or NO_INVITATION)
    return sign_invitation(secret, invitation, expires_at=expires)


async def invited_at_of(
    client: httpx.AsyncClient, tenant_id: uuid.UUID, space_id: uuid.UUID, contact_id: uuid.UUID
) -> datetime | None:
    """The access's current invitation, read through the app behind the test client."""
    state = client._transport.app.state.microspace  # type: ignore[attr-defined]
    async with unit_of_work(Db(state.sessionmaker)) as db:
        await db.set_tenant(tenant_id)
        invited: datetime | None = await db.scalar(
            select(SpaceAccess.invited_at).where(
                SpaceAccess.space_id == space_id, SpaceAccess.contact_id == contact_id
            )
        )
        return invited


async def current_invitation_token(
    client: httpx.AsyncClient,
    secret: bytes,
    tenant_id: uuid.UUID,
    space_id: uuid.UUID,
    contact_id: uuid.UUID,
) -> str:
    """The link the invitation e-mail of the access would carry now."""
    invited_at = await invited_at_of(client, tenant_id, space_id, contact_id)
    return invitation_token(secret, tenant_id, space_id, contact_id, invited_at=invited_at)


async def open_visitor(
    client: httpx.AsyncClient,
    secret: bytes,
    tenant_id: uuid.UUID,
    space_id: uuid.UUID,
    contact_id: uuid.UUID,
) -> dict[str, Any]:
    """Open the invitation link as the contact would (its page's button POSTs); returns the
    visitor session."""
    token = await current_invitation_token(client, secret, tenant_id, space_id, contact_id)
    response = await client.post(f"/invitations/{token}")
    assert response.status_code == 200, response.text
    session: dict[str, Any] = response.json()
    return session
