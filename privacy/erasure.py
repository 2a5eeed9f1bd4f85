"""Erasure: apply each table's declared action to a subject's rows, step by step.

Every step runs in a transaction of its own and is recorded in the request's `progress`, so
a run that dies midway leaves a state the next run completes; every step is idempotent
(deleting what is already gone deletes nothing), so a second erasure is a no-op.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import Db
from models import Base, SubjectRequest, SubjectRequestEvent, Suppression
from models.pii import personal_columns_of
from models.privacy import SubjectLink, subject_models
from privacy.journal import record_contacts

FINAL_STEP = "complete"
# a test hook: called after each step, so a crash can be injected midway
after_step: Callable[[str], Awaitable[None] | None] | None = None


class ErasureRefused(Exception):
    """The request is not an erasure in a state that may be processed."""


def steps() -> list[tuple[str, type[Any], SubjectLink]]:
    """The erasure plan, derived from the models' declarations (kept tables excluded)."""
    return [
        (f"{model.__tablename__}:{link.action}", model, link)
        for model, link in subject_models(Base)
        if link.action != "keep"
    ]


@asynccontextmanager
async def unit(
    sessionmaker: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID
) -> AsyncIterator[Db]:
    """One committed transaction scoped to the tenant."""
    db = Db(sessionmaker)
    try:
        await db.set_tenant(tenant_id)
        yield db
        await db.commit()
    except BaseException:
        await db.rollback()
        raise
    finally:
        await db.close()


async def apply_step(
    db: Db, model: type[Any], link: SubjectLink, contact_ids: Sequence[uuid.UUID]
) -> None:
    """Apply one table's declared action to the subject's rows."""
    if not contact_ids:
        return
    column = getattr(model, link.column)
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
        values = {
            c.key: None
            for c in personal_columns_of(model.__table__)
            if c.nullable and c.key != link.column
        }
        if values:
            await db.execute(
                update(model)
                .where(column.in_(contact_ids))
                .values(values)
                .execution_options(synchronize_session=False)
            )


async def _locked_request(db: Db, request_id: uuid.UUID) -> SubjectRequest:
    stmt = (
        select(SubjectRequest)
        .where(SubjectRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    request = await db.scalar(stmt)
    if request is None or request.kind != "erasure":
        raise ErasureRefused("not an erasure request")
    return request


async def _start(db: Db, request: SubjectRequest, actor: tuple[str, uuid.UUID | None]) -> None:
    if request.state == "verified":
        db.add(
            SubjectRequestEvent(
                id=uuid.uuid4(),
                request_id=request.id,
                from_state="verified",
                to_state="processing",
                actor_kind=actor[0],
                actor_id=actor[1],
            )
        )
        request.state = "processing"
        await db.flush()
    elif request.state != "processing":
        raise ErasureRefused(f"a {request.state} request cannot be processed")


async def run_erasure(
    sessionmaker: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID,
    request_id: uuid.UUID,
    *,
    secret_hash_hex: str,
    actor: tuple[str, uuid.UUID | None],
) -> None:
    """Erase the request's subject, resuming after the last step a previous run finished."""
    async with unit(sessionmaker, tenant_id) as db:
        request = await _locked_request(db, request_id)
        if request.state == "completed":
            return
        await _start(db, request, actor)
    for name, model, link in steps():
        async with unit(sessionmaker, tenant_id) as db:
            request = await _locked_request(db, request_id)
            if name in request.progress:
                continue
            await apply_step(db, model, link, request.contact_ids)
            request.progress = [*request.progress, name]
            await db.flush()
        if after_step is not None:
            result = after_step(name)
            if result is not None:
                await result
    async with unit(sessionmaker, tenant_id) as db:
        request = await _locked_request(db, request_id)
        if request.state != "completed":
            await _finish(db, request, secret_hash_hex, actor)


async def _finish(
    db: Db, request: SubjectRequest, hash_hex: str, actor: tuple[str, uuid.UUID | None]
) -> None:
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
    await forget_subject(db, request.subject_hash, hash_hex)
    # what a restore from an older backup needs to erase the subject again (ids and HMAC)
    await record_contacts(db, request.contact_ids, request.subject_hash)
    db.add(
        SubjectRequestEvent(
            id=uuid.uuid4(),
            request_id=request.id,
            from_state="processing",
            to_state="completed",
            actor_kind=actor[0],
            actor_id=actor[1],
        )
    )
    request.state = "completed"
    request.completed_at = datetime.now(UTC)
    request.progress = [*request.progress, FINAL_STEP]
    await db.flush()


async def forget_subject(db: Db, subject_hash: bytes, hash_hex: str) -> None:
    """Every request of this subject keeps the subject only as the keyed hash, and no notes."""
    requests = select(SubjectRequest.id).where(SubjectRequest.subject_hash == subject_hash)
    await db.execute(
        update(SubjectRequest)
        .where(SubjectRequest.subject_hash == subject_hash)
        .values(subject_email=f"hmac:{hash_hex}", changes=None)
        .execution_options(synchronize_session=False)
    )
    await db.execute(
        update(SubjectRequestEvent)
        .where(SubjectRequestEvent.request_id.in_(requests))
        .values(note=None)
        .execution_options(synchronize_session=False)
    )
