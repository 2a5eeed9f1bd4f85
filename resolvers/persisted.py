"""Trusted documents: register one for the tenant's widgets (store/persisted.py)."""

from __future__ import annotations

from graphql import GraphQLError, GraphQLSchema, parse, validate

from schema.context import Info
from schema.persisted import (
    PersistedDocument,
    PersistedDocumentErrorCode,
    PersistedDocumentPayload,
    PersistedDocumentRegisterInput,
    PersistedDocumentUserError,
)
from store.persisted import MAX_DOCUMENT_CHARS, register_document, sha256_of


def document_problem(schema: GraphQLSchema, document: str) -> str | None:
    """Why `document` cannot run against `schema`, or None."""
    try:
        errors = validate(schema, parse(document))
    except GraphQLError as error:
        return error.message
    return errors[0].message if errors else None


def _error(code: PersistedDocumentErrorCode, field: str, message: str) -> PersistedDocumentPayload:
    return PersistedDocumentPayload(
        user_errors=[PersistedDocumentUserError(code=code, field=[field], message=message)]
    )


async def register_persisted_document(
    info: Info, input: PersistedDocumentRegisterInput
) -> PersistedDocumentPayload:
    """Trust a document for the tenant's widgets, under its SHA-256."""
    if len(input.document) > MAX_DOCUMENT_CHARS:
        return _error(
            PersistedDocumentErrorCode.TOO_LONG,
            "document",
            f"A document may be at most {MAX_DOCUMENT_CHARS} characters.",
        )
    digest = sha256_of(input.document)
    if input.sha256 is not None and input.sha256.lower() != digest:
        return _error(
            PersistedDocumentErrorCode.HASH_MISMATCH,
            "sha256",
            f"The document's SHA-256 is {digest}, not the hash given.",
        )
    problem = document_problem(info.schema._schema, input.document)
    if problem is not None:
        return _error(PersistedDocumentErrorCode.INVALID_DOCUMENT, "document", problem)
    row = await register_document(info.context.db, input.document, trusted=True)
    info.context.audit.record("create", None, [f"PersistedDocument:{digest}"])
    return PersistedDocumentPayload(document=PersistedDocument.from_model(row))
