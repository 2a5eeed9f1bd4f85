"""Scheduled publishing: a space's pending publish and unpublish, set or cleared by
`spaceSchedule`, listed by `spaceSchedules`; the worker carries them out."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from core.ids import encode_id
from models import SpaceSchedule as SpaceScheduleModel
from schema.errors import UserError
from schema.spaces import Space


@strawberry.enum
class ScheduleAction(enum.Enum):
    PUBLISH = "publish"
    UNPUBLISH = "unpublish"


@strawberry.type(description="A publish or unpublish of a space the worker carries out at runAt.")
class SpaceSchedule:
    id: strawberry.ID
    space_id: strawberry.ID
    action: ScheduleAction
    run_at: datetime
    created_at: datetime

    @classmethod
    def from_model(cls, row: SpaceScheduleModel) -> SpaceSchedule:
        return cls(
            id=strawberry.ID(encode_id("SpaceSchedule", row.id)),
            space_id=strawberry.ID(encode_id("Space", row.space_id)),
            action=ScheduleAction(row.action),
            run_at=row.run_at,
            created_at=row.created_at,
        )


@strawberry.enum
class SpaceScheduleErrorCode(enum.Enum):
    PAST_TIME = "past_time"
    SPACE_ARCHIVED = "space_archived"
    INVALID_ORDER = "invalid_order"


@strawberry.type(description="Why the schedule was not changed.")
class SpaceScheduleUserError(UserError):
    code: SpaceScheduleErrorCode
    field: list[str] | None
    message: str


@strawberry.input(description="Omit a field to leave it as it is; null clears it; a time sets it.")
class SpaceScheduleInput:
    space_id: strawberry.ID
    publish_at: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="When to publish the draft (in the future)."
    )
    unpublish_at: datetime | None = strawberry.field(
        default=strawberry.UNSET,
        description="When to withdraw the published revision (in the future, after publishAt).",
    )


@strawberry.type
class SpaceSchedulePayload:
    space: Space | None = None
    schedules: list[SpaceSchedule] = strawberry.field(
        default_factory=list, description="The space's pending schedules, soonest first."
    )
    user_errors: list[SpaceScheduleUserError] = strawberry.field(default_factory=list)
