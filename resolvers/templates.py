"""Templates: personalise a template for many contacts at once, follow the job."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from sqlalchemy import func, select

from core.errors import Forbidden, NotFound
from core.ids import decode_id
from models import Contact as ContactModel
from models import PersonalisationJob as JobModel
from models.personalisation import JobState
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
from store import plans, revisions
from store.contacts import forget_contact
from store.loaders import load_by_global_id
from store.templates import personalise

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
    job = JobModel(
        template_id=template.id, requested_by=ctx.principal.member_id, requested=len(ids)
    )
    ctx.db.add(job)
    await ctx.db.flush()
    made = await personalise(
        ctx.db,
        template.id,
        ids,
        member_id=ctx.principal.member_id,
        follow=input.follow_template,
        invite=input.invite,
    )
    # each personalised space is published as it is made: revision 1 of its copied blocks
    await revisions.publish_many(
        ctx.db, made.spaces, author=author_of(info), note="Personalised from the template"
    )
    job.state = JobState.COMPLETED.value
    job.created = len(made.spaces)
    job.skipped = len(ids) - len(made.spaces)
    job.invited = made.mailed
    job.finished_at = datetime.now(UTC)
    await ctx.db.flush()
    await ctx.db.refresh(job)
    for cid in ids:
        forget_contact(ctx.loaders, cid)
    await ctx.emit("space.created", made.spaces)
    await ctx.emit("access.granted", made.accesses, ["state"])
    return SpacePersonalisePayload(job=PersonalisationJob.from_model(job))
