"""Published revisions: publish, unpublish, restore, archive and unarchive, a space's
state, and the diff.

One publish function for every caller (the mutation, schedules, template republish): each
writes its audit entry and its domain event in the caller's transaction. The caller's
transaction must be authenticated (`audit_append` takes the principal from it) or run as the
owner (the worker).
"""

from __future__ import annotations

import enum
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from strawberry.dataloader import DataLoader

from core.audit import append_entries
from core.db import Db
from core.ids import encode_id
from models import Block, BlockRevision, Space, SpaceRevision
from models.revision import BLOCK_CONTENT, SPACE_CONTENT
from models.space import SpaceStatus
from store.events import emit
from store.loaders import register, register_by_id
from store.pagination import ChildPageKey, Order, Page, child_pages, count_by_parent, parse_int

REVISION_ORDER = Order(
    columns=(SpaceRevision.number, SpaceRevision.id),
    parsers=(parse_int, uuid.UUID),
    descending=True,
)
REVISION_BLOCK_ORDER = Order(
    columns=(BlockRevision.position, BlockRevision.id), parsers=(parse_int, uuid.UUID)
)
NOTE_LIMIT = 500
# an author's kind -> the node type of their ID (a system revision names nobody)
AUTHOR_TYPES = {"member": "Member", "partner": "ApiKey"}


class SpaceState(enum.Enum):
    NEVER_PUBLISHED = "never_published"
    PUBLISHED = "published"
    CHANGED = "changed"
    # a publish is scheduled (store/schedules.py): what it is until the worker publishes
    SCHEDULED = "scheduled"
    UNPUBLISHED = "unpublished"
    ARCHIVED = "archived"


@dataclass(frozen=True)
class Author:
    """Who published or restored: a principal's kind and id (member, partner key), never
    a copy of their name."""

    kind: str
    id: uuid.UUID | None
    request_id: str | None = field(default=None, compare=False)


class Refused(Exception):
    """A lifecycle step that cannot be taken; `code` is SpaceErrorCode's name."""

    def __init__(self, code: str, message: str, field: str = "id") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


async def _audit(
    db: Db, author: Author, operation: str, space_id: uuid.UUID, n: int | None = None
) -> None:
    fields = [f"Space:{encode_id('Space', space_id)}"]
    if n is not None:
        fields.append(f"revision:{n}")
    entries = [{"operation": operation, "fields": fields, "subjects": []}]
    await append_entries(db, author.kind, author.id, author.request_id, entries)


PUBLISH = text(
    "SELECT outcome, revision_id, number FROM app_space_publish(:t, :s, :kind, :who, :note)"
)


async def publish(db: Db, space_id: uuid.UUID, *, author: Author, note: str = "") -> SpaceRevision:
    """Take revision n+1 of the space and its blocks and publish it; Refused if archived.
    The caller has already found the space (NOT_FOUND is its answer)."""
    if len(note) > NOTE_LIMIT:
        raise Refused("TOO_LONG", f"note may be at most {NOTE_LIMIT} characters.", "note")
    await db.flush()  # the draft as the caller left it
    row = (
        await db.execute(
            PUBLISH,
            {"t": db.tenant_id, "s": space_id, "kind": author.kind, "who": author.id, "note": note},
        )
    ).one()
    if row.outcome == "archived":
        raise Refused("INVALID_STATE", "An archived space cannot be published.")
    if row.outcome != "published":
        raise LookupError(space_id)
    await _audit(db, author, "space_publish", space_id, row.number)
    await emit(db, "space.published", space_id, ["revision"], actor=author.kind)
    revision: SpaceRevision | None = await db.scalar(
        select(SpaceRevision).where(SpaceRevision.id == row.revision_id)
    )
    assert revision is not None
    return revision


PUBLISH_MANY = text(
    "SELECT p.outcome, s.id AS space_id, p.number FROM unnest(CAST(:ids AS uuid[])) AS s(id), "
    "LATERAL app_space_publish(:t, s.id, :kind, :who, :note) AS p"
)


