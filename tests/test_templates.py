"""Templates personalised for many contacts, through HTTP.

Invariants:
- one `spacePersonalise` call queues one job, which the worker carries out exactly once: one
  space per contact (a copy of the template's blocks, linked to the template and the
  contact), shared with them, their invitation queued, each published, audited as the member
  who asked, with its events; the job it answers with is followed by its ID;
- a job is checked again when it runs (the template, the plan) and fails making nothing; a
  contact erased while it waits gets nothing;
- each contact, opening their invitation link, sees their own first name and company and
  nothing of any other contact; the stored block text holds no contact's data;
- the statements it runs do not grow with the number of contacts;
- a second call skips contacts that have their space; a space that is not a template, an
  unknown or another tenant's template, contact or job is refused and nothing is made;
- erasing a contact deletes their personalised space (and its access); others stay.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import func, select, text

from core.db import owner_db, sessionmaker_for
from core.ids import encode_id
from microspace.jobs.personalisation import run_personalisations
from models import (
    Block,
    Contact,
    OutboxMessage,
    PersonalisationJob,
    PersonalisationJobContact,
    Space,
    SpaceAccess,
)
from tests.conftest import error_codes
from tests.query_count import count_statements, raw_statements
from tests.widgets import PersistedApi, open_visitor

CREATE = """mutation($input: SpaceCreateInput!) { spaceCreate(input: $input) {
  space { id isTemplate } userErrors { code } } }"""
ADD = """mutation($input: BlockAddInput!) { blockAdd(input: $input) {
  block { id } userErrors { code field offset } } }"""
PERSONALISE = """mutation($input: SpacePersonaliseInput!) { spacePersonalise(input: $input) {
  job { id state requested created skipped invited template { id } }
  userErrors { code field message } } }"""
JOB = """query($id: ID!) { personalisationJob(id: $id) {
  id state requested created skipped invited finishedAt failure } }"""
MINE = """{ spaces(first: 10) { edges { node { id title isTemplate followsTemplate
  blocks { edges { node { body content { ... on HeadingBody { text }
  ... on RichTextBody { text } } } } } } } } }"""
GREETING = "Welcome {{contact.firstName | there}}!"
BODY = "Your team at {{contact.company | your company}}: {{member.fullName | us}}."


async def work(app_engine: Any) -> int:
    """The worker's pass over queued personalisation jobs, as `microspace worker` runs it
    (as the application role): how many it carried out, of every tenant (other tests may
    leave jobs queued: assert on a job's own state, not on this count)."""
    return await run_personalisations(sessionmaker_for(app_engine))


async def personalised(owner: Any, app_engine: Any, input: dict[str, Any]) -> dict[str, Any]:
    """`spacePersonalise`, then the worker's pass: the job as `personalisationJob` reads it."""
    queued = await owner(PERSONALISE, {"input": input})
    payload = queued["data"]["spacePersonalise"]
    assert payload["userErrors"] == [] and payload["job"]["state"] == "QUEUED", queued
    await work(app_engine)
    return dict((await owner(JOB, {"id": payload["job"]["id"]}))["data"]["personalisationJob"])


async def _count(db: Any, model: Any, *where: Any) -> int:
    return int(await db.scalar(select(func.count()).select_from(model).where(*where)))


def _first(i: int) -> str:
    return f"Fn{i:03d}x"


def _company(i: int) -> str:
    return f"Co{i:03d}y"


async def _contacts(owner_url: Any, tenant_id: uuid.UUID, n: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(n)]
    async with owner_db(owner_url, tenant_id) as db:
        for i, cid in enumerate(ids):
            db.add(
                Contact(
                    id=cid,
                    email=f"p{i}-{cid.hex[:8]}@example.com",
                    full_name=f"{_first(i)} Ln{i:03d}z",
                    company=_company(i),
                )
            )
    return ids


async def _template(owner: Any, title: str = "Onboarding") -> str:
    made = await owner(CREATE, {"input": {"title": title, "isTemplate": True}})
    space = made["data"]["spaceCreate"]["space"]
    assert space["isTemplate"] is True
    for content in ({"heading": {"text": GREETING}}, {"richText": {"text": BODY}}):
        added = await owner(ADD, {"input": {"spaceId": space["id"], "content": content}})
        assert added["data"]["blockAdd"]["userErrors"] == [], added
    return str(space["id"])


async def test_a_template_personalised_for_200_contacts_in_one_call(
    api, client, app_engine, new_tenant, owner_url, settings
):
    # given a template with merge fields, and 200 contacts
    t = await new_tenant("Onboard")
    owner = api(t.token)
    template = await _template(owner)
    contacts = await _contacts(owner_url, t.tenant_id, 200)
    ids = [encode_id("Contact", c) for c in contacts]

    # when it is personalised for all of them in one call, a job the worker carries out
    result = await owner(PERSONALISE, {"input": {"templateId": template, "contactIds": ids}})
    payload = result["data"]["spacePersonalise"]
    assert payload["userErrors"] == [], result
    job = payload["job"]
    assert (job["state"], job["requested"], job["created"]) == ("QUEUED", 200, 0)
    assert job["template"]["id"] == template
    async with owner_db(owner_url, t.tenant_id) as db:
        assert await _count(db, Space, Space.template_id.is_not(None)) == 0  # not yet
    await work(app_engine)
    await work(app_engine)  # done: never again (the counts below would say so)

    # then the job made 200 spaces, shared and invited, as its ID tells
    again = (await owner(JOB, {"id": job["id"]}))["data"]["personalisationJob"]
    assert (
        again["state"],
        again["requested"],
        again["created"],
        again["skipped"],
        again["invited"],
    ) == ("COMPLETED", 200, 200, 0, 200)
    assert again["finishedAt"] and again["failure"] is None
    async with owner_db(owner_url, t.tenant_id) as db:
        spaces = {
            row.contact_id: row.id
            for row in await db.scalars(select(Space).where(Space.template_id.is_not(None)))
        }
        mails = list(await db.scalars(select(OutboxMessage)))
        stored = list(await db.scalars(select(Block.body)))
        copies = list(await db.scalars(select(Block).where(Block.template_block_id.is_not(None))))
    assert set(spaces) == set(contacts)
    assert sorted((m.contact_id, m.space_id) for m in mails) == sorted(spaces.items())
    assert {m.kind for m in mails} == {"space_invitation"}
    assert len(copies) == 400

    # the stored block text holds every merge field as written and no contact's data
    assert len(stored) == 402
    assert {b["text"] for b in stored} == {GREETING, BODY}
    for body in stored:
        assert "Fn" not in str(body) and "Co0" not in str(body) and "Co1" not in str(body)

    # each contact opening their invitation sees their own values and nobody else's
    everyone = {_first(i) for i in range(200)} | {_company(i) for i in range(200)}
    for i, contact in enumerate(contacts):
        session = await open_visitor(
            client, settings.secret(), t.tenant_id, spaces[contact], contact
        )
        visitor = PersistedApi(client, session["visitorToken"], owner)
        seen = await visitor(MINE)
        (edge,) = seen["data"]["spaces"]["edges"]
        assert edge["node"]["id"] == encode_id("Space", spaces[contact])
        texts = [e["node"]["content"]["text"] for e in edge["node"]["blocks"]["edges"]]
        assert texts == [
            f"Welcome {_first(i)}!",
            f"Your team at {_company(i)}: us.",  # the owner has no name on file
        ]
        answer = str(seen)
        assert sorted(w for w in everyone if w in answer) == sorted([_first(i), _company(i)])


async def test_the_statements_do_not_grow_with_the_contacts(
    api, app_engine, new_tenant, owner_url, monkeypatch
):
    """The call and the worker's pass alike."""
    t = await new_tenant("Counted")
    owner = api(t.token)
    template = await _template(owner)
    raw = raw_statements(monkeypatch)  # hand-written statements (Db.fetch_row)
    await work(app_engine)  # jobs other tests left queued: not counted below
    counts = []
    for n in (2, 40):
        ids = [encode_id("Contact", c) for c in await _contacts(owner_url, t.tenant_id, n)]
        before = len(raw)
        with count_statements(app_engine) as orm:
            result = await owner(
                PERSONALISE, {"input": {"templateId": template, "contactIds": ids}}
            )
            await work(app_engine)
        job = (await owner(JOB, {"id": result["data"]["spacePersonalise"]["job"]["id"]}))["data"]
        assert job["personalisationJob"]["created"] == n
        counts.append(len(orm) + len(raw) - before)
    assert counts[0] == counts[1], counts


async def test_a_second_call_skips_contacts_that_have_their_space(
    api, app_engine, new_tenant, owner_url
):
    t = await new_tenant("Twice")
    owner = api(t.token)
    template = await _template(owner)
    contacts = await _contacts(owner_url, t.tenant_id, 3)
    ids = [encode_id("Contact", c) for c in contacts]
    await personalised(owner, app_engine, {"templateId": template, "contactIds": ids[:2]})

    job = await personalised(
        owner, app_engine, {"templateId": template, "contactIds": ids, "invite": False}
    )

    assert (job["requested"], job["created"], job["skipped"], job["invited"]) == (3, 1, 2, 0)
    async with owner_db(owner_url, t.tenant_id) as db:
        assert await _count(db, Space, Space.template_id.is_not(None)) == 3
        # shared with all three, but the third got no e-mail (invite: false)
        assert await _count(db, SpaceAccess) == 3
        assert await _count(db, OutboxMessage) == 2


async def test_refusals_make_nothing(api, app_engine, new_tenant, owner_url, new_member):
    t, other = await new_tenant("Mine"), await new_tenant("Theirs")
    owner = api(t.token)
    template = await _template(owner)
    plain = (await owner(CREATE, {"input": {"title": "Plain"}}))["data"]["spaceCreate"]["space"]
    mine = [encode_id("Contact", c) for c in await _contacts(owner_url, t.tenant_id, 2)]
    theirs = [encode_id("Contact", c) for c in await _contacts(owner_url, other.tenant_id, 1)]
    foreign_template = await _template(api(other.token))

    not_template = await owner(
        PERSONALISE, {"input": {"templateId": plain["id"], "contactIds": mine}}
    )
    assert [e["code"] for e in not_template["data"]["spacePersonalise"]["userErrors"]] == [
        "NOT_A_TEMPLATE"
    ]
    empty = await owner(PERSONALISE, {"input": {"templateId": template, "contactIds": []}})
    assert [e["code"] for e in empty["data"]["spacePersonalise"]["userErrors"]] == ["REQUIRED"]
    # another tenant's contact or template answers like an unknown one
    for input in (
        {"templateId": template, "contactIds": [*mine, *theirs]},
        {"templateId": template, "contactIds": [encode_id("Contact", uuid.uuid4())]},
        {"templateId": foreign_template, "contactIds": mine},
    ):
        refused = await owner(PERSONALISE, {"input": input})
        assert error_codes(refused) == ["NOT_FOUND"], refused
    # a viewer may not create spaces; an editor may (and share them)
    viewer = api((await new_member(t.tenant_id, "viewer")).token)
    denied = await viewer(PERSONALISE, {"input": {"templateId": template, "contactIds": mine}})
    assert error_codes(denied) == ["FORBIDDEN"]
    async with owner_db(owner_url, t.tenant_id) as db:
        assert await _count(db, Space, Space.template_id.is_not(None)) == 0
        assert await _count(db, PersonalisationJob) == 0
    # a job of one tenant is not found from another
    job = (await personalised(owner, app_engine, {"templateId": template, "contactIds": mine}))[
        "id"
    ]
    assert error_codes(await api(other.token)(JOB, {"id": job})) == ["NOT_FOUND"]
    async with owner_db(owner_url, other.tenant_id) as db:
        assert await _count(db, Space, Space.template_id.is_not(None)) == 0


async def test_erasing_a_contact_deletes_their_personalised_space(
    api, app_engine, new_tenant, new_member, owner_url
):
    t = await new_tenant("Erase")
    owner = api(t.token)
    template = await _template(owner)
    ann, bob = await _contacts(owner_url, t.tenant_id, 2)
    ids = [encode_id("Contact", c) for c in (ann, bob)]
    await personalised(owner, app_engine, {"templateId": template, "contactIds": ids})
    async with owner_db(owner_url, t.tenant_id) as db:
        email = await db.scalar(select(Contact.email).where(Contact.id == ann))
    officer = api((await new_member(t.tenant_id, "privacy_officer")).token)

    filed = await officer(
        "mutation($e: String!) { subjectErasureRequest(input: {email: $e}) { request { id } } }",
        {"e": email},
    )
    rid = filed["data"]["subjectErasureRequest"]["request"]["id"]
    await officer(
        'mutation($id: ID!) { subjectRequestVerify(input: {id: $id, attestation: "seen"}) '
        "{ request { state } } }",
        {"id": rid},
    )
    done = await officer(
        "mutation($id: ID!) { subjectRequestProcess(id: $id) { request { state } } }", {"id": rid}
    )
    assert done["data"]["subjectRequestProcess"]["request"]["state"] == "COMPLETED", done

    async with owner_db(owner_url, t.tenant_id) as db:
        left = {row.contact_id for row in await db.scalars(select(Space))}
        access = {row.contact_id for row in await db.scalars(select(SpaceAccess))}
        blocks = await _count(db, Block)
    assert left == {None, bob}  # the template, and Bob's space
    assert access == {bob}
    assert blocks == 4  # the template's two and Bob's two


async def test_two_workers_carry_out_a_job_once_as_the_member_who_asked(
    api, app_engine, new_tenant, new_member, owner_url
):
    # given a job an editor queued for three contacts
    t = await new_tenant("Worked")
    editor = await new_member(t.tenant_id, "editor")
    owner = api(editor.token)
    template = await _template(owner)
    ids = [encode_id("Contact", c) for c in await _contacts(owner_url, t.tenant_id, 3)]
    queued = await owner(PERSONALISE, {"input": {"templateId": template, "contactIds": ids}})
    job = queued["data"]["spacePersonalise"]["job"]
    assert job["state"] == "QUEUED"

    # when two workers pass at once
    done = await asyncio.gather(work(app_engine), work(app_engine))

    # then one of them made the spaces (once: a second run would count them skipped),
    # published as the editor, with their events
    assert sum(done) >= 1
    again = (await owner(JOB, {"id": job["id"]}))["data"]["personalisationJob"]
    assert (again["state"], again["created"], again["skipped"]) == ("COMPLETED", 3, 0)
    async with owner_db(owner_url, t.tenant_id) as db:
        assert await _count(db, Space, Space.template_id.is_not(None)) == 3
        assert await _count(db, PersonalisationJobContact) == 0  # which contacts: gone
        audited = (
            await db.execute(
                text(
                    "SELECT operation, principal_kind, principal_id FROM audit_log "
                    "WHERE tenant_id = :t AND operation = 'space_publish'"
                ),
                {"t": t.tenant_id},
            )
        ).all()
        topics = list(
            await db.scalars(
                text("SELECT topic FROM domain_events WHERE tenant_id = :t"), {"t": t.tenant_id}
            )
        )
    assert {(a.principal_kind, a.principal_id) for a in audited} == {("member", editor.member_id)}
    assert len(audited) == 3
    for topic in ("space.created", "space.published", "access.granted"):
        assert topics.count(topic) == 3 + (topic == "space.created"), topic  # + the template


async def test_a_job_is_checked_again_when_it_runs(api, app_engine, new_tenant, owner_url):
    # given two queued jobs: one whose template is no template by the time it runs, one
    # with a contact deleted while it waited
    t = await new_tenant("Checked")
    owner = api(t.token)
    first, second = await _template(owner), await _template(owner, "Welcome")
    ann, bob = await _contacts(owner_url, t.tenant_id, 2)
    ids = [encode_id("Contact", c) for c in (ann, bob)]
    jobs = []
    for template in (first, second):
        queued = await owner(PERSONALISE, {"input": {"templateId": template, "contactIds": ids}})
        jobs.append(queued["data"]["spacePersonalise"]["job"]["id"])
    unmarked = await owner(
        "mutation($id: ID!) { spaceUpdate(input: {id: $id, isTemplate: false}) "
        "{ userErrors { code } } }",
        {"id": first},
    )
    assert unmarked["data"]["spaceUpdate"]["userErrors"] == []
    deleted = await owner(
        "mutation($id: ID!) { contactDelete(id: $id) { deletedContactId } }", {"id": ids[0]}
    )
    assert deleted["data"]["contactDelete"]["deletedContactId"] == ids[0]

    # when the worker passes
    await work(app_engine)

    # then the first failed, making nothing; the second made Bob's space only
    failed, made = [(await owner(JOB, {"id": j}))["data"]["personalisationJob"] for j in jobs]
    assert (failed["state"], failed["failure"], failed["created"]) == (
        "FAILED",
        "NOT_A_TEMPLATE",
        0,
    )
    assert (made["state"], made["requested"], made["created"], made["skipped"]) == (
        "COMPLETED",
        2,
        1,
        1,
    )
    async with owner_db(owner_url, t.tenant_id) as db:
        made_for = set(
            await db.scalars(select(Space.contact_id).where(Space.contact_id.is_not(None)))
        )
        assert await _count(db, PersonalisationJobContact) == 0
    assert made_for == {bob}
