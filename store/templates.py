"""Templates and personalised spaces, set-based: one statement makes every contact's space,
copies the template's blocks, shares each space and queues the invitations, however many
contacts (docs/content.md "Templates and merge fields").

`spacePersonalise` queues a job (`queue`); the worker carries it out (`carry_out`,
microspace/jobs/personalisation.py) exactly once: it claims the job with `FOR UPDATE SKIP
LOCKED` and marks it done in the transaction that makes the spaces, so another worker skips
it while it is held, and a worker that dies before its commit leaves it queued.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, text

from core.db import Db
from models import PersonalisationJob, PersonalisationJobContact, Space
from models.outbox import EmailKind
from models.personalisation import JobState
from models.space_access import AccessState
from store import plans, revisions
from store.events import emit
from store.loaders import register_by_id

register_by_id("personalisation_job_by_id", PersonalisationJob)

# $1 tenant, $2 template, $3 contacts, $4 member named by {{member.fullName}}, $5 follow,
# $6 queue invitation e-mails. A contact that already has a space from this template is
# skipped (the unique index, ON CONFLICT: a concurrent call skips it too). The slug is the
# template's and the new id's: no contact's data in it.
PERSONALISE = f"""
WITH tpl AS (
    SELECT t.id, t.title, t.slug, t.description FROM spaces t
     WHERE t.tenant_id = $1 AND t.id = $2 AND t.is_template
),
wanted AS MATERIALIZED (
    SELECT c.id AS contact_id, gen_random_uuid() AS space_id FROM contacts c
     WHERE c.tenant_id = $1 AND c.id = ANY($3::uuid[])
),
made AS (
    INSERT INTO spaces (tenant_id, id, title, slug, description, status, published_at,
                        template_id, contact_id, member_id, follows_template, synced_at)
    SELECT $1, w.space_id, tpl.title,
           left(tpl.slug, 87) || '-' || left(replace(w.space_id::text, '-', ''), 12),
           tpl.description, 'published', now(), tpl.id, w.contact_id, $4, $5, now()
      FROM wanted w CROSS JOIN tpl
    ON CONFLICT (tenant_id, template_id, contact_id)
       WHERE template_id IS NOT NULL AND contact_id IS NOT NULL DO NOTHING
    RETURNING id, contact_id
),
copied AS (
    INSERT INTO blocks (tenant_id, id, space_id, kind, position, body, bodies, template_block_id)
    SELECT $1, gen_random_uuid(), m.id, b.kind, b.position, b.body, b.bodies, b.id
      FROM made m JOIN blocks b ON b.tenant_id = $1 AND b.space_id = $2
    RETURNING 1
),
shared AS (
    INSERT INTO space_access (tenant_id, id, space_id, contact_id, state, invited_at)
    SELECT $1, gen_random_uuid(), m.id, m.contact_id, '{AccessState.INVITED.value}', now()
      FROM made m
    RETURNING id, space_id, contact_id
),
mailed AS (
    INSERT INTO outbox (tenant_id, id, kind, contact_id, space_id, payload)
    SELECT $1, gen_random_uuid(), '{EmailKind.SPACE_INVITATION.value}', s.contact_id,
           s.space_id, '{{}}'::jsonb
      FROM shared s WHERE $6
    RETURNING 1
)
SELECT (SELECT count(*) FROM wanted) AS wanted,
       coalesce((SELECT array_agg(id) FROM made), '{{}}') AS spaces,
       coalesce((SELECT array_agg(id) FROM shared), '{{}}') AS accesses,
       (SELECT count(*) FROM mailed) AS mailed,
       (SELECT count(*) FROM copied) AS blocks
