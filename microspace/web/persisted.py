"""Persisted queries: trusted documents for widgets, automatic persisted queries for the rest.

- A widget key or visitor session (pages on a customer's site) may run only trusted
  documents: those shipped with the reference widget and those a tenant's owner or admin
  registered (`persistedDocumentRegister`, `microspace document-register`). It sends the
  hash in `extensions.persistedQuery`; anything else is PERSISTED_QUERY_REQUIRED.
- Members and partners get Apollo's automatic persisted queries: a hash the server does
  not know answers PERSISTED_QUERY_NOT_FOUND, and the client's retry with the text (whose
  hash is checked) registers it for the tenant, untrusted, once it passed the document
  limits and validation (a document that cannot run is never stored). A tenant keeps at
  most `apq_max_documents` of them, the least recently used evicted; a text longer than
  `apq_max_document_chars` runs but is not kept, with a PERSISTED_QUERY_TOO_LARGE warning
  in the response's `extensions` (an error would make Apollo Client drop the data).
- A widget's GET by hash is cacheable: `Cache-Control` with a short max-age, an `ETag` of
  the body, 304 on a matching `If-None-Match` (core/http.py get_caching).
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from core.auth import BROWSER_KINDS
from microspace.web.widget_documents import SHIPPED
from schema.context import Context
from store import persisted as store
from store.persisted import SHA256, find_document, sha256_of


class PersistedQueryError(Exception):
    """Answered as a GraphQL request error with a stable code (and Apollo's message where
    the protocol fixes one: its client matches `PersistedQueryNotFound`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def result(self) -> ExecutionResult:
        return ExecutionResult(
            data=None, errors=[GraphQLError(str(self), extensions={"code": self.code})]
        )


# what becomes of an automatic persisted query's text once it ran: kept, refused, nothing
Pending = str | PersistedQueryError | None


def requested_hash(extensions: dict[str, Any] | None) -> str | None:
    """The SHA-256 of `extensions.persistedQuery`, validated; None when there is none."""
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise PersistedQueryError(
            "PERSISTED_QUERY_INVALID", "`extensions.persistedQuery` must have `version: 1`."
        )
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not SHA256.match(digest):
        raise PersistedQueryError(
            "PERSISTED_QUERY_INVALID",
            "`extensions.persistedQuery.sha256Hash` must be 64 lower-case hex digits.",
        )
    return digest


async def _trusted(context: Context, digest: str) -> str | None:
    if digest in SHIPPED:
        return SHIPPED[digest]
    if context.principal.tenant_id is None:
        return None
    row = await find_document(context.db, digest)
    return row.document if row is not None and row.trusted else None


async def _for_browser(context: Context, data: GraphQLRequestData, digest: str | None) -> str:
    """A widget's or visitor's document: trusted, or refused."""
    digest = digest or (sha256_of(data.query) if data.query else None)
    document = await _trusted(context, digest) if digest else None
    if document is None:
        raise PersistedQueryError(
            "PERSISTED_QUERY_REQUIRED",
            "Widgets may run only trusted documents: send the SHA-256 of a document shipped "
            "with the widget or registered for your tenant in `extensions.persistedQuery`.",
        )
    if data.query and data.query != document:
        raise PersistedQueryError(
            "PERSISTED_QUERY_HASH_MISMATCH", "The query's SHA-256 is not the hash sent."
        )
    return document


async def _automatic(
    context: Context, data: GraphQLRequestData, digest: str
) -> tuple[str, Pending]:
    """Apollo's automatic persisted queries, for members and partners: the document, and the
    text to keep if it runs or why it is not kept (StrawberryView.execute_single calls
    keep_automatic)."""
    if data.query:
        if sha256_of(data.query) != digest:
            raise PersistedQueryError(
                "PERSISTED_QUERY_HASH_MISMATCH", "The query's SHA-256 is not the hash sent."
            )
        if digest in SHIPPED or context.principal.tenant_id is None:
            return data.query, None
        return data.query, _too_large(context, data.query) or data.query
    document = SHIPPED.get(digest)
    if document is None and context.principal.tenant_id is not None:
        row = await find_document(context.db, digest)
        if row is not None:
            await store.touch_document(context.db, row)
            document = row.document
    if document is None:
        raise PersistedQueryError("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
    return document, None


def _too_large(context: Context, query: str) -> PersistedQueryError | None:
    limit = context.settings.apq_max_document_chars
    if len(query) <= limit:
        return None
    return PersistedQueryError(
        "PERSISTED_QUERY_TOO_LARGE",
        f"The query was not persisted: automatic persisted queries may be at most "
        f"{limit} characters, this one has {len(query)}. It ran; send its text again next "
        "time.",
    )


async def keep_automatic(context: Context, pending: Pending, result: ExecutionResult) -> None:
    """Keep an automatic persisted query for the tenant once it ran (untrusted: widgets cannot
    run it), or say in the response's `extensions` why it was not kept."""
    if pending is None or result.data is None:
        return  # a document that did not run is never stored
    if isinstance(pending, PersistedQueryError):
        limit = context.settings.apq_max_document_chars
        warning = {"message": str(pending), "extensions": {"code": pending.code, "limit": limit}}
        result.extensions = {**(result.extensions or {}), "warnings": [warning]}
        return
    keep = context.settings.apq_max_documents
    if keep > 0:
        await store.register_automatic(context.db, pending, keep=keep)


async def resolve(context: Context, data: GraphQLRequestData) -> tuple[GraphQLRequestData, Pending]:
    """The request with the document it may run filled in, and an automatic persisted
    query's text to keep once it ran (or why not); PersistedQueryError when it may not run."""
    digest = requested_hash(data.extensions)
    to_register: Pending = None
    if context.principal.kind in BROWSER_KINDS:
        query = await _for_browser(context, data, digest)
    elif digest is not None:
        query, to_register = await _automatic(context, data, digest)
    else:
        return data, None
    return GraphQLRequestData(
        query=query,
        variables=data.variables,
        operation_name=data.operation_name,
        extensions=data.extensions,
        protocol=data.protocol,
    ), to_register