async def publish_many(
    db: Db, space_ids: list[uuid.UUID], *, author: Author, note: str = ""
) -> list[uuid.UUID]:
    """`publish` for many spaces in one statement (a template's personalised spaces): a
    revision each, one audit entry and one event per space; returns those published (an
    archived or unknown space is skipped)."""
    if not space_ids:
        return []
    await db.flush()
    params = {"ids": space_ids, "t": db.tenant_id, "kind": author.kind, "who": author.id}
    rows = (await db.execute(PUBLISH_MANY, {**params, "note": note})).all()
    done = [(r.space_id, r.number) for r in rows if r.outcome == "published"]
    entries = [
        {
            "operation": "space_publish",
            "fields": [f"Space:{encode_id('Space', sid)}", f"revision:{n}"],
            "subjects": [],
        }
        for sid, n in done
    ]
    if entries:
        await append_entries(db, author.kind, author.id, author.request_id, entries)
    await emit(db, "space.published", [sid for sid, _ in done], ["revision"], actor=author.kind)
    return [sid for sid, _ in done]


async def unpublish(db: Db, space: Space, *, author: Author) -> None:
    """Withdraw the published revision; it stays in the history. Refused if none is."""
    if space.published_revision_id is None or space.status != SpaceStatus.PUBLISHED.value:
        raise Refused("INVALID_STATE", "Only a published space can be unpublished.")
    number = await db.scalar(
        select(SpaceRevision.number).where(SpaceRevision.id == space.published_revision_id)
    )
    space.published_revision_id = None
    space.status = SpaceStatus.DRAFT.value
    space.published_at = None
    db.add(space)
    await db.flush()
    await _audit(db, author, "space_unpublish", space.id, number or 0)
    await emit(db, "space.unpublished", space.id, ["revision"], actor=author.kind)


async def archive(db: Db, space: Space, *, author: Author) -> None:
    """Take the space out of circulation (its published revision stays named, unread)."""
    if space.status == SpaceStatus.ARCHIVED.value:
        return
    space.status = SpaceStatus.ARCHIVED.value
    db.add(space)
    await db.flush()
    await _audit(db, author, "space_archive", space.id)
    await emit(db, "space.archived", space.id, ["status"], actor=author.kind)


async def unarchive(db: Db, space: Space, *, author: Author) -> None:
    """Bring an archived space back as a draft: nothing is shown until it is published
    again, so unarchiving never puts old content in front of visitors by itself."""
    if space.status != SpaceStatus.ARCHIVED.value:
        raise Refused("INVALID_STATE", "Only an archived space can be unarchived.")
    space.status = SpaceStatus.DRAFT.value
    space.published_revision_id = None
    space.published_at = None
    db.add(space)
    await db.flush()
    await _audit(db, author, "space_unarchive", space.id)
    await emit(db, "space.unarchived", space.id, ["status"], actor=author.kind)


RESTORE_BLOCKS = [
    # blocks the revision does not have leave the draft
    """DELETE FROM blocks b WHERE b.tenant_id = :t AND b.space_id = :s
       AND NOT EXISTS (SELECT 1 FROM block_revisions r WHERE r.tenant_id = :t
                       AND r.revision_id = :r AND r.block_id = b.id)""",
    # the others come back as they were (positions are checked at commit: deferred)
    """INSERT INTO blocks (tenant_id, id, space_id, kind, position, body, bodies,
           template_block_id, overridden, created_at, updated_at)
       SELECT r.tenant_id, r.block_id, r.space_id, r.kind, r.position, r.body, r.bodies,
           r.template_block_id, r.overridden, r.created_at, now()
       FROM block_revisions r WHERE r.tenant_id = :t AND r.revision_id = :r
       ON CONFLICT (tenant_id, id) DO UPDATE SET kind = excluded.kind,
           position = excluded.position, body = excluded.body, bodies = excluded.bodies,
           template_block_id = excluded.template_block_id, overridden = excluded.overridden,
           updated_at = now()
       WHERE (blocks.kind, blocks.position, blocks.body, blocks.bodies, blocks.overridden)
             IS DISTINCT FROM (excluded.kind, excluded.position, excluded.body, excluded.bodies,
                               excluded.overridden)""",
]


