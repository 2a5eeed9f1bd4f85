"""Helpers for widget keys and visitor sessions in tests: trusted documents by hash, and
visitor sessions opened through the invitation link as a contact would."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from core.invitation_links import Invitation, sign_invitation

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
    secret: bytes, tenant_id: uuid.UUID, space_id: uuid.UUID, contact_id: uuid.UUID, **ttl: Any
) -> str:
    expires = datetime.now(UTC) + timedelta(**(ttl or {"hours": 1}))
    return sign_invitation(secret, Invitation(tenant_id, space_id, contact_id), expires_at=expires)


async def open_visitor(
    client: httpx.AsyncClient,
    secret: bytes,
    tenant_id: uuid.UUID,
    space_id: uuid.UUID,
    contact_id: uuid.UUID,
) -> dict[str, Any]:
    """Open the invitation link as the contact would; returns the visitor session."""
    token = invitation_token(secret, tenant_id, space_id, contact_id)
    response = await client.get(f"/invitations/{token}")
    assert response.status_code == 200, response.text
    session: dict[str, Any] = response.json()
    return session
