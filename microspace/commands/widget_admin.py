"""Operator commands for widgets: `document-register` (the twin of
`persistedDocumentRegister`) and `tenant-web` (a tenant's CORS origins for member tokens and
the page its invitation links land on)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.engine import URL

from core.db import owner_db
from microspace.commands.tenants import OperatorError
from models import Tenant
from resolvers.api_keys import origin_error
from resolvers.persisted import document_problem
from schema.build import build_schema
from store.persisted import MAX_DOCUMENT_CHARS, register_document


def _tenant_id(tenant: str) -> uuid.UUID:
    try:
        return uuid.UUID(tenant)
    except ValueError:
        raise OperatorError(f"not a tenant id: {tenant!r}") from None


async def register_document_cli(owner_url: URL, tenant: str, document: str) -> dict[str, Any]:
    """Trust `document` for the tenant's widgets; the same checks as the mutation."""
    if len(document) > MAX_DOCUMENT_CHARS:
        raise OperatorError(f"a document may be at most {MAX_DOCUMENT_CHARS} characters")
    problem = document_problem(build_schema()._schema, document)
    if problem is not None:
        raise OperatorError(f"the document does not validate: {problem}")
    async with owner_db(owner_url, _tenant_id(tenant)) as db:
        row = await register_document(db, document, trusted=True)
        return {"sha256": row.sha256, "trusted": row.trusted}


def _landing_error(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"{url!r} must be an absolute http(s) URL"
    if parts.fragment:
        return f"{url!r} must not have a fragment (the visitor session goes there)"
    return None


async def set_tenant_web(
    owner_url: URL, tenant: str, origins: list[str] | None, visitor_url: str | None
) -> dict[str, Any]:
    """Replace the tenant's CORS origins and/or its invitation landing page."""
    for origin in origins or []:
        problem = origin_error(origin)
        if problem:
            raise OperatorError(problem)
    if visitor_url and (problem := _landing_error(visitor_url)):
        raise OperatorError(problem)
    tenant_id = _tenant_id(tenant)
    async with owner_db(owner_url, tenant_id) as db:
        row = await db.scalar(select(Tenant).where(Tenant.id == tenant_id))
        if row is None:
            raise OperatorError(f"no tenant {tenant}")
        if origins is not None:
            row.cors_origins = list(dict.fromkeys(origins))
        if visitor_url is not None:
            row.visitor_url = visitor_url or None
        await db.flush()
        return {"cors_origins": row.cors_origins, "visitor_url": row.visitor_url}
