"""Data-subject requests: file, verify, process, reject, extend; get and list.

State machine: received -> verifying -> verified -> processing -> completed | rejected,
checked by privacy/requests.py `transition` against the table declared with the states;
every step writes a trail row (who, from, to, when, note) in the same transaction. A step
the table refuses becomes the INVALID_STATE user error (`_state_error`).

Over 300 lines on purpose: every verb of one domain's lifecycle, as the style guide asks;
the state machine itself is privacy/requests.py.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import strawberry
from sqlalchemy import any_, func, select, update
from strawberry.utils.str_converters import to_camel_case

from core.db import StatementTimeout
from core.errors import Forbidden, NotFound
from models import Contact as ContactModel
from models import EmailKind, RequestKind, RequestState
from models import SubjectRequest as SubjectRequestModel
from models.base import EMAIL_MAX
from models.subject_request import OPEN_STATES
from privacy import erasure
from privacy.requests import Actor, IllegalTransition, check, transition
from privacy.subjects import add_months, matching_contacts, normalise_email, subject_hash
from resolvers.contacts import EMAIL_RE, clean_fields, load_contact
from schema.connection import Connection, list_connection
from schema.context import Info
from schema.subject_requests import (
    ExportLink,
    SubjectCorrectionRequestInput,
    SubjectLinkPayload,
    SubjectRequest,
    SubjectRequestErrorCode,
    SubjectRequestInput,
    SubjectRequestPayload,
    SubjectRequestReasonInput,
    SubjectRequestUserError,
    SubjectRequestVerifyInput,
)
from store.contacts import forget_contact
from store.loaders import load_by_global_id
from store.outbox import enqueue
from store.pagination import Order, parse_datetime
from store.tokens import mint_token

log = logging.getLogger("microspace.privacy")
ORDER = Order(
    columns=(SubjectRequestModel.received_at, SubjectRequestModel.id),
    parsers=(parse_datetime, uuid.UUID),
    descending=True,
)
MAX_NOTE = 2000
Code = SubjectRequestErrorCode
State = RequestState


def _error(code: SubjectRequestErrorCode, field: str, message: str) -> SubjectRequestPayload:
    return SubjectRequestPayload(
        user_errors=[SubjectRequestUserError(code=code, field=[field], message=message)]
    )


def _state_error(state: RequestState | None, doing: str) -> SubjectRequestPayload:
    """The user error for a step the transitions table refuses (`doing`: "verified", ...)."""
    name = state.value if state else "new"
    return _error(Code.INVALID_STATE, "id", f"A {name} request cannot be {doing}.")


def _actor(info: Info) -> Actor:
    p = info.context.principal
    return p.kind, p.member_id or p.token_id


def _transition(
    info: Info, row: SubjectRequestModel, to: RequestState, note: str | None = None
) -> None:
    transition(info.context.db, row, to, actor=_actor(info), note=note)


async def load_request(info: Info, global_id: str) -> SubjectRequestModel:
    """A request of the tenant; a subject sees only their own. NOT_FOUND otherwise."""
    loader = info.context.loaders.subject_request_by_id
    row: SubjectRequestModel = await load_by_global_id(loader, global_id, "SubjectRequest")
    if not SubjectRequest.visible_to(info.context.principal, row):
        raise NotFound()
    return row


async def get_subject_request(info: Info, id: strawberry.ID) -> SubjectRequest:
    """One subject request."""
    return SubjectRequest.from_model(await load_request(info, id))


async def list_subject_requests(
    info: Info,
    first: int | None = None,
    after: str | None = None,
    state: RequestState | None = None,
    kind: RequestKind | None = None,
    overdue: bool | None = None,
) -> Connection[SubjectRequest]:
    """The tenant's subject requests, newest first (a subject: their own)."""
    ctx = info.context
    where: list[Any] = []
    if state is not None:
        where.append(SubjectRequestModel.state == state.value)
    if kind is not None:
        where.append(SubjectRequestModel.kind == kind.value)
    if overdue is not None:
        late = (SubjectRequestModel.due_at < func.now()) & SubjectRequestModel.state.in_(
            OPEN_STATES
        )
        where.append(late if overdue else ~late)
    if ctx.principal.kind == "subject":
        where.append(any_(SubjectRequestModel.contact_ids) == ctx.principal.contact_id)
    return await list_connection(
        info,
        SubjectRequestModel,
        where,
        first,
        after,
        order=ORDER,
        convert=SubjectRequest.from_model,
    )


