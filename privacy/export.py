"""Access and portability (GDPR Art. 15, 20): everything held about a subject, as one document.

The tables come from the models' `__subject__` declarations and the columns from the mapped
tables, so a new table or column is exported the day it is declared. The manifest's
categories come from the personal-data map (`info={"pii": ...}`). Hash columns are left
out: a token hash is a credential, the others are keys and integrity checks, not data
about the person.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Column, ColumnElement, false, inspect, or_, select

from core.db import Db
from files.storage import ObjectMissing, Storage
from models import Asset, AssetState, Base, SubjectRequest, SubjectRequestEvent, Tenant
from models.pii import category_of, personal_columns_of
from models.privacy import SubjectLink, subject_models

FORMAT = "microspace.subject-export"
VERSION = 1

# Subject requests find their subject by an id array and the keyed hash, so they declare no
# SubjectLink; erasure keeps them as proof, holding the address only as its hash
# (privacy/erasure.py forget_subject).
REQUEST_TRAIL = {
    "erasure": "anonymise",
    "legalBasis": "GDPR Art. 5(2), 12: proof of how the subject's requests were answered",
}


@dataclass(frozen=True)
class Source:
    """One exported table: its model, its erasure declaration, and the columns it exports."""

    model: type[Any]
    link: SubjectLink | None
    columns: tuple[Column[Any], ...]

    @property
    def table(self) -> str:
        return str(self.model.__tablename__)


def is_secret(column: Column[Any]) -> bool:
    return column.name == "hash" or column.name.endswith("_hash")


def source(model: type[Any], link: SubjectLink | None) -> Source:
    # keys first, then the columns in declaration order (the mixin's keys come last otherwise)
    cols = tuple(
        sorted(
            (c for c in model.__table__.columns if not is_secret(c)),
            key=lambda c: not c.primary_key,
        )
    )
    return Source(model, link, cols)


def sources() -> list[Source]:
    """The contact first, then the tables that reference it, then the subject's requests."""
    linked = sorted(subject_models(Base), key=lambda m: (m[1].column != "id", m[0].__tablename__))
    return [source(m, link) for m, link in linked] + [
        source(SubjectRequest, None),
        source(SubjectRequestEvent, None),
    ]


def jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


async def _rows(
    db: Db, src: Source, tenant_id: uuid.UUID, where: ColumnElement[bool]
) -> list[dict[str, Any]]:
    mapper = inspect(src.model)
    attrs = [getattr(src.model, mapper.get_property_by_column(c).key) for c in src.columns]
    # the tenant condition is explicit although RLS and the ORM listener apply it as well
    stmt = (
        select(*attrs)
        .where(src.model.tenant_id == tenant_id, where)
        .order_by(*(getattr(src.model, k.key) for k in mapper.primary_key))
    )
    result = await db.execute(stmt)
    return [{c.name: jsonable(v) for c, v in zip(src.columns, row, strict=True)} for row in result]


async def build_document(
    db: Db,
    *,
    tenant_id: uuid.UUID,
    subject_email: str,
    contact_ids: Sequence[uuid.UUID],
    request_id: uuid.UUID | None,
    subject_hash: bytes,
) -> dict[str, Any]:
    """Every row held about the subject in the tenant, with a manifest of what and why."""
    if db.tenant_id != tenant_id:
        raise RuntimeError("build_document needs a Db scoped to the same tenant")
    ids = list(contact_ids)
    data: dict[str, list[dict[str, Any]]] = {}
    srcs = sources()
    for src in srcs:
        if src.link is not None:
            column = getattr(src.model, src.link.column)
            if src.link.many:
                where = column.overlap(ids) if ids else false()
            else:
                where = column.in_(ids) if ids else false()
        elif src.model is SubjectRequest:
            where = SubjectRequest.subject_hash == subject_hash
            if ids:
                where = or_(where, SubjectRequest.contact_ids.overlap(ids))
        else:
            request_ids = [uuid.UUID(r["id"]) for r in data[SubjectRequest.__tablename__]]
            where = SubjectRequestEvent.request_id.in_(request_ids) if request_ids else false()
        data[src.table] = await _rows(db, src, tenant_id, where)
        if src.link is not None and src.link.many:
            # an entry about several contacts names only this subject's in their export
            own = {str(i) for i in ids}
            for row in data[src.table]:
                row[src.link.column] = [i for i in row[src.link.column] if i in own]
    tenant_name = await db.scalar(select(Tenant.name).where(Tenant.id == tenant_id))
    return {
        "format": FORMAT,
        "version": VERSION,
        "generatedAt": datetime.now(UTC).isoformat(),
        "tenant": {"id": str(tenant_id), "name": tenant_name},
        "subject": {"email": subject_email},
        "request": {"id": str(request_id) if request_id else None},
        "manifest": manifest(srcs, data),
        "data": data,
    }


