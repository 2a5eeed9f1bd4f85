"""Erasure: apply each table's declared action to a subject's rows, step by step.

Every step runs in a transaction of its own and is recorded in the request's `progress`, so
a run that dies midway leaves a state the next run completes; every step is idempotent
(deleting what is already gone deletes nothing), so a second erasure is a no-op.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import ColumnElement

from core.db import Db, unit_of_work
from files.assets import erase_stored
from files.storage import Storage
from models import Base, RequestKind, RequestState, SubjectRequest, SubjectRequestEvent, Suppression
from models.pii import erased_values, personal_columns_of
from models.privacy import SubjectLink, subject_models
from privacy.journal import record_contacts
from privacy.requests import Actor, transition
from store.events import emit

FINAL_STEP = "complete"
# called with each step's name once that step has committed (tests inject a crash with it)
StepHook = Callable[[str], Awaitable[None] | None]


class ErasureRefused(Exception):
    """The request is not an erasure request."""


class ErasureInsideWrites(RuntimeError):
    """run_erasure was called from a transaction that has already written or locked rows."""


def steps() -> list[tuple[str, type[Any], SubjectLink]]:
    """The erasure plan, derived from the models' declarations (kept tables excluded)."""
    return [
        (f"{model.__tablename__}:{link.action}", model, link)
        for model, link in subject_models(Base)
        if link.action != "keep"
    ]


def unlinked_personal_models() -> list[type[Any]]:
    """Models that hold personal data but reference no contact (members, the request trail):
    a subject's steps never reach them; retention erases them for the whole tenant."""
    linked = {model for model, _ in subject_models(Base)}
    found = [
        mapper.class_
        for mapper in Base.registry.mappers
        if mapper.class_ not in linked and personal_columns_of(mapper.class_.__table__)
    ]
    return sorted(found, key=lambda model: model.__tablename__)


async def erase_columns(
    db: Db, model: type[Any], *where: ColumnElement[bool], keep: Collection[str] = ()
) -> None:
    """Erase the personal columns (but `keep`) of the model's rows that match `where`, as
    the personal-data map declares: NULL, or the column's declared replacement."""
    values = erased_values(model.__table__, keep=keep)
    if values:
        await db.execute(
            update(model).where(*where).values(values).execution_options(synchronize_session=False)
        )


@asynccontextmanager
async def unit(
    sessionmaker: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID
) -> AsyncIterator[Db]:
    """One committed transaction scoped to the tenant."""
    async with unit_of_work(Db(sessionmaker)) as db:
        await db.set_tenant(tenant_id)
        yield db


async def apply_step(
    db: Db,
    model: type[Any],
    link: SubjectLink,
    contact_ids: Sequence[uuid.UUID],
    storage: Storage | None = None,
) -> None:
    """Apply one table's declared action to the subject's rows; rows with bytes in storage
    (assets) lose their bytes first, original and every variant."""
    if not contact_ids:
        return
    column = getattr(model, link.column)
    if getattr(model, "__stored__", False):
        await erase_stored(db, storage, column.in_(contact_ids))
    if link.ledger:
        # append-only for the application: removable only through this guarded function
        for contact_id in contact_ids:
            await db.execute(text("SELECT app_erase_ledger(:c)"), {"c": contact_id})
    elif link.action == "delete":
        await db.execute(
            delete(model)
            .where(column.in_(contact_ids))
            .execution_options(synchronize_session=False)
        )
    elif link.action == "anonymise":
        await erase_columns(db, model, column.in_(contact_ids), keep=(link.column,))