async def restore(db: Db, space: Space, revision: SpaceRevision, *, author: Author) -> None:
    """Copy a revision of this space into its draft (nothing is published)."""
    if revision.space_id != space.id:
        raise Refused(
            "REVISION_OF_OTHER_SPACE", "That revision belongs to another space.", "revision"
        )
    taken = await db.scalar(
        select(Space.id).where(Space.slug == revision.slug, Space.id != space.id)
    )
    if taken is not None:
        raise Refused(
            "DUPLICATE_SLUG",
            "Another space of this tenant now uses this revision's slug; change it first.",
            "revision",
        )
    for column in SPACE_CONTENT:
        setattr(space, column, getattr(revision, column))
    db.add(space)
    await db.flush()
    for statement in RESTORE_BLOCKS:
        await db.execute(text(statement), {"t": db.tenant_id, "s": space.id, "r": revision.id})
    await _audit(db, author, "space_restore", space.id, revision.number)
    await emit(db, "space.restored", space.id, ["revision"], actor=author.kind)


def _same_content(s: str, r: str) -> str:
    """SQL: the draft of space `s` equals revision `r`, column by column."""
    space = " AND ".join(f"{s}.{c} IS NOT DISTINCT FROM {r}.{c}" for c in SPACE_CONTENT)
    draft = ", ".join(f"b.{c}" for c in BLOCK_CONTENT)
    kept = ", ".join(f"p.{c}" for c in BLOCK_CONTENT)
    blocks = f"public.blocks b WHERE b.tenant_id = {s}.tenant_id AND b.space_id = {s}.id"
    revision = (
        f"public.block_revisions p WHERE p.tenant_id = {r}.tenant_id AND p.revision_id = {r}.id"
    )
    return (
        f"{space} AND NOT EXISTS ("
        f"(SELECT b.id, {draft} FROM {blocks} EXCEPT SELECT p.block_id, {kept} FROM {revision}) "
        f"UNION ALL "
        f"(SELECT p.block_id, {kept} FROM {revision} EXCEPT SELECT b.id, {draft} FROM {blocks}))"
    )


def state_sql(s: str) -> str:
    """SQL: the state (SpaceState's value) of the draft row `s` of `spaces`; one definition
    for both read paths (the compiled path writes it in its statement)."""
    return (
        f"CASE WHEN {s}.status = 'archived' THEN 'archived' "
        f"WHEN EXISTS (SELECT 1 FROM public.space_schedules q WHERE q.tenant_id = {s}.tenant_id "
        f"AND q.space_id = {s}.id AND q.action = 'publish' AND q.done_at IS NULL) "
        "THEN 'scheduled' "
        f"WHEN {s}.published_revision_id IS NULL THEN CASE WHEN EXISTS (SELECT 1 FROM "
        f"public.space_revisions x WHERE x.tenant_id = {s}.tenant_id AND x.space_id = {s}.id) "
        f"THEN 'unpublished' ELSE 'never_published' END "
        f"WHEN EXISTS (SELECT 1 FROM public.space_revisions r WHERE r.tenant_id = {s}.tenant_id "
        f"AND r.id = {s}.published_revision_id AND {_same_content(s, 'r')}) THEN 'published' "
        f"ELSE 'changed' END"
    )


STATES = text(
    f"SELECT s.id, {state_sql('s')} AS state FROM public.spaces s "
    "WHERE s.tenant_id = :t AND s.id = ANY(:ids)"
)


async def states(db: Db, ids: list[uuid.UUID]) -> list[SpaceState]:
    rows = (await db.execute(STATES, {"t": db.tenant_id, "ids": ids})).all()
    found = {r.id: SpaceState(r.state) for r in rows}
    return [found.get(i, SpaceState.NEVER_PUBLISHED) for i in ids]


@register("space_state_by_id")
def _space_state_by_id(db: Db) -> DataLoader[uuid.UUID, SpaceState]:
    return DataLoader(lambda ids: states(db, list(ids)))


register_by_id("space_revision_by_id", SpaceRevision)


