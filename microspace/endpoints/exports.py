"""`GET /exports/{token}?format=json|zip`: the download of a completed access or portability
request.

Two keys open it: the signed link (which request, until when) and a bearer token of a member
of the same tenant with the right `SubjectRequest` `export`. A link shown to another tenant
answers exactly like a link that never existed. Every download is audited, per contact, in
the transaction that reads the data. The request is opened like every other
(microspace/web/pipeline.py): authentication, tenant scope, policies, audit, unit of work.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from core.http import Refusal
from microspace.web.pipeline import Pipeline
from models.subject_request import RequestKind, RequestState, SubjectRequest, Suppression
from privacy.export import build_document, document_zip, stored_files
from privacy.links import LinkExpired, LinkInvalid, verify_link
from schema.context import Context

EXPORTABLE = (RequestKind.ACCESS.value, RequestKind.PORTABILITY.value)
# exports are personal data: no shared or browser cache may keep a copy
NO_STORE = {"Cache-Control": "no-store"}
FORMATS = {"json": "application/json", "zip": "application/zip"}


def invalid_link() -> Refusal:
    return Refusal(404, "EXPORT_LINK_INVALID", "This export link is not valid.")


def export_endpoint(pipeline: Pipeline) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        async def step(context: Context) -> Response:
            return await _export(request, context)

        response = await pipeline.serve(request, step)
        response.headers.update(NO_STORE)
        return response

    return endpoint


async def _export(request: Request, context: Context) -> Response:
    fmt = request.query_params.get("format", "json")
    if fmt not in FORMATS:
        raise Refusal(400, "BAD_REQUEST", "`format` must be `json` or `zip`.")
    principal = context.principal
    if not principal.authenticated:
        raise Refusal(
            401, "UNAUTHENTICATED", "Send a member's bearer token.", {"WWW-Authenticate": "Bearer"}
        )
    try:
        tenant_id, request_id = verify_link(
            context.settings.secret(),
            request.path_params["token"],
            now=datetime.now(UTC),
            max_ttl=context.settings.export_link_ttl,
        )
    except LinkExpired as exc:
        # another tenant learns nothing, not even that the link was genuine
        if exc.tenant_id != principal.tenant_id:
            raise invalid_link() from None
        raise Refusal(
            410, "EXPORT_LINK_EXPIRED", "This export link has expired; ask for a new one."
        ) from None
    except LinkInvalid:
        raise invalid_link() from None
    if tenant_id != principal.tenant_id:
        raise invalid_link()
    if not context.authz.can("SubjectRequest", "export"):
        raise Refusal(403, "FORBIDDEN", "You may not download subject exports.")
    db = context.db
    row = await db.scalar(
        select(SubjectRequest).where(
            SubjectRequest.tenant_id == tenant_id, SubjectRequest.id == request_id
        )
    )
    if row is None or row.kind not in EXPORTABLE:
        raise invalid_link()
    erased = await db.scalar(
        select(Suppression.id).where(Suppression.email_hash == row.subject_hash).limit(1)
    )
    if erased is not None:
        # the subject was erased since: their outstanding links are revoked with their data
        raise Refusal(
            410, "EXPORT_LINK_REVOKED", "This export link was revoked: its subject was erased."
        )
    if row.state != RequestState.COMPLETED.value:
        raise Refusal(
            409,
            "EXPORT_NOT_READY",
            f"The request is {row.state}; its export is ready once it is completed.",
        )
    doc = await build_document(
        db,
        tenant_id=tenant_id,
        subject_email=row.subject_email,
        contact_ids=list(row.contact_ids),
        request_id=row.id,
        subject_hash=row.subject_hash,
    )
    tables = [table for table, rows in doc["data"].items() if rows]
    for contact_id in row.contact_ids:
        # flushed when the request's unit of work commits: with the read, or not at all
        context.audit.record("export", contact_id, tables)
    name = f"subject-export-{row.id}.{fmt}"
    files = await stored_files(context.storage, doc) if fmt == "zip" and context.storage else []
    body = (
        document_zip(doc, files)
        if fmt == "zip"
        else json.dumps(doc, ensure_ascii=False, indent=2).encode()
    )
    return Response(
        body,
        media_type=FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