async def _subject_email(info: Info, given: str | None) -> str | SubjectRequestPayload:
    principal = info.context.principal
    if principal.kind == "subject":
        contact = await info.context.loaders.contact_by_id.load(principal.contact_id)
        if contact is None:
            raise Forbidden()
        if given is not None and normalise_email(given) != contact.email:
            return _error(
                Code.SUBJECT_MISMATCH, "email", "A subject may file requests about themself only."
            )
        return str(contact.email)
    if given is None or not given.strip():
        return _error(Code.REQUIRED, "email", "email is required.")
    email = normalise_email(given)
    if len(email) > EMAIL_MAX or not EMAIL_RE.match(email):
        return _error(Code.INVALID_EMAIL, "email", "email is not a valid e-mail address.")
    return email


async def _file(
    info: Info, kind: RequestKind, given: str | None, changes: dict[str, Any] | None = None
) -> SubjectRequestPayload:
    email = await _subject_email(info, given)
    if isinstance(email, SubjectRequestPayload):
        return email
    ctx = info.context
    now = datetime.now(UTC)
    contact_ids = await matching_contacts(ctx.db, email)
    kind_, actor_id = _actor(info)
    row = SubjectRequestModel(
        id=uuid.uuid4(),
        kind=kind.value,
        subject_email=email,
        subject_hash=subject_hash(ctx.settings.secret(), email),
        contact_ids=contact_ids,
        received_at=now,
        due_at=add_months(now, 1),
        changes=changes,
        created_by_kind=kind_,
        created_by=actor_id,
        progress=[],
    )
    ctx.db.add(row)
    _transition(info, row, State.RECEIVED)
    if contact_ids:
        # the subject proves it is them with a one-time code sent to the address we hold
        code = secrets.token_urlsafe(12)
        row.verification_hash = hashlib.sha256(code.encode()).digest()
        await enqueue(
            ctx.db,
            EmailKind.SUBJECT_VERIFICATION,
            contact_ids[:1],
            payload={"code": code, "request_kind": kind.value},
        )
    _transition(info, row, State.VERIFYING)
    await ctx.db.flush()
    await ctx.emit("subject_request.created", row.id)
    return SubjectRequestPayload(request=SubjectRequest.from_model(row))


async def file_access_request(info: Info, input: SubjectRequestInput) -> SubjectRequestPayload:
    """Art. 15: a copy of everything held about the subject."""
    return await _file(info, RequestKind.ACCESS, input.email)


async def file_portability_request(info: Info, input: SubjectRequestInput) -> SubjectRequestPayload:
    """Art. 20: the subject's data in a machine-readable format (JSON, CSV in a zip)."""
    return await _file(info, RequestKind.PORTABILITY, input.email)


async def file_erasure_request(info: Info, input: SubjectRequestInput) -> SubjectRequestPayload:
    """Art. 17: erase the subject's personal data."""
    return await _file(info, RequestKind.ERASURE, input.email)


async def file_correction_request(
    info: Info, input: SubjectCorrectionRequestInput
) -> SubjectRequestPayload:
    """Art. 16: correct the subject's contact fields."""
    changes: dict[str, str | None] = {
        k: str(v) for k, v in strawberry.asdict(input.changes).items() if v is not None
    }
    if not changes:
        return _error(Code.INVALID_CHANGES, "changes", "Name at least one field to correct.")
    values, errors = clean_fields(changes)
    if errors:
        first = errors[0]
        return _error(
            Code.INVALID_CHANGES,
            f"changes.{to_camel_case((first.field or [''])[0])}",
            first.message,
        )
    return await _file(info, RequestKind.CORRECTION, input.email, values)