@register("revisions_by_space_id")
def _revisions_by_space_id(db: Db) -> DataLoader[ChildPageKey, Page[SpaceRevision]]:
    return DataLoader(
        lambda keys: child_pages(db, SpaceRevision, SpaceRevision.space_id, REVISION_ORDER, keys)
    )


@register("revision_count_by_space_id")
def _revision_count_by_space_id(db: Db) -> DataLoader[uuid.UUID, int]:
    return DataLoader(lambda ids: count_by_parent(db, SpaceRevision.space_id, ids))


@register("blocks_by_revision_id")
def _blocks_by_revision_id(db: Db) -> DataLoader[ChildPageKey, Page[BlockRevision]]:
    return DataLoader(
        lambda keys: child_pages(
            db, BlockRevision, BlockRevision.revision_id, REVISION_BLOCK_ORDER, keys
        )
    )


@register("block_count_by_revision_id")
def _block_count_by_revision_id(db: Db) -> DataLoader[uuid.UUID, int]:
    return DataLoader(lambda ids: count_by_parent(db, BlockRevision.revision_id, ids))


async def in_draft(db: Db, block_id: uuid.UUID) -> bool:
    """Whether the block is in the draft (a visitor reads the published revision, where a
    block the draft removed is still shown)."""
    found = await db.scalar(
        text("SELECT EXISTS (SELECT 1 FROM public.blocks WHERE tenant_id = :t AND id = :b)"),
        {"t": db.tenant_id, "b": block_id},
    )
    return bool(found)


async def revision_by_number(db: Db, space_id: uuid.UUID, number: int) -> SpaceRevision | None:
    row: SpaceRevision | None = await db.scalar(
        select(SpaceRevision).where(
            SpaceRevision.space_id == space_id, SpaceRevision.number == number
        )
    )
    return row


# --- the diff -------------------------------------------------------------------------


@dataclass(frozen=True)
class Content:
    """A space's content at one point: a revision, or the draft."""

    space: dict[str, Any]
    blocks: dict[uuid.UUID, dict[str, Any]]


async def revision_content(db: Db, revision: SpaceRevision) -> Content:
    rows = await db.scalars(select(BlockRevision).where(BlockRevision.revision_id == revision.id))
    return Content(
        {c: getattr(revision, c) for c in SPACE_CONTENT},
        {b.id: {c: getattr(b, c) for c in BLOCK_CONTENT} for b in rows},
    )


async def draft_content(db: Db, space: Space) -> Content:
    rows = await db.scalars(select(Block).where(Block.space_id == space.id))
    return Content(
        {c: getattr(space, c) for c in SPACE_CONTENT},
        {b.id: {c: getattr(b, c) for c in BLOCK_CONTENT} for b in rows},
    )


@dataclass(frozen=True)
class BlockChange:
    block_id: uuid.UUID
    change: str  # added | removed | changed | moved
    fields: list[str]
    from_position: int | None
    to_position: int | None


def diff(old: Content, new: Content) -> tuple[list[str], list[BlockChange]]:
    """The space fields that differ, and one change per block that differs: added,
    removed, changed (a content field other than its place differs; it may also have
    moved), or moved (only its place differs)."""
    fields = [c for c in SPACE_CONTENT if old.space[c] != new.space[c]]
    changes: list[BlockChange] = []
    for block_id in sorted(
        old.blocks.keys() | new.blocks.keys(), key=lambda b: _place(b, old, new)
    ):
        a, b = old.blocks.get(block_id), new.blocks.get(block_id)
        if a is None:
            assert b is not None
            changes.append(BlockChange(block_id, "added", [], None, b["position"]))
        elif b is None:
            changes.append(BlockChange(block_id, "removed", [], a["position"], None))
        else:
            differ = [c for c in BLOCK_CONTENT if _json(a[c]) != _json(b[c])]
            if not differ:
                continue
            kind = "moved" if differ == ["position"] else "changed"
            changes.append(BlockChange(block_id, kind, differ, a["position"], b["position"]))
    return fields, changes


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _place(block_id: uuid.UUID, old: Content, new: Content) -> tuple[int, int, str]:
    b = new.blocks.get(block_id) or old.blocks[block_id]
    return (b["position"], 0 if block_id in new.blocks else 1, str(block_id))
