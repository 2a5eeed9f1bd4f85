"""What the worker keeps in order besides the outbox: erasures a crash interrupted, and the
file mail sink, which must not keep copies of rows an erasure or retention removed."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.mail import FileSender, Sender
from files.storage import Storage
from privacy import erasure
from privacy.requests import IllegalTransition

log = logging.getLogger("microspace.jobs.worker")


async def resume_erasures(
    sessionmaker: async_sessionmaker[AsyncSession],
    errors: list[str] | None = None,
    storage: Storage | None = None,
) -> int:
    """Complete every erasure a crash left `processing`, through the same entry as the API.

    Safe beside a live run: each step locks the request and skips steps already recorded.
    """
    async with sessionmaker() as session:
        keys = (await session.execute(text("SELECT * FROM app_erasures_interrupted(100)"))).all()
    resumed = 0
    for tenant_id, request_id in keys:
        try:
            # the caller's transaction only scopes the tenant: it writes nothing
            async with erasure.unit(sessionmaker, tenant_id) as caller:
                await erasure.run_erasure(
                    caller, request_id, actor=("system", None), storage=storage
                )
            resumed += 1
        except (erasure.ErasureRefused, IllegalTransition):
            continue  # finished or changed meanwhile
        except Exception:
            log.exception("erasure %s of tenant %s failed to resume", request_id, tenant_id)
            if errors is not None:
                errors.append(f"erasure {request_id}")
    return resumed


async def prune_mail_sink(sender: Sender, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """The file sink keeps no e-mail whose outbox row was erased (erasure, retention)."""
    if not isinstance(sender, FileSender):
        return
    held = {}
    for key in sender.held_keys():
        try:
            held[uuid.UUID(key)] = key
        except ValueError:
            continue
    if not held:
        return
    async with sessionmaker() as session:
        known = set(
            await session.scalars(
                text("SELECT id FROM app_outbox_known(:ids)"), {"ids": list(held)}
            )
        )
    sender.forget([key for oid, key in held.items() if oid not in known])