async def verify_request(info: Info, input: SubjectRequestVerifyInput) -> SubjectRequestPayload:
    """Confirm the subject's identity: the e-mailed code, or a member's attestation."""
    row = await load_request(info, input.id)
    try:
        check(row, State.VERIFIED)
    except IllegalTransition as exc:
        return _state_error(exc.from_state, "verified")
    if input.token:
        expected = row.verification_hash or b""
        given = hashlib.sha256(input.token.encode()).digest()
        if not expected or not hmac.compare_digest(expected, given):
            return _error(Code.INVALID_TOKEN, "token", "The code is not valid for this request.")
        method, note = "token", None
    elif input.attestation is not None:
        if info.context.principal.kind == "subject":
            raise Forbidden("A subject verifies with the code e-mailed to them.")
        if info.context.principal.kind != "member":
            # a key attesting would let it stand in for any subject it names
            raise Forbidden("Only a member may attest to a subject's identity.")
        note = input.attestation.strip()
        if not note or len(note) > MAX_NOTE:
            return _error(
                Code.REQUIRED,
                "attestation",
                f"Say how the identity was checked (1 to {MAX_NOTE} characters).",
            )
        method = "attestation"
    else:
        return _error(Code.REQUIRED, "token", "Give the e-mailed code or an attestation.")
    row.verified_by, row.verification_hash = method, None
    _transition(info, row, State.VERIFIED, note)
    await info.context.db.flush()
    await info.context.emit("subject_request.updated", row.id, ["state"])
    return SubjectRequestPayload(request=SubjectRequest.from_model(row))


def export_link(info: Info, request_id: uuid.UUID) -> ExportLink:
    from privacy.links import sign_link

    settings = info.context.settings
    assert info.context.principal.tenant_id is not None  # members of a tenant only
    expires = datetime.now(UTC) + timedelta(seconds=settings.export_link_ttl)
    token = sign_link(
        settings.secret(),
        tenant_id=info.context.principal.tenant_id,
        request_id=request_id,
        expires_at=expires,
    )
    return ExportLink(
        url=f"/exports/{token}",
        json_url=f"/exports/{token}?format=json",
        zip_url=f"/exports/{token}?format=zip",
        expires_at=expires,
    )