def _held(value: Any) -> bool:
    return value not in (None, "", [], {})


def manifest(srcs: list[Source], data: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per category the columns that hold a value for this subject; per table its rows,
    columns, and what an erasure does to them."""
    categories: dict[str, list[str]] = {}
    tables = []
    for src in srcs:
        rows = data[src.table]
        exported = {c.name for c in src.columns}
        for column in personal_columns_of(src.model.__table__):
            if column.name in exported and any(_held(r.get(column.name)) for r in rows):
                categories.setdefault(str(category_of(column)), []).append(
                    f"{src.table}.{column.name}"
                )
        erasure = (
            {"erasure": src.link.action, "legalBasis": src.link.legal_basis}
            if src.link is not None
            else REQUEST_TRAIL
        )
        tables.append(
            {
                "table": src.table,
                "rows": len(rows),
                "columns": [c.name for c in src.columns],
                **erasure,
            }
        )
    return {
        "categories": [
            {"category": key, "name": category_name(key), "columns": cols}
            for key, cols in sorted(categories.items())
        ],
        "tables": tables,
    }


@lru_cache(maxsize=1)
def _category_names() -> dict[str, str]:
    try:
        from fideslang.default_taxonomy import DEFAULT_TAXONOMY
    except ImportError:  # the names are a courtesy; the keys are the contract
        return {}
    return {c.fides_key: c.name or c.fides_key for c in DEFAULT_TAXONOMY.data_category}


def category_name(key: str) -> str:
    return _category_names().get(key, key)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def table_csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


async def stored_files(storage: Storage, doc: dict[str, Any]) -> list[tuple[str, bytes]]:
    """The subject's files (assets linked to them), as (path in the zip, bytes): each under
    `files/<asset id>/<its name>`. A file gone from storage meanwhile is left out."""
    found = []
    for row in doc["data"].get(Asset.__tablename__, []):
        if row.get("state") != AssetState.READY.value:
            continue
        try:
            data = await storage.get(row["storage_key"])
        except ObjectMissing:
            continue
        name = str(row["name"]).replace("/", "_").replace("\\", "_")
        found.append((f"files/{row['id']}/{name}", data))
    return found


def document_zip(doc: dict[str, Any], files: Sequence[tuple[str, bytes]] = ()) -> bytes:
    """Portability: one CSV per table, `manifest.json`, the whole document as JSON, and the
    subject's files under `files/`."""
    columns = {t["table"]: t["columns"] for t in doc["manifest"]["tables"]}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files:
            zf.writestr(path, data)
        for table, rows in doc["data"].items():
            header = columns.get(table) or sorted({k for r in rows for k in r})
            zf.writestr(f"{table}.csv", table_csv(header, rows))
        zf.writestr("manifest.json", json.dumps(doc["manifest"], ensure_ascii=False, indent=2))
        zf.writestr("export.json", json.dumps(doc, ensure_ascii=False, indent=2))
    return buf.getvalue()
