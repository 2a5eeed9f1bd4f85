"""Templates: personalise a template for many contacts at once (a job the worker carries
out), follow the job."""

from __future__ import annotations

import strawberry
from sqlalchemy import func, select

from core.errors import Forbidden, NotFound
from core.ids import decode_id
from models import Contact as ContactModel
from resolvers.plans import limit_message
from resolvers.spaces import author_of, load_space
from schema.context import Info
from schema.templates import (
    PersonalisationJob,
    SpacePersonaliseInput,
    SpacePersonalisePayload,
    TemplateErrorCode,
    TemplateUserError,
)
from store import plans
from store.loaders import load_by_global_id
from store.templates import queue

MAX_CONTACTS = 1000


def _refused(
    code: TemplateErrorCode, field: list[str] | None, message: str
) -> SpacePersonalisePayload:
    return SpacePersonalisePayload(
        user_errors=[TemplateUserError(code=code, field=field, message=message)]
    )


async def get_personalisation_job(info: Info, id: strawberry.ID) -> PersonalisationJob:
    """One personalisation job of the caller's tenant."""
    row = await load_by_global_id(
        info.context.loaders.personalisation_job_by_id, id, "PersonalisationJob"
    )
    return PersonalisationJob.from_model(row)


async def personalise_template(info: Info, input: SpacePersonaliseInput) -> SpacePersonalisePayload:
    """A personalised copy of a template for each contact, shared with them: one job."""
    ctx = info.context
    if not ctx.authz.can("SpaceAccess", "create"):
        raise Forbidden("You may not create SpaceAccess.")  # each space is shared
    template = await load_space(info, input.template_id)
    if not template.is_template:
        return _refused(
            TemplateErrorCode.NOT_A_TEMPLATE,
            ["templateId"],
            "This space is not a template: mark it with `spaceUpdate(isTemplate: true)`.",
        )
    ids = list(dict.fromkeys(decode_id(i, "Contact") for i in input.contact_ids))
    if not ids:
        return _refused(TemplateErrorCode.REQUIRED, ["contactIds"], "Name at least one contact.")
    if len(ids) > MAX_CONTACTS:
        return _refused(
            TemplateErrorCode.TOO_MANY,
            ["contactIds"],
            f"At most {MAX_CONTACTS} contacts per call.",
        )
    found = await ctx.db.scalar(
        select(func.count()).select_from(ContactModel).where(ContactModel.id.in_(ids))
    )
    if found != len(ids):
        raise NotFound()  # an unknown or foreign contact ID: nothing is made
    over = await plans.check(ctx.db, "spaces", len(ids))
    if over is not None:
        return _refused(TemplateErrorCode.PLAN_LIMIT, None, limit_message(info, over))
    # the worker makes the spaces (microspace/jobs/personalisation.py); the caller follows
    # the job by its ID
    job = await queue(
        ctx.db,
        template.id,
        ids,
        author=author_of(info),
        member_id=ctx.principal.member_id,
        follow=input.follow_template,
        invite=input.invite,
    )
    await ctx.db.refresh(job)
    return SpacePersonalisePayload(job=PersonalisationJob.from_model(job))
