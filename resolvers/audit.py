"""Audit log queries: a filtered connection and chain verification."""

from __future__ import annotations

from datetime import datetime

import strawberry

from core.audit import verify_chain
from core.ids import decode_id
from models.audit import AuditEntry as AuditEntryModel
from schema.audit import AuditChainStatus, AuditEntry, AuditOperation
from schema.connection import Connection, list_connection
from schema.context import Info
from store.pagination import Order, parse_int

AUDIT_ORDER = Order(columns=(AuditEntryModel.seq,), parsers=(parse_int,), descending=True)


async def list_audit_entries(
    info: Info,
    first: int | None = None,
    after: str | None = None,
    subject_id: strawberry.ID | None = None,
    operation: AuditOperation | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Connection[AuditEntry]:
    """The tenant's audit entries, newest first, filtered by subject, operation and time."""
    where = []
    if subject_id is not None:
        where.append(
            AuditEntryModel.subject_contact_ids.contains([decode_id(subject_id, "Contact")])
        )
    if operation is not None:
        where.append(AuditEntryModel.operation == operation.value)
    if since is not None:
        where.append(AuditEntryModel.occurred_at >= since)
    if until is not None:
        where.append(AuditEntryModel.occurred_at < until)
    return await list_connection(
        info, AuditEntryModel, where, first, after, order=AUDIT_ORDER, convert=AuditEntry.from_model
    )


async def get_audit_chain_status(info: Info) -> AuditChainStatus:
    """Recompute the tenant's hash chain in the database."""
    broken = await verify_chain(info.context.db)
    return AuditChainStatus(intact=broken is None, first_broken_seq=broken)