async def _locked_request(db: Db, request_id: uuid.UUID) -> SubjectRequest:
    stmt = (
        select(SubjectRequest)
        .where(SubjectRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    request: SubjectRequest | None = await db.scalar(stmt)
    if request is None or request.kind != RequestKind.ERASURE:
        raise ErasureRefused("not an erasure request")
    return request


async def _start(db: Db, request: SubjectRequest, actor: Actor) -> None:
    if request.state == RequestState.PROCESSING:
        return  # a previous run started it: resume
    # IllegalTransition from any state but verified
    transition(db, request, RequestState.PROCESSING, actor=actor)
    await db.flush()


async def _ensure_no_writes(caller: Db) -> None:
    # PostgreSQL assigns a transaction id at its first write or row lock (pending ORM changes
    # are flushed by this query first, so they count)
    if await caller.scalar(text("SELECT pg_current_xact_id_if_assigned() IS NOT NULL")):
        raise ErasureInsideWrites(
            "run_erasure commits each step in a transaction of its own: call it before the "
            "calling transaction writes or locks anything, since the steps would not see "
            "those writes and would wait on those locks"
        )


async def run_erasure(
    caller: Db,
    request_id: uuid.UUID,
    *,
    actor: Actor,
    after_step: StepHook | None = None,
    storage: Storage | None = None,
) -> None:
    """Erase the request's subject, resuming after the last step a previous run finished.

    Contract: the erasure runs in transactions of its own, one per step, opened from the
    caller's sessionmaker in the caller's tenant, and each commits before the next starts,
    so a run that dies midway keeps the steps it finished. The caller's own transaction
    stays open alongside and must hold no writes (checked: ErasureInsideWrites); it sees
    the erasure's result only after re-reading the request (`populate_existing`).
    `after_step(name)` is called once each step has committed.
    Raises ErasureRefused (not an erasure) or IllegalTransition (not verified/processing).
    """
    await _ensure_no_writes(caller)
    sessionmaker, tenant_id = caller.sessionmaker, caller.tenant_id
    if tenant_id is None:
        raise ErasureRefused("the calling transaction has no tenant")
    async with unit(sessionmaker, tenant_id) as db:
        request = await _locked_request(db, request_id)
        if request.state == RequestState.COMPLETED:
            return
        await _start(db, request, actor)
    for name, model, link in steps():
        async with unit(sessionmaker, tenant_id) as db:
            request = await _locked_request(db, request_id)
            if name in request.progress:
                continue
            await apply_step(db, model, link, request.contact_ids, storage)
            request.progress = [*request.progress, name]
            await db.flush()
        if after_step is not None:
            result = after_step(name)
            if result is not None:
                await result
    async with unit(sessionmaker, tenant_id) as db:
        request = await _locked_request(db, request_id)
        if request.state != RequestState.COMPLETED:
            await _finish(db, request, actor)


async def _finish(db: Db, request: SubjectRequest, actor: Actor) -> None:
    """Suppress the address, keep the subject only as its keyed hash, close the request."""
    await db.execute(
        insert(Suppression)
        .values(
            tenant_id=db.tenant_id,
            id=uuid.uuid4(),
            email_hash=request.subject_hash,
            request_id=request.id,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "email_hash"])
    )
    await forget_subject(db, request.subject_hash)
    # what a restore from an older backup needs to erase the subject again (ids and HMAC)
    await record_contacts(db, request.contact_ids, request.subject_hash)
    transition(db, request, RequestState.COMPLETED, actor=actor)
    request.completed_at = datetime.now(UTC)
    request.progress = [*request.progress, FINAL_STEP]
    await db.flush()
    # in the completing transaction: downstream copies are deleted only once this is final
    await emit(db, "contact.erased", request.contact_ids, actor=actor[0])
    await emit(db, "subject_request.completed", request.id, ["state"], actor=actor[0])


async def forget_subject(db: Db, subject_hash: bytes) -> None:
    """Every request of this subject keeps the subject only as the keyed hash, and no notes
    (the erased forms the models declare)."""
    requests = select(SubjectRequest.id).where(SubjectRequest.subject_hash == subject_hash)
    await erase_columns(db, SubjectRequest, SubjectRequest.subject_hash == subject_hash)
    await erase_columns(db, SubjectRequestEvent, SubjectRequestEvent.request_id.in_(requests))
