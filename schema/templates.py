"""Templates and personalised spaces: the personalisation job, its input and payload."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, ClassVar

import strawberry

from core.ids import encode_id
from models import PersonalisationJob as JobModel
from models.personalisation import JobState
from schema.context import Info
from schema.errors import UserError
from schema.node import Node

if TYPE_CHECKING:
    from schema.spaces import Space

# the model's enum, published under its GraphQL name
strawberry.enum(JobState, name="PersonalisationJobState")


@strawberry.type(
    description="One `spacePersonalise` call, carried out by the worker: follow it by its ID "
    "(`personalisationJob`) from QUEUED to COMPLETED or FAILED."
)
class PersonalisationJob(Node):
    node_policy: ClassVar[str | None] = "Space"
    node_loader: ClassVar[str | None] = "personalisation_job_by_id"
    state: JobState
    requested: int = strawberry.field(description="Contacts named (duplicates counted once).")
    created: int = strawberry.field(description="Personalised spaces made.")
    skipped: int = strawberry.field(
        description="Contacts that already had a space from this template: left as they were."
    )
    invited: int = strawberry.field(description="Invitation e-mails queued.")
    created_at: datetime
    finished_at: datetime | None
    failure: TemplateErrorCode | None = strawberry.field(
        description="Why it FAILED, checked again when it runs: the space is no longer a "
        "template (NOT_A_TEMPLATE), or the plan's spaces would be exceeded (PLAN_LIMIT). "
        "Nothing was made."
    )
    template_pk: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, row: JobModel) -> PersonalisationJob:
        return cls(
            id=strawberry.ID(encode_id("PersonalisationJob", row.id)),
            state=JobState(row.state),
            requested=row.requested,
            created=row.created,
            skipped=row.skipped,
            invited=row.invited,
            created_at=row.created_at,
            finished_at=row.finished_at,
            failure=TemplateErrorCode(row.failure) if row.failure else None,
            template_pk=row.template_id,
        )

    @strawberry.field(description="The template; null once it is deleted.")
    async def template(
        self, info: Info
    ) -> Annotated[Space, strawberry.lazy("schema.spaces")] | None:
        from schema.spaces import Space

        if self.template_pk is None:
            return None
        row = await info.context.loaders.space_by_id.load(self.template_pk)
        return Space.from_model(row) if row else None


@strawberry.enum
class TemplateErrorCode(enum.Enum):
    REQUIRED = "required"
    TOO_MANY = "too_many"
    NOT_A_TEMPLATE = "not_a_template"
    PLAN_LIMIT = "plan_limit"


@strawberry.type(description="Why a template mutation was refused; nothing was changed.")
class TemplateUserError(UserError):
    code: TemplateErrorCode
    field: list[str] | None
    message: str


@strawberry.input(description="Make one personalised space from a template per contact.")
class SpacePersonaliseInput:
    template_id: strawberry.ID
    contact_ids: list[strawberry.ID]
    follow_template: bool = strawberry.field(
        default=True,
        description="Publishing the template republishes these spaces (blocks a member "
        "changed in a space are left alone).",
    )
    invite: bool = strawberry.field(
        default=True,
        description="Share each space with its contact and queue their invitation e-mail "
        "(sent if they may be e-mailed); false shares it without an e-mail.",
    )


@strawberry.type
class SpacePersonalisePayload:
    job: PersonalisationJob | None = None
    user_errors: list[TemplateUserError] = strawberry.field(default_factory=list)