async def _correct(info: Info, row: SubjectRequestModel) -> None:
    """Apply the changes to every matched contact; the trail and audit keep field names only."""
    ctx = info.context
    values = row.changes or {}
    fields = [to_camel_case(f) for f in values]
    if values and row.contact_ids:
        await ctx.db.execute(
            update(ContactModel)
            .where(ContactModel.id.in_(row.contact_ids))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    for contact_id in row.contact_ids:
        ctx.audit.record("update", contact_id, fields)
        forget_contact(ctx.loaders, contact_id)
    await ctx.emit("contact.updated", row.contact_ids, fields)
    row.changes = None  # applied: no second copy of the new values


def _processing_hint(state: RequestState) -> str:
    # a finished request says it is finished, not "verify it first"
    if state == State.COMPLETED:
        return "processed; it is already completed"
    if state == State.REJECTED:
        return "processed; it was rejected"
    return "processed; verify it first"


async def process_request(info: Info, id: strawberry.ID) -> SubjectRequestPayload:
    """Carry out a verified request; an interrupted erasure resumes where it stopped."""
    row = await load_request(info, id)
    ctx = info.context
    doing = _processing_hint(State(row.state))
    if row.kind == RequestKind.ERASURE and row.state in (State.VERIFIED, State.PROCESSING):
        try:
            await erasure.run_erasure(
                ctx.db,
                row.id,
                actor=_actor(info),
                after_step=ctx.erasure_after_step,
                storage=ctx.storage,
            )
        except IllegalTransition as exc:  # rejected meanwhile by another request
            return _state_error(exc.from_state, doing)
        except StatementTimeout:
            # each step commits on its own: the finished ones stay done, and the worker
            # completes the rest (microspace/jobs/housekeeping.py). The request read below
            # says so (PROCESSING), where an error would claim that nothing changed.
            log.warning(
                "erasure %s cut off by the statement timeout; the worker resumes it", row.id
            )
        fresh = await ctx.db.scalar(
            select(SubjectRequestModel)
            .where(SubjectRequestModel.id == row.id)
            .execution_options(populate_existing=True)
        )
        return SubjectRequestPayload(request=SubjectRequest.from_model(fresh))
    # processing starts from verified only (an erasure left in processing resumes above)
    if row.state != State.VERIFIED:
        return _state_error(State(row.state), _processing_hint(State(row.state)))
    _transition(info, row, State.PROCESSING)
    link = None
    if row.kind == RequestKind.CORRECTION:
        await _correct(info, row)
    else:
        link = export_link(info, row.id)
    _transition(info, row, State.COMPLETED)
    row.completed_at = datetime.now(UTC)
    await ctx.db.flush()
    await ctx.emit("subject_request.completed", row.id, ["state"])
    return SubjectRequestPayload(request=SubjectRequest.from_model(row), export_link=link)


def _reason(input: SubjectRequestReasonInput) -> str | SubjectRequestPayload:
    reason = input.reason.strip()
    if not reason or len(reason) > MAX_NOTE:
        return _error(Code.REQUIRED, "reason", f"Give a reason (1 to {MAX_NOTE} characters).")
    return reason


async def reject_request(info: Info, input: SubjectRequestReasonInput) -> SubjectRequestPayload:
    """Refuse a request that has not been processed, with a reason."""
    row = await load_request(info, input.id)
    reason = _reason(input)
    if isinstance(reason, SubjectRequestPayload):
        return reason
    try:
        check(row, State.REJECTED)
    except IllegalTransition as exc:
        return _state_error(exc.from_state, "rejected")
    row.rejection_reason = reason
    _transition(info, row, State.REJECTED, reason)
    await info.context.db.flush()
    await info.context.emit("subject_request.rejected", row.id, ["state"])
    return SubjectRequestPayload(request=SubjectRequest.from_model(row))


async def extend_request(info: Info, input: SubjectRequestReasonInput) -> SubjectRequestPayload:
    """Art. 12(3): extend the due date once, by two months, with a reason."""
    row = await load_request(info, input.id)
    reason = _reason(input)
    if isinstance(reason, SubjectRequestPayload):
        return reason
    try:
        check(row, State(row.state))  # staying put, with a note: open states only
    except IllegalTransition as exc:
        return _state_error(exc.from_state, "extended")
    if row.extended_at is not None:
        return _error(Code.ALREADY_EXTENDED, "id", "The due date can be extended once only.")
    row.extended_at, row.extension_reason = datetime.now(UTC), reason
    row.due_at = add_months(row.due_at, 2)
    _transition(info, row, State(row.state), reason)
    await info.context.db.flush()
    await info.context.emit("subject_request.updated", row.id, ["dueAt"])
    return SubjectRequestPayload(request=SubjectRequest.from_model(row))


async def create_subject_link(info: Info, contact_id: strawberry.ID) -> SubjectLinkPayload:
    """E-mail the contact a magic-link token to file and verify requests about themself.

    The token goes to the contact's own address only: a caller who got it could act as the
    subject (file, verify, download their export).
    """
    contact = await load_contact(info, contact_id)
    _, token = await mint_token(
        info.context.db, "subject", name="magic link", contact_id=contact.id
    )
    await enqueue(info.context.db, EmailKind.SUBJECT_LINK, [contact.id], payload={"token": token})
    await info.context.db.flush()
    await info.context.emit("subject_link.created", contact.id)
    return SubjectLinkPayload(sent=True)
