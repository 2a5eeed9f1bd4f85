"""Scheduled publishing: set, clear and list a space's pending publish and unpublish."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from core.ids import encode_id
from models import SpaceSchedule as SpaceScheduleModel
from models import SpaceStatus
from models.schedule import ScheduleAction as Action
from resolvers.spaces import load_space
from schema.connection import Connection, list_connection
from schema.context import Info
from schema.schedules import (
    SpaceSchedule,
    SpaceScheduleErrorCode,
    SpaceScheduleInput,
    SpaceSchedulePayload,
    SpaceScheduleUserError,
)
from schema.spaces import Space
from store.revisions import Author
from store.schedules import SCHEDULE_ORDER, pending, pending_of, set_schedule


def _error(code: SpaceScheduleErrorCode, field: str, message: str) -> SpaceScheduleUserError:
    return SpaceScheduleUserError(code=code, field=[field], message=message)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def list_space_schedules(
    info: Info,
    space_id: strawberry.ID | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Connection[SpaceSchedule]:
    """The tenant's pending schedules (of one space if given), soonest first."""
    space = (await load_space(info, space_id)).id if space_id is not None else None
    return await list_connection(
        info,
        SpaceScheduleModel,
        list(pending(space)),
        first,
        after,
        order=SCHEDULE_ORDER,
        convert=SpaceSchedule.from_model,
    )


def _wanted(
    input: SpaceScheduleInput, current: dict[str, SpaceScheduleModel], now: datetime
) -> tuple[dict[Action, datetime | None], list[SpaceScheduleUserError]]:
    """The schedule asked for, by action (given fields only), and what is wrong with it."""
    given: dict[Action, datetime | None] = {}
    errors = []
    for action, value, field in (
        (Action.PUBLISH, input.publish_at, "publishAt"),
        (Action.UNPUBLISH, input.unpublish_at, "unpublishAt"),
    ):
        if value is strawberry.UNSET:
            continue
        at = _aware(value) if value is not None else None
        if at is not None and at <= now:
            errors.append(
                _error(SpaceScheduleErrorCode.PAST_TIME, field, f"{field} must be in the future.")
            )
        given[action] = at
    after: dict[str, datetime | None] = {k: r.run_at for k, r in current.items()}
    after.update({a.value: at for a, at in given.items()})
    publish_at, unpublish_at = after.get("publish"), after.get("unpublish")
    if not errors and publish_at and unpublish_at and unpublish_at <= publish_at:
        errors.append(
            _error(
                SpaceScheduleErrorCode.INVALID_ORDER,
                "unpublishAt",
                "unpublishAt must come after publishAt.",
            )
        )
    return given, errors


async def set_space_schedule(info: Info, input: SpaceScheduleInput) -> SpaceSchedulePayload:
    """Set or clear a space's scheduled publish and unpublish."""
    ctx = info.context
    space = await load_space(info, input.space_id)
    current = await pending_of(ctx.db, space.id)
    given, errors = _wanted(input, current, datetime.now(UTC))
    if space.status == SpaceStatus.ARCHIVED.value and any(v for v in given.values()):
        errors.append(
            _error(
                SpaceScheduleErrorCode.SPACE_ARCHIVED,
                "spaceId",
                "An archived space cannot be scheduled; unarchive it first (spaceUnarchive).",
            )
        )
    if errors:
        return SpaceSchedulePayload(user_errors=errors)
    p = ctx.principal
    who = Author(p.kind, p.member_id if p.kind == "member" else p.token_id)
    for action, at in given.items():
        await set_schedule(ctx.db, space.id, action, at, who)
    if given:
        ctx.audit.record("space_schedule", None, [encode_id("Space", space.id)])
    rows = sorted((await pending_of(ctx.db, space.id)).values(), key=lambda r: r.run_at)
    return SpaceSchedulePayload(
        space=Space.from_model(space), schedules=[SpaceSchedule.from_model(r) for r in rows]
    )
