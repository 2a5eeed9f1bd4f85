"""The per-request audit buffer: personal-data reads and changes, written at commit time.

Entries are appended in the request's own transaction, just before it commits, so a read
that is answered is a read that is recorded (and a rolled-back request records nothing).
"""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import insert, text

from microspace.auth import Principal
from microspace.db import Db
from models.audit import AuditEntry


class AuditBuffer:
    def __init__(self, principal: Principal, request_id: str) -> None:
        self._principal = principal
        self._request_id = request_id
        # (operation, subject) -> fields, in first-seen order
        self._entries: dict[tuple[str, uuid.UUID | None], dict[str, None]] = defaultdict(dict)

    def read(self, subject_id: uuid.UUID | None, field: str) -> None:
        self._entries[("read", subject_id)][field] = None

    def record(self, operation: str, subject_id: uuid.UUID | None, fields: list[str]) -> None:
        entry = self._entries[(operation, subject_id)]
        for field in fields:
            entry[field] = None

    def __len__(self) -> int:
        return len(self._entries)

    def rows(self) -> list[dict[str, object]]:
        p = self._principal
        return [
            {
                "tenant_id": p.tenant_id,
                "id": uuid.uuid4(),
                "principal_kind": p.kind,
                "principal_id": p.member_id or p.token_id,
                "request_id": self._request_id,
                "operation": operation,
                "subject_contact_id": subject,
                "fields": list(fields),
            }
            for (operation, subject), fields in self._entries.items()
        ]

    async def flush(self, db: Db) -> None:
        """Append the buffered entries (one statement) in the request's transaction."""
        rows = self.rows()
        if rows and self._principal.tenant_id is not None:
            await db.execute(insert(AuditEntry.__table__), rows)
        self._entries.clear()


async def verify_chain(db: Db) -> int | None:
    """The first broken sequence number of the current tenant's chain, or None if intact."""
    return await db.scalar(text("SELECT audit_verify()"))
