"""Usage events (recorded only with analytics consent) and per-space analytics.

Analytics apply k-anonymity: a caller without `read_individual` on `Analytics` never sees a
count that describes fewer than MIN_GROUP distinct contacts (zero included, so that even the
existence of a small group is hidden).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import strawberry
from sqlalchemy import distinct, func, select

from core.errors import BadUserInput
from models import Block as BlockModel
from models import UsageEvent
from models.consent import ConsentPurpose
from models.usage import UsageAction
from resolvers.blocks import load_block
from resolvers.contacts import load_contact
from resolvers.spaces import load_space
from schema.context import Info
from schema.usage import (
    BlockAnalytics,
    SpaceAnalytics,
    UsageErrorCode,
    UsageRecordInput,
    UsageRecordPayload,
    UsageUserError,
)
from store.consent_ledger import has_consent, lock_contact
from store.revisions import in_draft

MIN_GROUP = 5
DEFAULT_RANGE = timedelta(days=30)
MAX_RANGE = timedelta(days=366)


def _refused(code: UsageErrorCode, field: str, message: str) -> UsageRecordPayload:
    return UsageRecordPayload(
        user_errors=[UsageUserError(code=code, field=[field], message=message)]
    )


async def record_usage(info: Info, input: UsageRecordInput) -> UsageRecordPayload:
    """Record that a contact viewed a space or a block, or downloaded a file block's file,
    if analytics consent is granted."""
    contact = await load_contact(info, input.contact_id)
    space = await load_space(info, input.space_id)
    block_id: uuid.UUID | None = None
    download = input.action == UsageAction.DOWNLOAD
    if download and input.block_id is None:
        return _refused(
            UsageErrorCode.NOT_A_DOWNLOAD, "blockId", "A download names its file block."
        )
    if input.block_id is not None:
        block = await load_block(info, input.block_id)
        if download and block.kind != "file":
            return _refused(
                UsageErrorCode.NOT_A_DOWNLOAD, "blockId", "Only a file block is downloaded."
            )
        if block.space_id != space.id:
            return UsageRecordPayload(
                user_errors=[
                    UsageUserError(
                        code=UsageErrorCode.BLOCK_NOT_IN_SPACE,
                        field=["blockId"],
                        message="The block is not part of this space.",
                    )
                ]
            )
        block_id = block.id
    db = info.context.db
    # shared lock: a concurrent withdrawal of analytics consent waits, then deletes this event
    await lock_contact(db, contact.id, exclusive=False)
    if not await has_consent(db, contact.id, ConsentPurpose.ANALYTICS.value):
        if not info.context.authz.can("Consent", "read"):
            # a write-only key must not learn the consent state: the same answer as a
            # stored event, and the skip is in the audit log
            info.context.audit.record("usage_skipped_no_consent", contact.id, [])
            return UsageRecordPayload(recorded=None, accepted=True)
        return UsageRecordPayload(
            user_errors=[
                UsageUserError(
                    code=UsageErrorCode.NO_CONSENT,
                    field=["contactId"],
                    message="The contact has not granted analytics consent; nothing was stored.",
                )
            ]
        )
    narrowed = info.context.principal.kind in ("widget", "visitor")
    if block_id is not None and narrowed and not await in_draft(db, block_id):
        # a visitor viewed a published block that the draft has since removed: the view
        # counts for the space (usage rows reference the draft's blocks)
        block_id = None
    # the same facts as a view (who, which space and block, when) and what they did: nothing
    # of the file, the browser or the network
    event = UsageEvent(
        id=uuid.uuid4(),
        contact_id=contact.id,
        space_id=space.id,
        block_id=block_id,
        action=input.action.value,
    )
    db.add(event)
    await db.flush()
    await info.context.emit("usage.recorded", space.id)
    if not info.context.authz.can("Consent", "read"):
        return UsageRecordPayload(recorded=None, accepted=True)
    return UsageRecordPayload(recorded=True, accepted=True)


def _range(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    def utc(value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    end = utc(until) if until else datetime.now(UTC)
    start = utc(since) if since else end - DEFAULT_RANGE
    if start >= end:
        raise BadUserInput("`since` must be before `until`.", argument="since")
    if end - start > MAX_RANGE:
        raise BadUserInput("The range may span at most 366 days.", argument="since")
    return start, end


def _month_start(value: datetime) -> datetime:
    return value.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(start: datetime) -> datetime:
    return (start + timedelta(days=32)).replace(day=1)


def _is_bucket(start: datetime, end: datetime) -> bool:
    """One aligned bucket: a UTC day, an ISO week (from Monday), or a calendar month."""
    midnight = start == start.replace(hour=0, minute=0, second=0, microsecond=0)
    if not midnight:
        return False
    if end - start == timedelta(days=1):
        return True
    if end - start == timedelta(days=7):
        return start.weekday() == 0
    return start.day == 1 and end == _next_month(start)


def _bucket(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """The range for a caller who may not see individuals: exactly one aligned bucket.

    Free ranges could be differenced ([t0,t2) minus [t0,t1) singles out the viewers of
    [t1,t2)); buckets of one size never overlap, so their counts cannot be subtracted.
    """
    if since is None and until is None:
        start = _month_start(datetime.now(UTC))
        return start, _next_month(start)
    start, end = _range(since, until)
    if not _is_bucket(start.astimezone(UTC), end.astimezone(UTC)):
        raise BadUserInput(
            "Ask for one aligned bucket: a UTC day, an ISO week from Monday, or a calendar "
            "month (`since` at its start, `until` at its end).",
            argument="since",
        )
    return start, end


def _counts(views: int, viewers: int, individual: bool) -> tuple[int | None, int | None, bool]:
    if individual or viewers >= MIN_GROUP:
        return views, viewers, False
    return None, None, True


async def get_space_analytics(
    info: Info,
    space_id: strawberry.ID,
    since: datetime | None = None,
    until: datetime | None = None,
) -> SpaceAnalytics:
    """Views and unique viewers of a space and of each of its blocks over a time range."""
    space = await load_space(info, space_id)
    individual = info.context.authz.can("Analytics", "read_individual")
    start, end = _range(since, until) if individual else _bucket(since, until)
    db = info.context.db
    # each count describes exactly the contacts it counts: the space page's viewers, or one
    # block's viewers; there is no total over blocks that a suppressed block could be
    # subtracted from
    stmt = (
        select(
            UsageEvent.action,
            UsageEvent.block_id,
            func.count(),
            func.count(distinct(UsageEvent.contact_id)),
        )
        .where(
            UsageEvent.space_id == space.id,
            UsageEvent.occurred_at >= start,
            UsageEvent.occurred_at < end,
        )
        .group_by(UsageEvent.action, UsageEvent.block_id)
    )
    rows: Sequence[Any] = (await db.execute(stmt)).all()
    stats = {b: (n, who) for action, b, n, who in rows if action == UsageAction.VIEW.value}
    downloads = {b: (n, who) for action, b, n, who in rows if action == UsageAction.DOWNLOAD.value}
    block_ids = await db.scalars(
        select(BlockModel.id).where(BlockModel.space_id == space.id).order_by(BlockModel.position)
    )
    blocks = []
    for bid in block_ids:
        views, viewers, hidden = _counts(*stats.get(bid, (0, 0)), individual)
        # downloads describe their own group of contacts, held to the same minimum
        got, downloaders, unseen = _counts(*downloads.get(bid, (0, 0)), individual)
        blocks.append(
            BlockAnalytics(
                block_pk=bid,
                views=views,
                unique_viewers=viewers,
                suppressed=hidden,
                downloads=got,
                unique_downloaders=downloaders,
                downloads_suppressed=unseen,
            )
        )
    views, viewers, hidden = _counts(*stats.get(None, (0, 0)), individual)
    return SpaceAnalytics(
        since=start,
        until=end,
        minimum_group_size=MIN_GROUP,
        views=views,
        unique_viewers=viewers,
        suppressed=hidden,
        blocks=blocks,
    )