"""


@dataclass(frozen=True)
class Personalised:
    spaces: list[uuid.UUID]
    accesses: list[uuid.UUID]
    mailed: int


async def personalise(
    db: Db,
    template_id: uuid.UUID,
    contact_ids: list[uuid.UUID],
    *,
    member_id: uuid.UUID | None,
    follow: bool,
    invite: bool,
) -> Personalised:
    """One personalised space per contact (skipping those that have one), in one statement."""
    values: list[Any] = [db.tenant_id, template_id, contact_ids, member_id, follow, invite]
    row = await db.fetch_row(PERSONALISE, values)
    return Personalised(list(row["spaces"]), list(row["accesses"]), int(row["mailed"]))


# The followers of template $2 take its blocks, title and description (docs/content.md
# "Following the template"), every follower at once: a copy a member changed (`overridden`) and a block a member added
# are left alone; a copy of a block the template no longer has goes; a block the template
# gained since the follower last took its blocks (`synced_at`) is added; positions follow
# the template's order, a member's own blocks after the copy at the same position.
FOLLOWERS = "f.tenant_id = $1 AND f.template_id = $2 AND f.follows_template"
SYNC = [
    f"""DELETE FROM blocks b USING spaces f
        WHERE {FOLLOWERS} AND b.tenant_id = $1 AND b.space_id = f.id
          AND b.template_block_id IS NOT NULL AND NOT b.overridden
          AND NOT EXISTS (SELECT 1 FROM blocks t WHERE t.tenant_id = $1 AND t.space_id = $2
                          AND t.id = b.template_block_id)""",
    f"""UPDATE blocks b SET kind = t.kind, body = t.body, bodies = t.bodies, updated_at = now()
         FROM spaces f, blocks t
        WHERE {FOLLOWERS} AND b.tenant_id = $1 AND b.space_id = f.id AND NOT b.overridden
          AND t.tenant_id = $1 AND t.space_id = $2 AND t.id = b.template_block_id
          AND (b.kind, b.body, b.bodies) IS DISTINCT FROM (t.kind, t.body, t.bodies)""",
    f"""INSERT INTO blocks (tenant_id, id, space_id, kind, position, body, bodies,
                            template_block_id)
        SELECT $1, gen_random_uuid(), f.id, t.kind, 1000000 + t.position, t.body, t.bodies, t.id
          FROM spaces f JOIN blocks t ON t.tenant_id = $1 AND t.space_id = $2
         WHERE {FOLLOWERS} AND t.created_at > f.synced_at
           AND NOT EXISTS (SELECT 1 FROM blocks c WHERE c.tenant_id = $1 AND c.space_id = f.id
                           AND c.template_block_id = t.id)""",
    # dense again (the position's uniqueness is checked at commit)
    f"""UPDATE blocks b SET position = o.n - 1 FROM (
            SELECT c.id, row_number() OVER (PARTITION BY c.space_id
                   ORDER BY coalesce(t.position, c.position), t.id IS NULL, c.position, c.id) AS n
              FROM spaces f JOIN blocks c ON c.tenant_id = $1 AND c.space_id = f.id
              LEFT JOIN blocks t ON t.tenant_id = $1 AND t.space_id = $2
                   AND t.id = c.template_block_id
             WHERE {FOLLOWERS}) o
        WHERE b.tenant_id = $1 AND b.id = o.id AND b.position <> o.n - 1""",
    # the title and description follow too, unless a member changed them (migration 0041)
    f"""UPDATE spaces f SET synced_at = now(),
               title = CASE WHEN f.title_overridden THEN f.title ELSE t.title END,
               description = CASE WHEN f.description_overridden THEN f.description
                                  ELSE t.description END,
               updated_at = CASE WHEN (NOT f.title_overridden AND f.title <> t.title)
                                   OR (NOT f.description_overridden
                                       AND f.description <> t.description)
                                 THEN now() ELSE f.updated_at END
          FROM spaces t
         WHERE {FOLLOWERS} AND t.tenant_id = $1 AND t.id = $2""",
]
# the followers a republish publishes again: those published now (one a member unpublished
# or archived stays so; its draft has the template's blocks all the same)
PUBLISHED_FOLLOWERS = (
    f"SELECT coalesce(array_agg(f.id), '{{}}') AS ids FROM spaces f WHERE {FOLLOWERS} "
    "AND f.status = 'published'"
)


async def sync_followers(db: Db, template_id: uuid.UUID) -> list[uuid.UUID]:
    """Give every follower of the template its blocks; the followers to publish again."""
    for statement in SYNC:
        await db.fetch_row(statement, [db.tenant_id, template_id])
    row = await db.fetch_row(PUBLISHED_FOLLOWERS, [db.tenant_id, template_id])
    return list(row["ids"])


async def republish_followers(
    db: Db, template_id: uuid.UUID, author: revisions.Author
) -> list[uuid.UUID]:
    """After the template is published: its followers take its blocks, and those published
    are published again (store/revisions.py `publish_many`: a revision, an audit entry and
    an event each), set-based however many followers."""
    await db.flush()
    followers = await sync_followers(db, template_id)
    return await revisions.publish_many(
        db, followers, author=author, note="Published with its template"
    )


# the contacts of a job, one statement however many
JOB_CONTACTS = """
INSERT INTO personalisation_job_contacts (tenant_id, id, job_id, contact_id)
SELECT $1, gen_random_uuid(), $2, c FROM unnest($3::uuid[]) AS c
"""
VOUCH = text("SELECT app_personalisation_vouch(:id)")
NOTE = "Personalised from the template"


async def queue(
    db: Db,
    template_id: uuid.UUID,
    contact_ids: list[uuid.UUID],
    *,
    author: revisions.Author,
    member_id: uuid.UUID | None,
    follow: bool,
    invite: bool,
) -> PersonalisationJob:
    """A queued job for the worker: the template, the contacts, who asked."""
    job = PersonalisationJob(
        template_id=template_id,
        requested_by=member_id,
        requested_by_kind=author.kind,
        requested_by_principal=author.id,
        requested=len(contact_ids),
        follow_template=follow,
        invite=invite,
    )
    db.add(job)
    await db.flush()
    await db.fetch_row(JOB_CONTACTS, [db.tenant_id, job.id, contact_ids])
    return job


async def carry_out(db: Db, job_id: uuid.UUID) -> str | None:
    """Claim a queued job and carry it out in this transaction: its state then, or None
    when another worker holds it or it is done."""
    claim = (
        select(PersonalisationJob)
        .where(PersonalisationJob.id == job_id, PersonalisationJob.state == JobState.QUEUED.value)
        .with_for_update(skip_locked=True)
    )
    job: PersonalisationJob | None = await db.scalar(claim)
    if job is None:
        return None
    job.state = JobState.RUNNING.value
    await db.flush()
    contacts = list(
        await db.scalars(
            select(PersonalisationJobContact.contact_id).where(
                PersonalisationJobContact.job_id == job.id
            )
        )
    )
    failure = await _refusal(db, job, len(contacts))
    if failure is None:
        made = await _make(db, job, contacts)
        job.created, job.invited = len(made.spaces), made.mailed
    job.state = JobState.FAILED.value if failure else JobState.COMPLETED.value
    job.failure = failure
    job.skipped = job.requested - job.created
    job.finished_at = datetime.now(UTC)
    # which contacts it was for is now in the spaces it made, and goes with them
    await db.execute(
        delete(PersonalisationJobContact).where(PersonalisationJobContact.job_id == job.id)
    )
    await db.flush()
    return job.state


async def _refusal(db: Db, job: PersonalisationJob, adding: int) -> str | None:
    """Why the job cannot be carried out now (checked when queued, and again here: the
    template may have changed, and queued jobs may together pass the plan), or None."""
    template = await db.scalar(select(Space.is_template).where(Space.id == job.template_id))
    if not template:
        return "not_a_template"
    if await plans.check(db, "spaces", adding) is not None:
        return "plan_limit"
    return None


async def _make(db: Db, job: PersonalisationJob, contacts: list[uuid.UUID]) -> Personalised:
    assert job.template_id is not None  # _refusal found the template
    # the audit entries of the publishes name who queued it (migration 0044)
    await db.execute(VOUCH, {"id": job.id})
    author = revisions.Author(job.requested_by_kind or "system", job.requested_by_principal)
    made = await personalise(
        db,
        job.template_id,
        contacts,
        member_id=job.requested_by,
        follow=job.follow_template,
        invite=job.invite,
    )
    # each personalised space is published as it is made: revision 1 of its copied blocks
    await revisions.publish_many(db, made.spaces, author=author, note=NOTE)
    await emit(db, "space.created", made.spaces, actor=author.kind)
    await emit(db, "access.granted", made.accesses, ["state"], actor=author.kind)
    return made
